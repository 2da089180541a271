import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server.js'
import { BoundedStringMap } from '../util/bounded-map.js'
import { describeError } from '../errors.js'
import type { RefreshMiddleware } from './middleware.js'
import { endedLoginResponse, endedLoginSettings, type EndedLoginOptions } from './ended-login.js'
import { commonSettings } from '../refresh/engine.js'
import { resolveTiming } from '../refresh/timing.js'
import { withinTimeLimit } from '../util/time-limit.js'
import { epochSeconds } from '../defaults.js'
import { createAccountRefresher, type AccountRefresherOptions, type AccountRefreshResult } from '../database/account-refresher.js'
import type { DatabaseSessionAccounts } from '../database/upstash-adapter-accounts.js'
import { assertNever } from '../util/assert-never.js'
import { once, type LazyOptions } from '../util/lazy-options.js'

/** Options of {@link createDatabaseRefreshMiddleware}: the refresher's, plus cookie naming and the sign-in redirect. */
export interface DatabaseRefreshMiddlewareOptions extends AccountRefresherOptions, EndedLoginOptions {
  /** Sessions and accounts where the edge can reach them: {@link upstashAdapterAccounts}. Required. */
  accounts: DatabaseSessionAccounts
  /** A custom session cookie name (next-auth's `cookies.sessionToken.name`). Default: the standard next-auth / Auth.js names, `__Secure-` ones included. */
  cookieName?: string
}

/** The standard session cookie names; with the database strategy the cookie holds the session token itself, never chunked. */
const SESSION_COOKIE_NAMES = [
  '__Secure-authjs.session-token',
  'authjs.session-token',
  '__Secure-next-auth.session-token',
  'next-auth.session-token',
] as const
/** Session tokens already judged fresh in this isolate, with their user: no store round trip on the hot path. */
const JUDGED_MAX = 5000
const JUDGED_MAX_BYTES = 2 * 1024 * 1024

interface Judged {
  userId: string
  /** Epoch seconds until which the account needs nothing. */
  freshUntil: number
}

/**
 * Creates the edge middleware for next-auth's **database** session strategy with the Upstash Redis
 * adapter: the session cookie leads to the user's account in Upstash, whose tokens are refreshed in
 * front of the request exactly as a JWT session's are (same decision, same single flight and
 * store), and saved back to the account before the request goes on, so the route handler or page
 * behind it reads the new access token. The cookie itself never changes.
 *
 * A session judged fresh passes with no network I/O. Nothing in here turns a request into a 500:
 * any unexpected failure passes the request on untouched and is logged.
 *
 * @param options The options, or a function that returns them, called once on the first request
 * (so `next build` needs no secret).
 * @throws {RefreshConfigError} for missing or invalid options: at creation when given an object, on
 * the first request when given a function.
 */
export function createDatabaseRefreshMiddleware(options: LazyOptions<DatabaseRefreshMiddlewareOptions>): RefreshMiddleware {
  const middleware = once(options, buildDatabaseRefreshMiddleware)
  return function databaseRefreshMiddleware(request, event) {
    return middleware()(request, event)
  }
}

function buildDatabaseRefreshMiddleware(options: DatabaseRefreshMiddlewareOptions): RefreshMiddleware {
  const refresher = createAccountRefresher(options)
  const { logger, now } = commonSettings(options)
  const nowSeconds = () => epochSeconds(now())
  const accounts = options.accounts
  const endedLogin = endedLoginSettings(options)
  // The same Redis as the store's, under the same budget: a hung adapter read must not hang the request.
  const { storeTimeoutMs } = resolveTiming(options)
  const cookieNames: readonly string[] = options.cookieName ? [options.cookieName] : SESSION_COOKIE_NAMES
  const judged = new BoundedStringMap<Judged>(JUDGED_MAX, JUDGED_MAX_BYTES)
  const reported = new Set<string>()

  function sessionTokenOf(request: NextRequest): string | undefined {
    for (const name of cookieNames) {
      const value = request.cookies.get(name)?.value
      if (value) return value
    }
    return undefined
  }

  function reportOnce(key: string, message: string): void {
    if (reported.has(key)) return
    reported.add(key)
    logger.warn(`${message} (reported once per isolate)`)
  }

  function remember(sessionToken: string, userId: string, result: AccountRefreshResult): void {
    if (result.reason !== 'fresh' && result.reason !== 'refreshed') return
    const expiresAt = result.account.expires_at
    if (typeof expiresAt !== 'number') return
    judged.set(sessionToken, { userId, freshUntil: refresher.freshUntil(expiresAt) })
  }

  function respond(request: NextRequest, result: AccountRefreshResult): NextResponse {
    switch (result.reason) {
      case 'login-ended': {
        return result.justEnded ? endedLoginResponse(request, endedLogin) : NextResponse.next()
      }
      case 'kept':
        if (result.detail === 'unknown-provider')
          reportOnce(
            `provider:${result.account.provider}`,
            `[edge-refresh] account of provider "${result.account.provider}" is not in options.providers; its token cannot be refreshed`,
          )
        else if (result.detail === 'transient') logger.warn('[edge-refresh] refresh failed transiently; account left as it is')
        return NextResponse.next()
      case 'no-account':
      case 'fresh':
      case 'refreshed':
        return NextResponse.next()
      default:
        return assertNever(result)
    }
  }

  async function handle(
    request: NextRequest,
    sessionToken: string,
    known: Judged | undefined,
    event?: NextFetchEvent,
  ): Promise<NextResponse> {
    try {
      const userId = known?.userId ?? (await withinTimeLimit(accounts.userIdOfSession(sessionToken), storeTimeoutMs, 'userIdOfSession'))
      if (!userId) return NextResponse.next()
      const result = await refresher.refresh(userId, event ? { waitUntil: (promise) => event.waitUntil(promise) } : {})
      remember(sessionToken, userId, result)
      return respond(request, result)
    } catch (error) {
      logger.error(`[edge-refresh] unexpected failure, request passed through untouched: ${describeError(error)}`)
      return NextResponse.next()
    }
  }

  return function handleDatabaseSession(request, event) {
    try {
      const sessionToken = sessionTokenOf(request)
      if (!sessionToken) return Promise.resolve(NextResponse.next())
      const known = judged.get(sessionToken)
      if (known && nowSeconds() < known.freshUntil) {
        options.telemetry?.fastPath('hit')
        return Promise.resolve(NextResponse.next())
      }
      options.telemetry?.fastPath('miss')
      return handle(request, sessionToken, known, event)
    } catch (error) {
      logger.error(`[edge-refresh] unexpected failure, request passed through untouched: ${describeError(error)}`)
      return Promise.resolve(NextResponse.next())
    }
  }
}
