import type { ReactNode } from 'react'

export const metadata = { title: 'Auth.js v5 on Cloudflare Workers · edge refresh example' }

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  )
}
