import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server.js'
import { forwardWithSession, planSessionCookies } from './cookie-writer.js'
import { describeError } from '../errors.js'
import {
  commonSettings,
  createRefreshEngine,
  endsLogin,
  type CommonSettings,
  type EngineResult,
  type RefreshEngine,
  type RefreshOptions,
} from '../refresh/engine.js'
import { endedLoginResponse, endedLoginSettings, type EndedLoginOptions, type EndedLoginSettings } from './ended-login.js'
import { BoundedStringMap } from '../util/bounded-map.js'
import { sha256Base64url } from '../util/digest.js'
import { createMemo, type Memo } from '../util/memo.js'
import { once, type LazyOptions } from '../util/lazy-options.js'
import {
  decodeSession,
  encodeSession,
  findSessionCookies,
  installedCodec,
  type FoundSessionCookie,
  type SessionCodec,
  type SessionCookieLocation,
  type SessionCookieOptions,
  type SessionFormat,
} from '../session/session-cookie.js'
import { sessionCacheKey } from '../session/session-codec.js'
import { readSessionTokens, withLoginEnded, withRefreshedTokens, type SessionPayload } from '../session/session-fields.js'
import { assertNever } from '../util/assert-never.js'
import type { RefreshTelemetry } from '../observe/telemetry.js'

/** Options of {@link createRefreshMiddleware}: the engine's, plus cookie naming and the sign-in redirect. */
export interface RefreshMiddlewareOptions extends RefreshOptions, EndedLoginOptions {
  /** A custom session cookie name (next-auth's `cookies.sessionToken.name`). Default: the standard next-auth / Auth.js names, `__Secure-` ones included. */
  cookieName?: string
  /** Format of a custom-named cookie. Default: whichever of the two decodes it. */
  cookieFormat?: SessionFormat
  /** Force `Secure` for a custom-named cookie. Default: on exactly for `__Secure-` and `__Host-` names. */
  secureCookie?: boolean
  /**
   * next-auth's `jwt: { encode, decode }`, if the app customised them. Default: `encode` / `decode`
   * of the installed `next-auth/jwt` (v4 in a v4 app, Auth.js's in a v5 app).
   */
  jwt?: SessionCodec
  /**
   * Called once for every request the engine ran for (a session that was due, or that an earlier
   * request of this isolate could not judge fresh), after the response is decided: what happened
   * and where a refreshed result came from. For metrics and logs; it never receives a token, and an
   * exception it throws is logged and ignored. Sessions judged fresh on the hot path are not
   * reported. Default none.
   */
  onResult?: (report: RefreshReport, request: NextRequest) => void
}

/**
 * Why a request ended as it did:
 * - `refreshed`: new tokens (this request's provider call, another request's, or the store's result).
 * - `invalid_grant`: the provider said the refresh token is dead; the login has ended.
 * - `in-doubt`: a call whose outcome nobody knows used that refresh token; by default the login ends.
 * - `passed`: nothing was due after all.
 * - `pending`: another request is refreshing; this one went on with the session as it is.
 * - `transient`: the provider could not be reached or answered with an error; tried again later.
 * - `backoff`: a recent failure of this token is resting (`retryAfterMs`).
 * - `store-unavailable`: the shared store did not answer in time; nothing was refreshed.
 * - `unknown-provider`: the session names a provider not in `providers`.
 */
export type RefreshReason =
  'refreshed' | 'invalid_grant' | 'in-doubt' | 'passed' | 'pending' | 'transient' | 'backoff' | 'store-unavailable' | 'unknown-provider'

/** Where a refresh result came from: this request's own provider call, another request of this isolate, or the shared store. */
export type RefreshSource = 'provider' | 'isolate' | 'store'

/** What {@link RefreshMiddlewareOptions.onResult} learns about one request. */
export interface RefreshReport {
  /** Why the request ended as it did. */
  reason: RefreshReason
  /** For `refreshed`, `invalid_grant` and `in-doubt`: where the result came from. */
  source?: RefreshSource
}

/** The middleware function: give it to `export const middleware` (or call it from `proxy.ts`). */
export type RefreshMiddleware = (request: NextRequest, event?: NextFetchEvent) => Promise<NextResponse>

/**
 * Fresh cookies already judged in this isolate: no decryption and no hashing on the hot path.
 * Sized so that a busy isolate's sessions fit, since a miss costs a decrypt. With the installed
 * codec the key is `sessionCacheKey` (tag and length, about 30 to 50 characters: 10,000 sessions in
 * about 1 MiB counted); a custom codec's cookies are keyed by their whole value, which the byte
 * bound (see `keyBytes`: 2 per character) keeps at about 700 Cognito-sized sessions.
 */
const JUDGED_MAX = 10_000
const JUDGED_MAX_BYTES = 8 * 1024 * 1024
/**
 * A storm brings many requests with the same cookie to one isolate at once. Decoding it and
 * encoding its successor once per isolate, rather than once per request, keeps the CPU an isolate
 * spends on a storm flat. Seconds are enough: the storm is over by then.
 */
const CODEC_MEMO_MS = 5_000
const CODEC_MEMO_MAX = 500
/** The decode memo is keyed by the raw cookie value too; bounded like the judged cache. */
const CODEC_MEMO_MAX_BYTES = 4 * 1024 * 1024

/**
 * Creates the edge middleware that keeps the access token in the next-auth session fresh.
 *
 * Per request: read the session cookie (chunked or not) → decide → single-flight refresh → write the
 * new cookie on the response and on the forwarded request. A fresh session passes with no network
 * I/O. Nothing in here turns a request into a 500: any unexpected failure passes the request on
 * untouched and is logged.
 *
 * @param options The options, or a function that returns them: it is called once, on the first
 * request, so the environment is read at run time and `next build` needs no secret.
 * @throws {RefreshConfigError} for missing or invalid options: at creation when given an object, on
 * the first request when given a function.
 */
export function createRefreshMiddleware(options: LazyOptions<RefreshMiddlewareOptions>): RefreshMiddleware {
  const handler = once(options, (resolved) => new JwtSessionRefresher(resolved))
  return function refreshMiddleware(request, event) {
    return handler().handle(request, event)
  }
}

/** The middleware's state for one isolate (its engine, caches and memos) and its steps, by name. */
class JwtSessionRefresher {
  private readonly engine: RefreshEngine
  private readonly settings: CommonSettings
  private readonly endedLogin: EndedLoginSettings
  private readonly codec: SessionCodec
  private readonly cookieOptions: SessionCookieOptions
  /**
   * The session cookie (the joined JWT, named by {@link judgedKey}) → the epoch second until which
   * it needs nothing.
   *
   * Not keyed by a digest: a hit is one Map lookup, with no SHA-256 (an async Web Crypto call,
   * about a third of what a bare getToken middleware spends) on every request. No cryptographic
   * key is needed because of what a hit can do: it only lets the request pass on untouched,
   * exactly what happens to an unreadable cookie anyway. It never yields tokens, never writes a
   * cookie and never calls the provider. An entry is made only after the value decoded with our
   * secret and was judged fresh; with the installed codec the key is the JWE's authentication tag
   * and the value's length (see `sessionCacheKey`), which another value can share only by being
   * that session or a forgery the app's own decode rejects; and even such a forgery gains nothing
   * a garbage cookie does not get. Bounded by count and by bytes, oldest out first.
   */
  private readonly judged = new BoundedStringMap<number>(JUDGED_MAX, JUDGED_MAX_BYTES)
  /**
   * Keyed by the raw value as well: exact, so one session's payload can never be handed to another
   * cookie, and no digest is computed on a miss (where it would cost as much as half a decode).
   */
  private readonly decoded: Memo<{ payload: SessionPayload; format: SessionFormat } | null>
  private readonly encoded: Memo<string>
  /**
   * Every cookie findSessionCookies can read starts with one of its names (the whole cookie or a
   * `name.N` chunk); all the standard names contain `session-token`. Handing it only those cookies
   * gives the same answer without its per-name scans over the app's other cookies.
   */
  private readonly mayBeSession: (name: string) => boolean
  private readonly unknownProvidersReported = new Set<string | undefined>()
  private readonly onResult: RefreshMiddlewareOptions['onResult']
  private readonly telemetry: RefreshTelemetry | undefined

  constructor(options: RefreshMiddlewareOptions) {
    this.engine = createRefreshEngine(options)
    this.settings = commonSettings(options)
    this.endedLogin = endedLoginSettings(options)
    this.onResult = options.onResult
    this.telemetry = options.telemetry
    this.codec = options.jwt ?? installedCodec
    this.cookieOptions = {
      secrets: this.settings.secrets,
      ...(options.cookieName ? { cookieName: options.cookieName } : {}),
      ...(options.cookieFormat ? { format: options.cookieFormat } : {}),
      ...(options.secureCookie !== undefined ? { secureCookie: options.secureCookie } : {}),
    }
    this.decoded = createMemo(CODEC_MEMO_MS, CODEC_MEMO_MAX, this.settings.now, CODEC_MEMO_MAX_BYTES)
    this.encoded = createMemo(CODEC_MEMO_MS, CODEC_MEMO_MAX, this.settings.now)
    const customName = options.cookieName
    this.mayBeSession = customName ? (name) => name.startsWith(customName) : (name) => name.includes('session-token')
  }

  /**
   * The hot path, synchronous: no session cookie, or the first one already judged fresh here. Both
   * answer what the full path would (`refresh` checks the first cookie first), minus its promise hops.
   */
  handle(request: NextRequest, event?: NextFetchEvent): Promise<NextResponse> {
    try {
      const sessionCookies = this.sessionCookiesOf(request)
      if (sessionCookies.length === 0) return Promise.resolve(NextResponse.next())
      if (this.judgedFresh(sessionCookies[0]!.jwt)) {
        this.telemetry?.fastPath('hit')
        return Promise.resolve(NextResponse.next())
      }
      this.telemetry?.fastPath('miss')
      return this.refresh(request, sessionCookies, event)
    } catch (error) {
      return Promise.resolve(this.passedOnAfter(error))
    }
  }

  private sessionCookiesOf(request: NextRequest): FoundSessionCookie[] {
    const relevant: Array<{ name: string; value: string }> = []
    for (const cookie of request.cookies.getAll()) if (this.mayBeSession(cookie.name)) relevant.push(cookie)
    return relevant.length === 0 ? [] : findSessionCookies({ getAll: () => relevant }, this.cookieOptions)
  }

  private passedOnAfter(error: unknown): NextResponse {
    this.settings.logger.error(`[edge-refresh] unexpected failure, request passed through untouched: ${describeError(error)}`)
    return NextResponse.next()
  }

  /** Whether this cookie value was judged fresh in this isolate and still is. Synchronous: the hot path. */
  private judgedFresh(jwt: string): boolean {
    const freshUntil = this.judged.get(this.judgedKey(jwt))
    return freshUntil !== undefined && this.engine.nowSeconds() < freshUntil
  }

  /**
   * The first session cookie that decodes (see findSessionCookies) decides; one already judged
   * fresh before it means nothing to do. One flat async function, failures included: on a miss,
   * every promise hop counts against a bare getToken.
   */
  private async refresh(
    request: NextRequest,
    sessionCookies: readonly FoundSessionCookie[],
    event?: NextFetchEvent,
  ): Promise<NextResponse> {
    const { engine } = this
    try {
      for (const found of sessionCookies) {
        if (this.judgedFresh(found.jwt)) return NextResponse.next()
        const read = await this.decoded.get(found.jwt, () => decodeSession(found.jwt, found.location, this.settings.secrets, this.codec))
        if (!read) continue
        const { payload } = read
        const tokens = readSessionTokens(payload, engine.nowSeconds())
        if (!tokens) return NextResponse.next()
        // A session that needs nothing (fresh, or nothing can be done) is passed on without the
        // promise hops of engine.run, which would decide the same.
        const decision = engine.decide(tokens)
        if (decision.action === 'pass') {
          if (decision.reason === 'fresh') this.judge(found.jwt, engine.freshUntil(tokens))
          return NextResponse.next()
        }
        const result = await engine.run(tokens, {
          ...(event ? { waitUntil: (promise: Promise<unknown>) => event.waitUntil(promise) } : {}),
          ...(typeof payload.exp === 'number' ? { sessionExpiresAt: payload.exp } : {}),
        })
        this.report(result, request)
        return await this.respond(request, { ...found.location, format: read.format }, found.jwt, payload, result)
      }
      return NextResponse.next()
    } catch (error) {
      return this.passedOnAfter(error)
    }
  }

  /** Hands `onResult` what happened, without a token; its failures are the app's, not the request's. */
  private report(result: EngineResult, request: NextRequest): void {
    if (!this.onResult) return
    try {
      this.onResult(
        result.reason === 'refreshed' || endsLogin(result) ? { reason: result.reason, source: result.source } : { reason: result.reason },
        request,
      )
    } catch (error) {
      this.settings.logger.error(`[edge-refresh] onResult threw: ${describeError(error)}`)
    }
  }

  /** The judged cache's key for a cookie value: short with the installed codec, the value itself with a custom one. */
  private judgedKey(jwt: string): string {
    return this.codec === installedCodec ? sessionCacheKey(jwt) : jwt
  }

  /** Records a cookie as fresh until `freshUntil` (epoch seconds). */
  private judge(jwt: string, freshUntil: number): void {
    this.judged.set(this.judgedKey(jwt), freshUntil)
    // The judged cache answers for this cookie from now on (it is checked first): its decoded
    // payload need not stay in memory for the rest of the memo's lifetime.
    this.decoded.forget(jwt)
  }

  /** Turns the engine's result into the response: new cookie, ended login, or the request as it is. */
  private async respond(
    request: NextRequest,
    location: SessionCookieLocation,
    oldJwt: string,
    payload: SessionPayload,
    result: EngineResult,
  ): Promise<NextResponse> {
    const { engine, codec } = this
    const { secrets, sessionMaxAge, logger } = this.settings
    switch (result.reason) {
      case 'refreshed': {
        const { tokens } = result
        // Same old cookie + same new tokens → the same new cookie; the access token names the tokens.
        // Digests here (off the hot path): the key then holds neither the old cookie nor the token.
        const jwt = await this.encoded.get(`${await sha256Base64url(oldJwt)}:${await sha256Base64url(tokens.access_token)}`, () =>
          encodeSession(withRefreshedTokens(payload, tokens, engine.nowSeconds()), location, secrets, sessionMaxAge, codec),
        )
        return forwardWithSession(request, planSessionCookies(request.cookies.getAll(), location, jwt, sessionMaxAge))
      }
      case 'invalid_grant':
      case 'in-doubt': {
        const jwt = await encodeSession(withLoginEnded(payload), location, secrets, sessionMaxAge, codec)
        return endedLoginResponse(request, this.endedLogin, planSessionCookies(request.cookies.getAll(), location, jwt, sessionMaxAge))
      }
      case 'unknown-provider':
        if (!this.unknownProvidersReported.has(result.provider)) {
          this.unknownProvidersReported.add(result.provider)
          logger.warn(
            `[edge-refresh] session names provider "${result.provider ?? '(none)'}", which is not in options.providers; its token cannot be refreshed (reported once per isolate)`,
          )
        }
        return NextResponse.next()
      case 'transient':
        logger.warn(`[edge-refresh] refresh failed transiently (${result.detail}); session left as it is`)
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
}
