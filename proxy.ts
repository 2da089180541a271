/**
 * The app's wiring of the refresh layer, as a Next 16 proxy (`proxy.ts`, which replaces the
 * deprecated `middleware.ts`). A proxy runs on Node.js only: no `config.runtime` here (Next 16
 * refuses one in this file). Built once per server process, on the first request, from the
 * validated environment (env.ts), so that `next build` needs no deployment variables.
 *
 * On Node the proxy gets a `NextFetchEvent` whose `waitUntil` Next keeps until the work settles:
 * a token inside the skew window is answered at once and refreshed after the response, as on the
 * edge (with a shared store: REDIS_URL or UPSTASH_*; the in-memory store refreshes in front).
 */
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server'
import { createRefreshMiddleware, type RefreshMiddleware, type RefreshReport } from 'next-auth-edge-refresh'
import { appEnv } from './env'
import { middlewareOptions } from './refresh-options'

let refresh: RefreshMiddleware | undefined

/** The storm panel's probe (app/api/storm/probe): its answers say what the proxy did. */
const STORM_PROBE_PATH = '/api/storm/probe'
/** What the refresh did per request, until this request's response is built (the object is the key: no leak). */
const reports = new WeakMap<NextRequest, RefreshReport>()

export async function proxy(request: NextRequest, event: NextFetchEvent) {
  // Database sessions (DATABASE_URL) keep their tokens in PostgreSQL: their cookie holds only a
  // session token, and the `session` callback refreshes them (auth.ts). The proxy passes them on.
  if (appEnv().database) return NextResponse.next()
  refresh ??= createRefreshMiddleware({ ...middlewareOptions(appEnv()), onResult: (report, reported) => reports.set(reported, report) })
  const response = await refresh(request, event)
  if (request.nextUrl.pathname === STORM_PROBE_PATH) {
    const report = reports.get(request)
    response.headers.set('x-edge-refresh', report ? `${report.reason}${report.source ? `/${report.source}` : ''}` : 'passed')
    // Where the proxy ran and what it was given to finish work after the response (tests read it).
    response.headers.set(
      'x-edge-refresh-runtime',
      `${typeof (globalThis as { EdgeRuntime?: unknown }).EdgeRuntime === 'string' ? 'edge' : 'nodejs'}; waitUntil=${typeof event?.waitUntil}`,
    )
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
