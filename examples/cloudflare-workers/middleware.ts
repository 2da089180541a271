/**
 * The refresh runs first; then Auth.js's `auth` gates the page (its `authorized` callback) on the
 * request that already carries the refreshed session cookie. On Cloudflare, OpenNext runs this
 * middleware inside the Worker, in workerd, in front of every matched request.
 */
import { createRefreshMiddleware, withRefresh } from 'next-auth-edge-refresh'
import { auth } from './auth'
import { refreshOptions } from './refresh-options'

export default withRefresh(
  // basePath as in auth.ts; a page navigation whose login has ended goes to the app's sign-in page.
  // Options as a function: read on the first request, not when `next build` loads this file.
  createRefreshMiddleware(() => ({ ...refreshOptions(), basePath: '/auth', signInPath: '/signin' })),
  auth,
)

export const config = {
  matcher: [
    // Pages, RSC requests and API routes, except Auth.js's routes and static assets…
    '/((?!auth/|_next/static|_next/image|favicon.ico).*)',
    // …but the session endpoint (useSession) is refreshed too.
    '/auth/session',
  ],
}
