import type { ReactNode } from 'react'
import { SessionWatcher } from './session-watcher'

export const metadata = { title: 'Auth.js v5 · plain gate · edge refresh example' }

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <SessionWatcher />
        {children}
      </body>
    </html>
  )
}
