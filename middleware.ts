/**
 * The app's wiring of the edge refresh layer. Edge runtime by default: no `config.runtime` (on
 * Next 16 `runtime: 'edge'` here fails the build). Built once per isolate, on the first request,
 * from the validated environment (env.ts), so that `next build` needs no deployment variables.
 */
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server'
import { createRefreshMiddleware, type RefreshMiddleware } from 'next-auth-edge-refresh'
import { appEnv } from './env'
import { middlewareOptions } from './refresh-options'

let refresh: RefreshMiddleware | undefined

export function middleware(request: NextRequest, event: NextFetchEvent) {
  // Database sessions (DATABASE_URL) keep their tokens in PostgreSQL, which the edge cannot reach:
  // their cookie holds only a session token, and the `session` callback refreshes on Node.
  if (appEnv().database) return NextResponse.next()
  refresh ??= createRefreshMiddleware(middlewareOptions(appEnv()))
  return refresh(request, event)
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
