import { NextResponse, type NextRequest } from 'next/server.js'
import { DEFAULTS } from '../defaults.js'
import { forwardWithSession, redirectWithSession, withSessionCookies, type SessionCookieWrite } from './cookie-writer.js'
import { classifyRequest } from './request-kind.js'
import { sameOriginPath, signInUrl } from './sign-in-redirect.js'
import { REFRESH_TOKEN_ERROR } from '../types.js'
import { RefreshConfigError } from '../errors.js'

/** The options that decide what a request of an ended login gets; shared by both middlewares. */
export interface EndedLoginOptions {
  /**
   * next-auth's `basePath`: where its routes live. Sets the defaults of `signInPath` and of the
   * paths `unauthorizedApi` leaves alone; its routes are never redirected. Default `/api/auth`
   * (next-auth v4, and Auth.js v5 unless its config sets `basePath`, e.g. `/auth`).
   */
  basePath?: string
  /**
   * Where a page navigation goes when the login has ended, a same-origin path. Default
   * `pages.signIn`, else `${basePath}/signin` (next-auth's own page).
   */
  signInPath?: string
  /**
   * next-auth's `pages` option, the same object the app gives next-auth: its `signIn` is the
   * default of `signInPath`. Default none.
   */
  pages?: { signIn?: string | undefined }
  /**
   * The query parameter of `signInPath` that carries the page to come back to. Default
   * `callbackUrl` (next-auth's own pages); an app whose sign-in page reads another (`from`,
   * `returnTo`) names it here, so that signing in again returns the user where they were.
   */
  callbackParam?: string
  /** Answer API requests (`/api/*`, except under `basePath`) of an ended login with 401 instead of passing them on. Default false. */
  unauthorizedApi?: boolean
}

/** {@link EndedLoginOptions} checked and defaulted once, at creation. */
export interface EndedLoginSettings {
  basePath: string
  signInPath: string
  callbackParam: string
  unauthorizedApi: boolean
}

/** @throws {RefreshConfigError} for a `basePath` or `signInPath` that is not a same-origin path. */
export function endedLoginSettings(options: EndedLoginOptions): EndedLoginSettings {
  const basePath = sameOriginPath('basePath', options.basePath ?? DEFAULTS.basePath).replace(/\/+$/, '')
  return {
    basePath,
    signInPath: sameOriginPath('signInPath', options.signInPath ?? options.pages?.signIn ?? `${basePath}/signin`),
    callbackParam: queryParameterName(options.callbackParam ?? 'callbackUrl'),
    unauthorizedApi: options.unauthorizedApi ?? false,
  }
}

/**
 * The response for a request whose login has just ended, for JWT and database sessions alike: a
 * page navigation is sent to sign in (with a same-origin `callbackUrl`), except next-auth's own
 * routes and the sign-in page itself, which must stay reachable; an API request gets 401 when
 * configured; everything else (RSC requests, prefetches, server actions, which cannot follow a
 * redirect) goes on with the ended session visible. `write`, when given, is the session cookie
 * with `error: "RefreshTokenError"`, set on whatever response this is.
 */
export function endedLoginResponse(request: NextRequest, settings: EndedLoginSettings, write?: SessionCookieWrite): NextResponse {
  const kind = classifyRequest(request)
  const path = request.nextUrl.pathname
  const ownRoute = path === settings.basePath || path.startsWith(`${settings.basePath}/`) || path === settings.signInPath
  if (kind === 'navigation' && !ownRoute) {
    const location = signInUrl(request, settings.signInPath, settings.callbackParam)
    return write ? redirectWithSession(location, write) : NextResponse.redirect(location)
  }
  if (kind === 'api' && settings.unauthorizedApi && !ownRoute) {
    const unauthorized = NextResponse.json({ error: REFRESH_TOKEN_ERROR }, { status: 401 })
    return write ? withSessionCookies(unauthorized, write) : unauthorized
  }
  return write ? forwardWithSession(request, write) : NextResponse.next()
}

/** @throws {RefreshConfigError} unless `name` is a plain query parameter name. */
function queryParameterName(name: string): string {
  if (!/^[A-Za-z0-9_.~-]+$/.test(name)) {
    throw new RefreshConfigError(
      'CONFIG_INVALID_OPTION',
      `callbackParam must be a plain query parameter name (letters, digits, _ . ~ -), got "${name}"`,
    )
  }
  return name
}
