/**
 * The refresh runs first; then withAuth gates the page on the request that already carries the
 * refreshed session cookie. Edge runtime (no `config.runtime`).
 */
import { withAuth } from 'next-auth/middleware'
import { createRefreshMiddleware, withRefresh } from 'next-auth-edge-refresh'
import { refreshOptions, secret } from './refresh-options'

export default withRefresh(
  // A page navigation whose login has ended goes to the same sign-in page as withAuth's.
  createRefreshMiddleware({ ...refreshOptions, signInPath: '/signin' }),
  withAuth({ secret, pages: { signIn: '/signin' } }),
)

export const config = {
  matcher: [
    // Pages, RSC requests and API routes, except next-auth's routes and static assets…
    '/((?!api/auth|_next/static|_next/image|favicon.ico).*)',
    // …but the session endpoint (useSession) is refreshed too.
    '/api/auth/session',
  ],
}
