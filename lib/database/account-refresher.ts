import { describeError, RefreshConfigError } from '../errors.js'
import { commonSettings, createRefreshEngine, type RefreshOptions, type SettledOutcome } from '../refresh/engine.js'
import { resolveTiming } from '../refresh/timing.js'
import { withinTimeLimit } from '../util/time-limit.js'
import { DEFAULTS } from '../defaults.js'
import type { RefreshReason } from '../next/middleware.js'
import type { RefreshedTokens, SignInAccount } from '../types.js'
import { tokensOfAccount, type AccountAccess, type AccountTokenWrite, type StoredAccount } from './accounts.js'
import { signInExpiresAt } from '../session/session-fields.js'
import { assertNever } from '../util/assert-never.js'
import { once, type LazyOptions } from '../util/lazy-options.js'

/** Options of {@link createAccountRefresher}: the engine's, plus where the account rows are. */
export interface AccountRefresherOptions extends RefreshOptions {
  /** Reads and writes the account rows (see {@link AccountAccess}). Required. */
  accounts: AccountAccess
  /**
   * Refresh when `expires_at - now <= skewSeconds`, seconds. Default 60: unlike a JWT session, the
   * row is saved wherever the refresh runs, so refreshing before expiry is safe from a server
   * component too.
   */
  skewSeconds?: number
}

/**
 * What {@link AccountRefresher.refresh} did, with the reason. Every variant but `no-account`
 * carries the account as it now is, access token included.
 * - `fresh`: nothing to do.
 * - `refreshed`: new tokens, saved to the row before any other request could see them.
 * - `login-ended`: the provider no longer accepts this login; the row holds no refresh token. Show
 *   the user the sign-in again (`session.error` is `"RefreshTokenError"`). `justEnded` is true on
 *   the call that learnt it from the provider (or from the request that did), false later.
 * - `kept`: the refresh could not happen now (`detail` says why); the row is unchanged.
 */
export type AccountRefreshResult =
  | { reason: 'no-account' }
  | { reason: 'fresh' | 'refreshed'; account: StoredAccount }
  | { reason: 'login-ended'; account: StoredAccount; justEnded: boolean }
  | { reason: 'kept'; account: StoredAccount; detail: AccountKeptDetail }

/** Why an account was left as it is: the engine's reason, or `no-expiry` for a row without an access token or `expires_at`. */
export type AccountKeptDetail = Exclude<RefreshReason, 'passed' | 'refreshed' | 'invalid_grant' | 'in-doubt'> | 'no-expiry'

/** Per-call options of {@link AccountRefresher.refresh}. */
export interface AccountRefreshOptions {
  /** next-auth provider id of the account. Default: the one provider in `providers`, or the row `getAccount` returns first. */
  provider?: string
  /** `event.waitUntil` where there is one (the middleware): a token inside the skew window is then refreshed in the background. */
  waitUntil?: (promise: Promise<unknown>) => void
}

/** Refreshes the provider tokens of database sessions, one provider call per refresh token. */
export interface AccountRefresher {
  /**
   * Brings the user's account tokens up to date: reads the row, decides, refreshes through the
   * single flight and the store (so every process and isolate sharing the store makes one
   * provider call per refresh token), and saves the rotated tokens to the row before publishing
   * them. Never throws for provider or store trouble (see {@link AccountRefreshResult}); errors of
   * `getAccount` propagate.
   */
  refresh(userId: string, options?: AccountRefreshOptions): Promise<AccountRefreshResult>
  /**
   * Saves the tokens of a new sign-in to the account row. next-auth creates the row at the first
   * sign-in only: signing in again (after a login ended, say) leaves the old, dead tokens in it.
   * Wired by {@link databaseSignInEvents} into next-auth's `events.signIn`.
   */
  saveSignIn(userId: string, account: SignInAccount & { providerAccountId: string }): Promise<boolean>
  /** Until when an account whose access token expires at `expiresAt` (epoch seconds) needs nothing, epoch seconds. */
  freshUntil(expiresAt: number): number
}

/**
 * Creates the refresher for next-auth's database session strategy (any adapter, Node or edge).
 * Call it from the `session` callback ({@link databaseSessionCallbacks}), route handlers and
 * server actions before they use the access token.
 *
 * @param options The options, or a function that returns them, called once on first use (so
 * `next build` needs no secret).
 * @throws {RefreshConfigError} for missing or invalid options: at creation when given an object, on
 * first use when given a function.
 */
export function createAccountRefresher(options: LazyOptions<AccountRefresherOptions>): AccountRefresher {
  const refresher = once(options, buildAccountRefresher)
  return {
    refresh: (userId, callOptions) => refresher().refresh(userId, callOptions),
    saveSignIn: (userId, account) => refresher().saveSignIn(userId, account),
    freshUntil: (expiresAt) => refresher().freshUntil(expiresAt),
  }
}

function buildAccountRefresher(options: AccountRefresherOptions): AccountRefresher {
  const accounts = options.accounts
  if (typeof accounts?.getAccount !== 'function' || typeof accounts.saveAccount !== 'function') {
    throw new RefreshConfigError(
      'CONFIG_INVALID_OPTION',
      "accounts is required: an object with getAccount(userId, provider) and saveAccount(write) over the adapter's account table",
    )
  }
  // The leader saves under the same lock as its provider call; the lease is renewed while it does,
  // so the timing rules are the engine's own (see resolveTiming).
  const engine = createRefreshEngine({ ...options, skewSeconds: options.skewSeconds ?? DEFAULTS.accountSkewSeconds })
  const { logger } = commonSettings(options)
  // The account read goes to the same kind of store as single flight's: the same budget applies.
  const { storeTimeoutMs } = resolveTiming(options)

  /** The leader's save: the rotated tokens, or the dead refresh token dropped, compare-and-set on the one it presented. */
  async function saveOutcome(account: StoredAccount, outcome: SettledOutcome, presented: string): Promise<boolean> {
    return accounts.saveAccount(writeFor(account, outcome, presented))
  }

  /**
   * A request that received another's result saves it only when that leader could not (`unsaved`),
   * or when the login ended: both are rare, and the compare-and-set makes a second save a no-op.
   */
  async function adopt(account: StoredAccount, outcome: SettledOutcome, previous: string): Promise<void> {
    try {
      await accounts.saveAccount(writeFor(account, outcome, previous))
    } catch (error) {
      logger.error(`[edge-refresh] could not save another request's refresh result to the account row: ${describeError(error)}`)
    }
  }

  async function refresh(userId: string, callOptions: AccountRefreshOptions = {}): Promise<AccountRefreshResult> {
    const account = await withinTimeLimit(accounts.getAccount(userId, callOptions.provider), storeTimeoutMs, 'getAccount')
    if (!account) return { reason: 'no-account' }
    const tokens = tokensOfAccount(account)
    if (!tokens) return { reason: 'kept', account, detail: 'no-expiry' }
    // A row without a refresh token whose access token has expired can never be refreshed again:
    // that is how an ended login looks once its dead refresh token was dropped.
    if (!tokens.refresh_token)
      return tokens.expires_at <= engine.nowSeconds() ? { reason: 'login-ended', account, justEnded: false } : { reason: 'fresh', account }
    const previous = tokens.refresh_token
    const result = await engine.run(tokens, {
      persist: (outcome, presented) => saveOutcome(account, outcome, presented),
      ...(callOptions.waitUntil ? { waitUntil: callOptions.waitUntil } : {}),
    })
    switch (result.reason) {
      case 'passed':
        return { reason: 'fresh', account }
      case 'refreshed':
        if (result.source !== 'provider' && result.unsaved) await adopt(account, { reason: 'refreshed', tokens: result.tokens }, previous)
        return { reason: 'refreshed', account: withTokens(account, result.tokens) }
      case 'invalid_grant':
      case 'in-doubt':
        // An in-doubt refresh token is never presented again: the row drops it like a dead one.
        if (result.source !== 'provider' || result.reason === 'in-doubt') await adopt(account, { reason: 'invalid_grant' }, previous)
        return { reason: 'login-ended', account: { ...account, refresh_token: null }, justEnded: true }
      case 'unknown-provider':
      case 'transient':
      case 'pending':
      case 'backoff':
      case 'store-unavailable':
        return { reason: 'kept', account, detail: result.reason }
      default:
        return assertNever(result)
    }
  }

  async function saveSignIn(userId: string, account: SignInAccount & { providerAccountId: string }): Promise<boolean> {
    if (!account.access_token) return false
    return accounts.saveAccount({
      userId,
      provider: account.provider,
      providerAccountId: account.providerAccountId,
      access_token: account.access_token,
      expires_at: signInExpiresAt(account, engine.nowSeconds()),
      refresh_token: account.refresh_token ?? null,
      id_token: account.id_token ?? null,
    })
  }

  return { refresh, saveSignIn, freshUntil: (expiresAt) => engine.freshUntil({ expires_at: expiresAt }) }
}

function writeFor(account: StoredAccount, outcome: SettledOutcome, previousRefreshToken: string): AccountTokenWrite {
  const identity = {
    userId: account.userId,
    provider: account.provider,
    providerAccountId: account.providerAccountId,
    previousRefreshToken,
  }
  if (outcome.reason === 'invalid_grant') {
    return { ...identity, access_token: account.access_token ?? null, expires_at: account.expires_at ?? null, refresh_token: null }
  }
  const { tokens } = outcome
  return {
    ...identity,
    access_token: tokens.access_token,
    expires_at: tokens.expires_at,
    refresh_token: tokens.refresh_token,
    id_token: tokens.id_token ?? account.id_token ?? null,
  }
}

function withTokens(account: StoredAccount, tokens: RefreshedTokens): StoredAccount {
  return {
    ...account,
    access_token: tokens.access_token,
    expires_at: tokens.expires_at,
    refresh_token: tokens.refresh_token,
    id_token: tokens.id_token ?? account.id_token ?? null,
  }
}
