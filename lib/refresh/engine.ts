import { decideRefresh, effectiveSkewSeconds, type RefreshDecision } from './decision'
import { describeError, RefreshConfigError } from '../errors'
import type { ProviderContext, RefreshProvider, RefreshSession } from '../providers/provider'
import { createSealer } from './sealing'
import { DEFAULTS, epochSeconds } from '../defaults'
import {
  createSingleFlight,
  providerHardLimitMs,
  type FlightResult,
  type LeaderOutcome,
  type ProviderCall,
  type StoreOutagePolicy,
} from './single-flight'
import { memoryStore } from '../stores/memory-store'
import type { RefreshStore } from '../stores/store'
import type { FetchLike, Logger, RefreshOutcome, RefreshedTokens, SessionTokens } from '../types'

/** Options shared by the middleware and the next-auth callbacks. Durations say their unit. */
export interface RefreshEngineOptions {
  /** next-auth's secret (`NEXTAUTH_SECRET` / `AUTH_SECRET`); an array for rotation, newest first. Required. */
  secret: string | readonly string[]
  /** Providers keyed by next-auth provider id (the `provider` stored in the token). Required, at least one. */
  providers: Record<string, RefreshProvider>
  /** Where concurrent refreshes meet. Default `memoryStore()` (one isolate/process only). */
  store?: RefreshStore
  /**
   * Refresh when `expires_at - now <= skewSeconds`, seconds. Default 60 in the middleware, 0 in
   * `refreshCallbacks`. A token whose lifetime is known and at or below this is refreshed at half
   * its lifetime instead, with a warning once per isolate.
   */
  skewSeconds?: number
  /** next-auth's `session.maxAge`, seconds. Default 2 592 000 (30 days). */
  sessionMaxAge?: number
  /** How long a refresh result stays in the store for requests that still carry the old cookie, seconds. Default 120. */
  graceSeconds?: number
  /**
   * How long a request waits for the provider (discovery and token request together), ms. A call
   * still running then is not abandoned: it goes on in `waitUntil`, holding the lock, and its
   * result is published when it lands, until `leaseMs − storeTimeoutMs − 500` at most. Default 5 000.
   */
  providerTimeoutMs?: number
  /** Budget for one store round trip; a store slower than this counts as unavailable (see `storeOutage`), ms. Default 1 000. */
  storeTimeoutMs?: number
  /** Store lock lease, ms; must exceed `providerTimeoutMs + 2 × storeTimeoutMs + 500`. Default 10 000. */
  leaseMs?: number
  /** The most one request spends waiting for a refresh (its own or another's), ms. Default 8 000. */
  deadlineMs?: number
  /**
   * When the store cannot be reached: `keep-session` (default) refreshes nothing, neither early nor
   * expired tokens, so no refresh token is ever presented twice, and requests go on with the
   * session as it is until the store answers again; `refresh-in-isolate` refreshes with in-isolate
   * single flight only, for providers that accept a reused refresh token within a grace period
   * (Okta, Auth0 with leeway, Cognito's `RetryGracePeriodSeconds`).
   */
  storeOutage?: StoreOutagePolicy
  /** Pause after a transient failure before that token is tried again, ms; a longer `Retry-After` (up to 300 s) wins. Default 2 000. */
  retryAfterMs?: number
  /** Injectable `fetch`. Default the global `fetch`. */
  fetch?: FetchLike
  /** Injectable clock, epoch ms. Default `Date.now`. */
  now?: () => number
  /** Default `console`. */
  logger?: Logger
}

/** What the engine did for one session, with the reason. */
export type EngineResult =
  { reason: 'passed'; decision: RefreshDecision } | { reason: 'unknown-provider'; provider: string | undefined } | FlightResult

/** How a caller wants the refresh run. */
export interface RunOptions {
  /** Present when the caller can keep work alive after responding (`event.waitUntil`): enables background refresh. */
  waitUntil?: (promise: Promise<unknown>) => void
  /** Expiry of the session cookie that carried these tokens, epoch seconds (the JWT's `exp`). */
  sessionExpiresAt?: number
  /**
   * Whether the caller will put the refreshed tokens into the browser's cookie itself. Default
   * true (the middleware's foreground path). A caller that may not (a background refresh, the `jwt`
   * callback inside a server component) passes false: the browser keeps the old cookie, so the
   * result must outlive it in the store.
   */
  deliversCookie?: boolean
  /**
   * Saves what the provider answered before anyone else sees it: runs in the single-flight leader
   * after the provider's answer (`refreshed` or `invalid_grant`) and before the result is
   * published, within `storeTimeoutMs`. A database session saves the rotated tokens to its account
   * row here, so the row never lags behind the provider. Resolve `true` once saved; `false`, a
   * throw or a timeout keep the result in the store for `sessionMaxAge` instead of
   * `graceSeconds`, so a request that still reads the old refresh token from the row finds the
   * new tokens there rather than presenting the old one again. The provider call's own hard limit
   * shrinks by `storeTimeoutMs` to make room for this within the lock's lease.
   */
  persist?: (outcome: SettledOutcome, presentedRefreshToken: string) => Promise<boolean>
}

/** A provider answer that is final for its refresh token: new tokens, or a dead token. */
export type SettledOutcome = Exclude<RefreshOutcome, { reason: 'transient' }>

/** Decision + single flight + provider, without any cookie I/O. Used by the middleware and the callbacks. */
export interface RefreshEngine {
  readonly skewSeconds: number
  /** The skew that applies to these tokens (see `effectiveSkewSeconds`), seconds. */
  skewFor(tokens: SessionTokens): number
  readonly sessionMaxAge: number
  readonly secrets: readonly string[]
  readonly logger: Logger
  readonly now: () => number
  /** The engine's clock in epoch seconds: what every `expires_at` is compared with. */
  nowSeconds(): number
  run(tokens: SessionTokens, options?: RunOptions): Promise<EngineResult>
}

/** A stale cookie may find a result that has since expired too; follow the chain this far at most. */
const MAX_HOPS = 3

/**
 * Creates the refresh engine. Throws {@link RefreshConfigError} for misuse, with what to change.
 */
export function createRefreshEngine(options: RefreshEngineOptions): RefreshEngine {
  const secrets = normalizeSecrets(options.secret)
  const providers = validateProviders(options.providers)
  const skewSeconds = nonNegative('skewSeconds', options.skewSeconds, DEFAULTS.skewSeconds)
  const sessionMaxAge = positive('sessionMaxAge', options.sessionMaxAge, DEFAULTS.sessionMaxAgeSeconds)
  const graceSeconds = positive('graceSeconds', options.graceSeconds, DEFAULTS.graceSeconds)
  const providerTimeoutMs = positive('providerTimeoutMs', options.providerTimeoutMs, DEFAULTS.providerTimeoutMs)
  const storeTimeoutMs = positive('storeTimeoutMs', options.storeTimeoutMs, DEFAULTS.storeTimeoutMs)
  const leaseMs = positive('leaseMs', options.leaseMs, DEFAULTS.leaseMs)
  const deadlineMs = positive('deadlineMs', options.deadlineMs, DEFAULTS.deadlineMs)
  // The lock must outlive everything its leader does while holding it: the claim, the provider
  // call (discovery included, one budget) and the publish. Otherwise a second leader could present
  // the same refresh token while the first call is still out.
  const hardLimitMs = providerHardLimitMs(leaseMs, storeTimeoutMs)
  if (hardLimitMs <= providerTimeoutMs) {
    throw new RefreshConfigError(
      'CONFIG_INVALID_OPTION',
      `leaseMs (${leaseMs}) must exceed providerTimeoutMs + 2 × storeTimeoutMs + 500 (${providerTimeoutMs + 2 * storeTimeoutMs + 500}), or a slow provider call would outlive its lock`,
    )
  }
  if (deadlineMs < providerTimeoutMs + storeTimeoutMs) {
    throw new RefreshConfigError(
      'CONFIG_INVALID_OPTION',
      `deadlineMs (${deadlineMs}) must be at least providerTimeoutMs + storeTimeoutMs (${providerTimeoutMs + storeTimeoutMs})`,
    )
  }
  const storeOutage = options.storeOutage ?? DEFAULTS.storeOutage
  if (storeOutage !== 'keep-session' && storeOutage !== 'refresh-in-isolate') {
    throw new RefreshConfigError(
      'CONFIG_INVALID_OPTION',
      `storeOutage must be "keep-session" or "refresh-in-isolate", got ${String(storeOutage)}`,
    )
  }
  const logger = options.logger ?? console
  const now = options.now ?? Date.now
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init))
  const store = options.store ?? memoryStore({ now })
  const flight = createSingleFlight({
    store,
    sealer: createSealer(secrets),
    leaseMs,
    storeTimeoutMs,
    providerTimeoutMs,
    deadlineMs,
    storeOutage,
    retryAfterMs: nonNegative('retryAfterMs', options.retryAfterMs, DEFAULTS.retryAfterMs),
    logger,
    now,
  })
  const onlyProvider = Object.keys(providers).length === 1 ? Object.keys(providers)[0] : undefined
  let shortLifetimeReported = false
  const reportShortLifetime = (lifetime: number): void => {
    if (shortLifetimeReported || lifetime <= 0 || lifetime > skewSeconds) return
    shortLifetimeReported = true
    logger.warn(
      `[edge-refresh] access tokens live ${Math.round(lifetime)} s, at or below skewSeconds (${skewSeconds} s): each is refreshed at half its lifetime instead. Set skewSeconds well below the token lifetime (reported once per isolate)`,
    )
  }
  const noteLifetimeOf = (tokens: SessionTokens): void => {
    if (tokens.issued_at !== undefined) reportShortLifetime(tokens.expires_at - tokens.issued_at)
  }
  const skewFor = (tokens: SessionTokens): number => {
    noteLifetimeOf(tokens)
    return effectiveSkewSeconds(tokens, skewSeconds)
  }
  // The provider's own abort is the hard limit, not providerTimeoutMs: the request stops waiting at
  // the latter, the call itself goes on (see SingleFlightOptions.providerTimeoutMs).
  const context = { fetch: fetchImpl, nowSeconds: () => epochSeconds(now()), timeoutMs: hardLimitMs }
  // With a persist step the provider must answer earlier still: the save runs under the same lock.
  const persistContext = { ...context, timeoutMs: hardLimitMs - storeTimeoutMs }

  const resultTtlMs = (deliversCookie: boolean, sessionExpiresAt: number | undefined): number => {
    if (deliversCookie) return graceSeconds * 1000
    // A result that does not reach the browser now leaves the old cookie there, to come back
    // possibly much later. Keep the result as long as that cookie can be decoded, or its refresh
    // token would be presented again and a provider with reuse detection would end the login.
    const remaining = Math.min((sessionExpiresAt ?? context.nowSeconds() + sessionMaxAge) - context.nowSeconds(), sessionMaxAge)
    return Math.max(graceSeconds, remaining) * 1000
  }

  return {
    skewSeconds,
    skewFor,
    sessionMaxAge,
    secrets,
    logger,
    now,
    nowSeconds: context.nowSeconds,
    async run(tokens, runOptions = {}) {
      let current = tokens
      let result: EngineResult | undefined
      for (let hop = 0; hop < MAX_HOPS; hop++) {
        noteLifetimeOf(current)
        const decision = decideRefresh(current, context.nowSeconds(), skewSeconds)
        if (decision.action === 'pass') return result ?? { reason: 'passed', decision }
        // A handed-over result is followed only when it has really expired: one still inside the
        // skew window is what the leader just produced, and refreshing it again would defeat the
        // single flight whenever the token lifetime is shorter than the skew.
        if (result && decision.reason !== 'expired') return result
        const providerId = current.provider ?? onlyProvider
        // Own properties only: a session naming `constructor` or `__proto__` must not reach Object's.
        const provider = providerId !== undefined && Object.hasOwn(providers, providerId) ? providers[providerId] : undefined
        if (!provider) return result ?? { reason: 'unknown-provider', provider: current.provider }
        const refreshToken = current.refresh_token!
        const session = { accessToken: current.access_token, ...(current.id_token ? { idToken: current.id_token } : {}) }
        const call: ProviderCall = runOptions.persist
          ? () =>
              callAndPersist(
                provider,
                refreshToken,
                persistContext,
                session,
                runOptions.persist!,
                storeTimeoutMs,
                sessionMaxAge * 1000,
                logger,
              )
          : () => callProvider(provider, refreshToken, context, session)
        // A store that is not shared (memoryStore) cannot hand a background result to the other
        // isolates and servers that will see the old cookie; refreshing in the foreground puts the
        // new cookie on this very response instead.
        const background = decision.action === 'refresh-background' && runOptions.waitUntil !== undefined && store.shared !== false
        // How long the result is kept once this request hands it to the browser, and how long now.
        const deliveredTtlMs = resultTtlMs(runOptions.deliversCookie !== false, runOptions.sessionExpiresAt)
        const ttlMs = background ? resultTtlMs(false, runOptions.sessionExpiresAt) : deliveredTtlMs
        const step = background
          ? await flight.refreshInBackground(refreshToken, call, ttlMs, runOptions.waitUntil!, deliveredTtlMs)
          : await flight.refresh(refreshToken, call, ttlMs, runOptions.waitUntil)
        if (step.reason !== 'refreshed') return result?.reason === 'refreshed' && step.reason !== 'invalid_grant' ? result : step
        result = step
        if (step.source === 'provider') {
          reportShortLifetime(step.tokens.expires_at - context.nowSeconds())
          return step
        }
        // A result handed over from the store or this isolate may itself be due by now.
        current = { ...current, ...tokensOf(step.tokens) }
      }
      return result!
    },
  }
}

/**
 * A provider's `refresh` must not throw, but a hand-written one might: a throw is a transient
 * outcome, so the lock is released and the back-off set like for any other failure.
 */
async function callProvider(
  provider: RefreshProvider,
  refreshToken: string,
  context: ProviderContext,
  session: RefreshSession,
): Promise<RefreshOutcome> {
  try {
    return await provider.refresh(refreshToken, context, session)
  } catch (error) {
    return { reason: 'transient', detail: `provider ${provider.kind} threw: ${describeError(error)}` }
  }
}

/**
 * The provider call of a leader that must save the answer first (see {@link RunOptions.persist}).
 * A save that fails or hangs never blocks the publish: the rotated tokens then stay in the store
 * for `unsavedKeepMs`, the only place left that still knows them.
 */
async function callAndPersist(
  provider: RefreshProvider,
  refreshToken: string,
  context: ProviderContext,
  session: RefreshSession,
  persist: (outcome: SettledOutcome, presentedRefreshToken: string) => Promise<boolean>,
  persistTimeoutMs: number,
  unsavedKeepMs: number,
  logger: Logger,
): Promise<LeaderOutcome> {
  const outcome = await callProvider(provider, refreshToken, context, session)
  if (outcome.reason === 'transient') return outcome
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), persistTimeoutMs)
  })
  const saved = await Promise.race([persist(outcome, refreshToken).catch((error: unknown) => describeError(error)), timeout])
  clearTimeout(timer)
  if (saved === true) return outcome
  const why = saved === 'timeout' ? `took longer than ${persistTimeoutMs} ms` : saved === false ? 'was not written' : `failed: ${saved}`
  logger.error(
    `[edge-refresh] saving the provider's answer (${outcome.reason}) ${why}; the result is kept in the store for ${unsavedKeepMs / 1000} s so the old refresh token is not presented again`,
  )
  return outcome.reason === 'refreshed' ? { ...outcome, keepResultMs: unsavedKeepMs } : outcome
}

function tokensOf(tokens: RefreshedTokens): Partial<SessionTokens> {
  return {
    access_token: tokens.access_token,
    expires_at: tokens.expires_at,
    refresh_token: tokens.refresh_token,
    ...(tokens.id_token ? { id_token: tokens.id_token } : {}),
  }
}

function normalizeSecrets(secret: string | readonly string[] | undefined): string[] {
  const secrets = (Array.isArray(secret) ? [...secret] : [secret]).filter(
    (value): value is string => typeof value === 'string' && value.length > 0,
  )
  if (secrets.length === 0) {
    throw new RefreshConfigError(
      'CONFIG_SECRET_MISSING',
      "secret is required: pass the same value as next-auth's secret (NEXTAUTH_SECRET or AUTH_SECRET), or every session will look unreadable",
    )
  }
  return secrets
}

function validateProviders(providers: Record<string, RefreshProvider> | undefined): Record<string, RefreshProvider> {
  const entries = Object.entries(providers ?? {})
  if (entries.length === 0) {
    throw new RefreshConfigError(
      'CONFIG_PROVIDERS_MISSING',
      'providers is required: a record keyed by next-auth provider id, e.g. { cognito: cognito({ ... }) }',
    )
  }
  for (const [id, provider] of entries) {
    if (typeof provider?.refresh !== 'function') {
      throw new RefreshConfigError(
        'CONFIG_PROVIDER_INVALID',
        `providers.${id} is not a provider: build it with oidc(), cognito() or google()`,
      )
    }
  }
  return providers!
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RefreshConfigError('CONFIG_INVALID_OPTION', `${name} must be a finite number >= 0, got ${String(value)}`)
  }
  return value
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RefreshConfigError('CONFIG_INVALID_OPTION', `${name} must be a finite number > 0, got ${String(value)}`)
  }
  return value
}
