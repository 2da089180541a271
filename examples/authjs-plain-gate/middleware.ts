/**
 * The app's own gate is a plain function: no session cookie on a protected path, off to
 * `/login?from=<path>`. The refresh runs before it, and sends an ended login to the same page with
 * the same parameter (`signInPath`, `callbackParam`). Edge runtime (no `config.runtime`).
 */
import { NextResponse, type NextRequest } from 'next/server'
import { createRefreshMiddleware, withRefresh } from 'next-auth-edge-refresh'
import { refreshOptions } from './refresh-options'

/** Auth.js's session cookie, whole or in chunks (`.0`, `.1`, …), over http and https. */
const SESSION_COOKIE = /^(__Secure-)?authjs\.session-token(\.\d+)?$/

function gate(request: NextRequest): NextResponse | undefined {
  const { pathname, search } = request.nextUrl
  if (!pathname.startsWith('/protected')) return undefined
  if (request.cookies.getAll().some(({ name }) => SESSION_COOKIE.test(name))) return undefined
  const login = new URL('/login', request.url)
  login.searchParams.set('from', `${pathname}${search}`)
  return NextResponse.redirect(login)
}

export default withRefresh(
  // Options as a function: read on the first request, not when `next build` loads this file.
  createRefreshMiddleware(() => ({ ...refreshOptions(), signInPath: '/login', callbackParam: 'from' })),
  gate,
)

export const config = {
  matcher: [
    // Pages, RSC requests and API routes, except Auth.js's routes and static assets…
    '/((?!api/auth|_next/static|_next/image|favicon.ico).*)',
    // …but the session endpoint (useSession) is refreshed too.
    '/api/auth/session',
  ],
}
