import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server.js'
import { forwardWithSession, planSessionCookies, redirectWithSession, withSessionCookies } from './cookie-writer'
import { describeError, RefreshConfigError } from './errors'
import { createRefreshEngine, type EngineResult, type RefreshEngineOptions } from './refresh-engine'
import { classifyRequest } from './request-kind'
import { setBounded } from './bounded-map'
import { sha256Base64url } from './digest'
import { createMemo } from './memo'
import { decodeSession, encodeSession, findSessionCookies, installedCodec, type SessionCodec, type SessionCookieLocation, type SessionFormat } from './session-cookie'
import { REFRESH_TOKEN_ERROR } from './types'
import { readSessionTokens, withLoginEnded, withRefreshedTokens, type SessionPayload } from './session-fields'

/** Options of {@link createRefreshMiddleware}: the engine's, plus cookie naming and the sign-in redirect. */
export interface RefreshMiddlewareOptions extends RefreshEngineOptions {
  /** A custom session cookie name (next-auth's `cookies.sessionToken.name`). Default: the standard next-auth / Auth.js names, `__Secure-` ones included. */
  cookieName?: string
  /** Format of a custom-named cookie. Default: whichever of the two decodes it. */
  cookieFormat?: SessionFormat
  /** Force `Secure` for a custom-named cookie. Default: on exactly for `__Secure-` and `__Host-` names. */
  secureCookie?: boolean
  /**
   * next-auth's `basePath`: where its routes live. Sets the defaults of `signInPath` and of the
   * paths `unauthorizedApi` leaves alone. Default `/api/auth` (next-auth v4, and Auth.js v5 unless
   * its config sets `basePath`, e.g. `/auth`).
   */
  basePath?: string
  /** Where a page navigation goes when the login has ended, same origin (next-auth's `pages.signIn`). Default `${basePath}/signin`. */
  signInPath?: string
  /** Answer API requests (`/api/*`, except under `basePath`) of an ended login with 401 instead of passing them on. Default false. */
  unauthorizedApi?: boolean
  /**
   * next-auth's `jwt: { encode, decode }`, if the app customised them. Default: `encode` / `decode`
   * of the installed `next-auth/jwt` (v4 in a v4 app, Auth.js's in a v5 app).
   */
  jwt?: SessionCodec
}

/** The middleware function: give it to `export const middleware` (or call it from `proxy.ts`). */
export type RefreshMiddleware = (request: NextRequest, event?: NextFetchEvent) => Promise<NextResponse>

/** Fresh cookies already judged in this isolate, by digest: no decryption on the hot path. */
const JUDGED_MAX = 2000
/**
 * A storm brings many requests with the same cookie to one isolate at once. Decoding it and
 * encoding its successor once per isolate, rather than once per request, keeps the CPU an isolate
 * spends on a storm flat. Seconds are enough: the storm is over by then.
 */
const CODEC_MEMO_MS = 5_000
const CODEC_MEMO_MAX = 500

/**
 * Creates the edge middleware that keeps the access token in the next-auth session fresh.
 *
 * Per request: read the session cookie (chunked or not) → decide → single-flight refresh → write the
 * new cookie on the response and on the forwarded request. A fresh session passes with no network
 * I/O. Nothing in here turns a request into a 500: any unexpected failure passes the request on
 * untouched and is logged.
 *
 * @throws {RefreshConfigError} at creation, for missing or invalid options.
 */
export function createRefreshMiddleware(options: RefreshMiddlewareOptions): RefreshMiddleware {
  const engine = createRefreshEngine(options)
  const basePath = sameOriginPath('basePath', options.basePath ?? '/api/auth').replace(/\/+$/, '')
  const signInPath = sameOriginPath('signInPath', options.signInPath ?? `${basePath}/signin`)
  const codec = options.jwt ?? installedCodec
  const cookieOptions = {
    secrets: engine.secrets,
    ...(options.cookieName ? { cookieName: options.cookieName } : {}),
    ...(options.cookieFormat ? { format: options.cookieFormat } : {}),
    ...(options.secureCookie !== undefined ? { secureCookie: options.secureCookie } : {}),
  }
  // digest of a cookie value → the epoch second until which it needs nothing.
  const judged = new Map<string, number>()
  const decoded = createMemo<{ payload: SessionPayload; format: SessionFormat } | null>(CODEC_MEMO_MS, CODEC_MEMO_MAX, engine.now)
  const encoded = createMemo<string>(CODEC_MEMO_MS, CODEC_MEMO_MAX, engine.now)
  const nowSeconds = () => Math.floor(engine.now() / 1000)
  const unknownProvidersReported = new Set<string | undefined>()

  /** The first session cookie that decodes (see findSessionCookies), or a verdict that it needs nothing. */
  const readSession = async (request: NextRequest) => {
    for (const found of findSessionCookies(request.cookies, cookieOptions)) {
      const digest = await sha256Base64url(found.jwt)
      const freshUntil = judged.get(digest)
      if (freshUntil !== undefined && nowSeconds() < freshUntil) return 'fresh' as const
      const read = await decoded.get(digest, () => decodeSession(found.jwt, found.location, engine.secrets, codec))
      if (read) return { digest, payload: read.payload, location: { ...found.location, format: read.format } satisfies SessionCookieLocation }
    }
    return null
  }

  const handle = async (request: NextRequest, event?: NextFetchEvent): Promise<NextResponse> => {
    const session = await readSession(request)
    if (session === null || session === 'fresh') return NextResponse.next()
    const { digest, payload, location } = session
    const tokens = readSessionTokens(payload, nowSeconds())
    if (!tokens) return NextResponse.next()

    const result = await engine.run(tokens, {
      ...(event ? { waitUntil: (promise: Promise<unknown>) => event.waitUntil(promise) } : {}),
      ...(typeof payload.exp === 'number' ? { sessionExpiresAt: payload.exp } : {}),
    })
    if (result.reason === 'passed' && result.decision.reason === 'fresh') {
      setBounded(judged, digest, tokens.expires_at - engine.skewFor(tokens), JUDGED_MAX)
    }
    return respond(request, location, digest, payload, result)
  }

  const respond = async (request: NextRequest, location: SessionCookieLocation, digest: string, payload: SessionPayload, result: EngineResult): Promise<NextResponse> => {
    switch (result.reason) {
      case 'refreshed': {
        const { tokens } = result
        // Same old cookie + same new tokens → the same new cookie; the access token names the tokens.
        const jwt = await encoded.get(`${digest}:${await sha256Base64url(tokens.access_token)}`, () =>
          encodeSession(withRefreshedTokens(payload, tokens, nowSeconds()), location, engine.secrets, engine.sessionMaxAge, codec),
        )
        return forwardWithSession(request, planSessionCookies(request.cookies.getAll(), location, jwt, engine.sessionMaxAge))
      }
      case 'invalid_grant': {
        const jwt = await encodeSession(withLoginEnded(payload), location, engine.secrets, engine.sessionMaxAge, codec)
        const write = planSessionCookies(request.cookies.getAll(), location, jwt, engine.sessionMaxAge)
        const kind = classifyRequest(request)
        if (kind === 'navigation') return redirectWithSession(signInUrl(request), write)
        if (kind === 'api' && options.unauthorizedApi && !request.nextUrl.pathname.startsWith(`${basePath}/`)) {
          return withSessionCookies(NextResponse.json({ error: REFRESH_TOKEN_ERROR }, { status: 401 }), write)
        }
        return forwardWithSession(request, write)
      }
      case 'unknown-provider':
        if (!unknownProvidersReported.has(result.provider)) {
          unknownProvidersReported.add(result.provider)
          engine.logger.warn(`[edge-refresh] session names provider "${result.provider ?? '(none)'}", which is not in options.providers; its token cannot be refreshed (reported once per isolate)`)
        }
        return NextResponse.next()
      case 'transient':
        engine.logger.warn(`[edge-refresh] refresh failed transiently (${result.detail}); session left as it is`)
        return NextResponse.next()
      case 'passed':
      case 'pending':
      case 'backoff':
      case 'store-unavailable':
        return NextResponse.next()
      default:
        return assertNever(result)
    }
  }

  const signInUrl = (request: NextRequest): URL => {
    const url = request.nextUrl.clone()
    // A path, never an absolute URL: the callback cannot leave this origin. Sending the sign-in
    // page back to itself after sign-in would strand the user there, so it goes home instead.
    // Leading slashes and backslashes collapse to one: `//evil.test` (or `/\\evil.test`, which
    // browsers read the same way) would otherwise leave the origin after sign-in.
    const here = request.nextUrl.pathname.replace(/^[\\/]+/, '/')
    const callbackUrl = here === signInPath ? '/' : `${here}${request.nextUrl.search}`
    url.pathname = signInPath
    url.search = `?callbackUrl=${encodeURIComponent(callbackUrl)}`
    return url
  }

  return async function refreshMiddleware(request, event) {
    try {
      return await handle(request, event)
    } catch (error) {
      engine.logger.error(`[edge-refresh] unexpected failure, request passed through untouched: ${describeError(error)}`)
      return NextResponse.next()
    }
  }
}

function sameOriginPath(name: string, path: string): string {
  if (!path.startsWith('/') || path.startsWith('//')) {
    throw new RefreshConfigError('CONFIG_INVALID_OPTION', `${name} must be a same-origin path starting with "/", got "${path}"`)
  }
  return path
}

function assertNever(value: never): never {
  throw new Error(`unhandled refresh result ${JSON.stringify(value)}`)
}
