/**
 * Edge middleware for database sessions kept by the Upstash Redis adapter: the session cookie leads
 * to the account in Upstash, whose tokens are refreshed (once across every isolate) and saved there
 * before the request reaches the page or route handler.
 */
import { createDatabaseRefreshMiddleware } from 'next-auth-edge-refresh/database'
import { refreshOptions } from './refresh-options'

// Options as a function: read on the first request, not when `next build` loads this file.
export const middleware = createDatabaseRefreshMiddleware(refreshOptions)

export const config = {
  // Pages, RSC requests, server actions and API routes, and next-auth's session endpoint; not
  // next-auth's other routes or static assets.
  matcher: ['/((?!api/auth|_next/static|_next/image|favicon.ico).*)', '/api/auth/session'],
}
