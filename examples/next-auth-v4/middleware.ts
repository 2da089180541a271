/**
 * The refresh runs first; then withAuth gates the page on the request that already carries the
 * refreshed session cookie. Edge runtime (no `config.runtime`).
 */
import { withAuth } from 'next-auth/middleware'
import { createRefreshMiddleware, withRefresh } from 'next-auth-edge-refresh'
import { refreshOptions } from './refresh-options'

export default withRefresh(
  // A page navigation whose login has ended goes to the same sign-in page as withAuth's. Options as
  // a function: read on the first request, not when `next build` loads this file.
  createRefreshMiddleware(() => ({ ...refreshOptions(), signInPath: '/signin' })),
  // withAuth reads NEXTAUTH_SECRET itself, per request.
  withAuth({ pages: { signIn: '/signin' } }),
)

export const config = {
  matcher: [
    // Pages, RSC requests and API routes, except next-auth's routes and static assets…
    '/((?!api/auth|_next/static|_next/image|favicon.ico).*)',
    // …but the session endpoint (useSession) is refreshed too.
    '/api/auth/session',
  ],
}
