import type { ReactNode } from 'react'

export const metadata = { title: 'next-auth v4 · edge refresh example' }

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  )
}
