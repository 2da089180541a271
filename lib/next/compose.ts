// `next/server.js`, not `next/server`: Next has no `exports` map, so Node's ESM loader (a
// next.config.ts or a script importing this package) needs the file name; bundlers accept both.
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server.js'
import type { RefreshMiddleware } from './middleware.js'

/**
 * The app's own middleware, run after the refresh. Fits, without casts:
 * - next-auth v4: `withAuth(...)` (from `next-auth/middleware`);
 * - Auth.js v5: `auth` itself (its `authorized` callback gates) or `auth((request) => …)`;
 * - any `(request, event) => Response | undefined` function.
 *
 * Whatever it returns (`NextResponse.next()`, a rewrite, a redirect, its own response, or
 * nothing) is kept.
 */
export type AppMiddleware =
  // Method syntax makes the parameters bivariant, so v4's `withAuth`, which declares a request
  // type of its own (`NextRequestWithAuth`, a `NextRequest` it decorates itself), fits.
  | { bivarianceHack(request: NextRequest, event: NextFetchEvent): unknown }['bivarianceHack']
  // Auth.js v5's `auth(fn)` is typed as a route handler, though it runs as middleware too.
  | ((request: NextRequest, context: { params: Promise<unknown> }) => unknown)

/** The composed middleware: give it to `export default` or `export const middleware`. */
export type ComposedMiddleware = (request: NextRequest, event: NextFetchEvent) => Promise<Response>

/** Headers by which a middleware response hands changed request headers on to the app. */
const OVERRIDE_HEADERS = 'x-middleware-override-headers'
const REQUEST_HEADER_PREFIX = 'x-middleware-request-'

/**
 * Puts the refresh in front of the app's own middleware.
 *
 * 1. The refresh runs first. If the login has ended and the request is a page navigation, its
 *    redirect to sign-in is answered at once: the app's middleware does not run.
 * 2. Otherwise the app's middleware runs on the same request, which already carries the refreshed
 *    session cookie: `withAuth`'s token and Auth.js's `req.auth` are the new ones.
 * 3. Its response gets the new session cookie (unless it set the session cookie itself, as Auth.js
 *    does from the session it just read, which is then the refreshed one) and
 *    `Cache-Control: private, no-store`; a `next()` or rewrite also forwards the new cookie to the
 *    app, so server components of this very request see it.
 *
 * @param refresh The refresh, from {@link createRefreshMiddleware}.
 * @param app The app's own middleware (see {@link AppMiddleware}).
 */
export function withRefresh(refresh: RefreshMiddleware, app: AppMiddleware): ComposedMiddleware {
  // Next calls middleware with (request, event); Auth.js's `auth(fn)`, typed as a route handler,
  // treats a Request first argument as middleware and reads the event from the second.
  const runApp = app as (request: NextRequest, event: NextFetchEvent) => unknown
  return async function refreshThenApp(request, event) {
    const refreshed = await refresh(request, event)
    // A redirect to sign-in, or the 401 of `unauthorizedApi`: the answer is final.
    if (refreshed.headers.get('x-middleware-next') !== '1') return refreshed
    const answer = await runApp(request, event)
    if (!(answer instanceof Response)) return refreshed
    return mergeRefresh(refreshed, answer)
  }
}

/** Carries the refresh's cookies and forwarded request headers over to the app's response. */
function mergeRefresh(refreshed: NextResponse, answer: Response): Response {
  const written = refreshed.cookies.getAll()
  if (written.length === 0) return answer
  // `Response.redirect()` and fetched responses have immutable headers: copy into a mutable one.
  const response = new NextResponse(answer.body, { status: answer.status, statusText: answer.statusText, headers: answer.headers })
  const ownNames = new Set(response.cookies.getAll().map((cookie) => cookie.name))
  const sessionNames = written.map((cookie) => cookie.name.replace(/\.\d+$/, ''))
  const appWroteSession = sessionNames.some((name) => [...ownNames].some((own) => own === name || own.startsWith(`${name}.`)))
  if (!appWroteSession) {
    for (const cookie of written) response.cookies.set(cookie)
  }
  response.headers.set('Cache-Control', 'private, no-store')
  const continues = response.headers.has('x-middleware-next') || response.headers.has('x-middleware-rewrite')
  if (continues && !response.headers.has(OVERRIDE_HEADERS)) {
    for (const [name, value] of refreshed.headers) {
      if (name === OVERRIDE_HEADERS || name.startsWith(REQUEST_HEADER_PREFIX)) response.headers.set(name, value)
    }
  }
  return response
}
