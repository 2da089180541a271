/**
 * Every default of every option, in one place: the engine, single flight, the middleware, the
 * callbacks, the account refresher and the stores all read them from here. The option docs repeat
 * the values for the user's editor; this object is what the code uses.
 */
export const DEFAULTS = {
  /** The middleware refreshes this long before expiry, seconds. */
  skewSeconds: 60,
  /** `refreshCallbacks` refreshes only an expired token: the middleware refreshes earlier, and a server component cannot save what it refreshed. Seconds. */
  callbackSkewSeconds: 0,
  /** The account refresher (database sessions) refreshes this long before expiry: the row is saved wherever it runs. Seconds. */
  accountSkewSeconds: 60,
  /** next-auth's own default `session.maxAge`, seconds (30 days). */
  sessionMaxAgeSeconds: 30 * 24 * 60 * 60,
  /** How long a delivered refresh result stays in the store for late requests with the old cookie, seconds. */
  graceSeconds: 120,
  /** How long a request waits for the provider, ms. */
  providerTimeoutMs: 5_000,
  /** The longest a provider call stays open (its lease renewed meanwhile); then it is aborted and its token marked in doubt, ms. */
  providerCallLimitMs: 30_000,
  /** What an unknown outcome (a call sent, never answered) does to the login. */
  inDoubt: 'end-login',
  /** Budget of one store round trip, ms. */
  storeTimeoutMs: 1_000,
  /** Store lock lease, ms. */
  leaseMs: 10_000,
  /** The most one request spends waiting for a refresh, ms. */
  deadlineMs: 8_000,
  /** Rest after a transient failure, ms. */
  retryAfterMs: 2_000,
  /** The longest `Retry-After` honoured, seconds: a provider cannot park a session for longer. */
  maxRetryAfterSeconds: 300,
  /** What to do when the store cannot be reached. */
  storeOutage: 'keep-session',
  /** How long a dead-token mark is kept, ms. */
  deadTtlMs: 120_000,
  /** A waiter's first poll delay, ms; it grows by half each poll up to `pollMaxMs`. */
  pollStartMs: 10,
  /** Longest pause between two polls of a waiter, ms. */
  pollMaxMs: 25,
  /** How often a waiter may claim again after a lease lapsed without a result. */
  maxClaims: 3,
  /** Store retries of a leader's publish that failed, spaced by `storeTimeoutMs`, within the attempt's window. */
  publishRetries: 5,
  /** Below this many seconds of validity a request waits for the refresh instead of running it in the background. */
  minBackgroundSeconds: 10,
  /** next-auth's `basePath` (v4, and Auth.js v5 unless configured). */
  basePath: '/api/auth',
  /** Key prefix of `upstashStore` and `redisStore`. */
  storePrefix: 'edge-refresh:',
  /** Entries `memoryStore` keeps at most. */
  memoryStoreMaxEntries: 10_000,
  /** Access-token lifetime assumed when neither the provider's answer (`expires_in`, a JWT's `exp`) nor next-auth's `account` says it, seconds. */
  expiresInSeconds: 3600,
  /**
   * Budget of one OpenID discovery request, ms. Discovery is shared by every refresh of a provider,
   * so it runs under this budget of its own, never under one caller's signal.
   */
  discoveryTimeoutMs: 5_000,
} as const

/** The current time in epoch seconds, from a clock in epoch milliseconds. */
export function epochSeconds(nowMs: number): number {
  return Math.floor(nowMs / 1000)
}
