import type { Metadata } from 'next'
import type { ReactNode } from 'react'
import Link from 'next/link'
import { getServerSession } from 'next-auth'
import { getAuthOptions } from '@/auth'
import { SignOutButton } from './_components/auth-buttons'
import { Providers } from './_components/providers'
import './globals.css'

// Every page depends on the session cookie; none may be prerendered at build time (when the
// deployment's variables may be absent, see env.ts).
export const dynamic = 'force-dynamic'

export const metadata: Metadata = {
  title: 'next-auth edge refresh demo',
  description: 'An access token kept fresh by edge middleware, one refresh per refresh token.',
}

export default async function RootLayout({ children }: { children: ReactNode }) {
  const session = await getServerSession(getAuthOptions())
  return (
    <html lang="en">
      <body>
        <Providers session={session}>
          <header className="site-header">
            <Link href="/" className="brand">
              edge&nbsp;refresh
            </Link>
            <span className="muted">next-auth v4 · access token refreshed in middleware</span>
            {session ? (
              <span className="who">
                <span data-testid="header-user">{session.user?.name ?? session.user?.email ?? 'signed in'}</span>
                <SignOutButton />
              </span>
            ) : null}
          </header>
          <main className="container">{children}</main>
        </Providers>
      </body>
    </html>
  )
}
