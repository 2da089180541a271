/**
 * The app's wiring of the edge refresh layer. Edge runtime by default: no `config.runtime` (on
 * Next 16 `runtime: 'edge'` here fails the build). Built once per isolate, on the first request,
 * from the validated environment (env.ts), so that `next build` needs no deployment variables.
 */
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server'
import { createRefreshMiddleware, type RefreshMiddleware, type RefreshReport } from 'next-auth-edge-refresh'
import { appEnv } from './env'
import { middlewareOptions } from './refresh-options'

let refresh: RefreshMiddleware | undefined

/** The storm panel's probe (app/api/storm/probe): its answers say what the middleware did. */
const STORM_PROBE_PATH = '/api/storm/probe'
/** What the refresh did per request, until this request's response is built (the object is the key: no leak). */
const reports = new WeakMap<NextRequest, RefreshReport>()

export async function middleware(request: NextRequest, event: NextFetchEvent) {
  // Database sessions (DATABASE_URL) keep their tokens in PostgreSQL, which the edge cannot reach:
  // their cookie holds only a session token, and the `session` callback refreshes on Node.
  if (appEnv().database) return NextResponse.next()
  refresh ??= createRefreshMiddleware({ ...middlewareOptions(appEnv()), onResult: (report, reported) => reports.set(reported, report) })
  const response = await refresh(request, event)
  if (request.nextUrl.pathname === STORM_PROBE_PATH) {
    const report = reports.get(request)
    response.headers.set('x-edge-refresh', report ? `${report.reason}${report.source ? `/${report.source}` : ''}` : 'passed')
  }
  return response
}

export const config = {
  matcher: [
    // Every page, RSC request, prefetch, server action and API route, except next-auth's own
    // routes and static assets.
    '/((?!api/auth|_next/static|_next/image|favicon.ico).*)',
    // …but next-auth's session endpoint (what useSession() polls) does pass: refreshed here, the
    // jwt callback behind it never has to refresh on its own (see the skew note in auth.ts).
    '/api/auth/session',
  ],
}
