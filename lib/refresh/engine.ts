import { decideRefresh, effectiveSkewSeconds, type RefreshDecision } from './decision.js'
import { describeError, RefreshConfigError } from '../errors.js'
import type { ProviderContext, RefreshProvider, RefreshSession } from '../providers/provider.js'
import { createSealer } from './sealing.js'
import { DEFAULTS, epochSeconds } from '../defaults.js'
import {
  createSingleFlight,
  type FlightResult,
  type InDoubtPolicy,
  type LeaderOutcome,
  type ProviderCall,
  type StoreOutagePolicy,
} from './single-flight.js'
import { nonNegative, positive, resolveTiming, type RefreshTiming } from './timing.js'
import { TimeLimitError, withinTimeLimit } from '../util/time-limit.js'
import { memoryStore } from '../stores/memory-store.js'
import type { RefreshStore } from '../stores/store.js'
import type { RefreshTelemetry, RefreshTrace } from '../observe/telemetry.js'
import type { FetchLike, Logger, RefreshOutcome, RefreshedTokens, SessionTokens } from '../types.js'

/** Options shared by the middleware and the next-auth callbacks. Durations say their unit. */
export interface RefreshOptions {
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
   * still running then is not abandoned: it goes on in `waitUntil`, its lock renewed, and its
   * result is published when it lands, until `providerCallLimitMs`. Default 5 000.
   */
  providerTimeoutMs?: number
  /**
   * The longest a provider call stays open, ms; at least `providerTimeoutMs`. Then it is aborted,
   * and since nobody knows whether the provider rotated the refresh token, the token is marked in
   * doubt (see `inDoubt`). Default 30 000.
   */
  providerCallLimitMs?: number
  /** Budget for one store round trip; a store slower than this counts as unavailable (see `storeOutage`), ms. Default 1 000. */
  storeTimeoutMs?: number
  /**
   * Store lock lease, ms; renewed every third of it while the leader's call is open. Must be at
   * least `3 × storeTimeoutMs + 750`: a leader whose renewal fails needs two store round trips and
   * a 500 ms margin before the lease ends, to stop its call and mark the token in doubt. Default 10 000.
   */
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
  /**
   * What a provider call whose outcome is unknown (sent, never answered within
   * `providerCallLimitMs`, or its leader vanished) does: `end-login` (default) never presents that
   * refresh token again, so the login ends (`RefreshTokenError`, the user signs in again);
   * `retry` presents it again after the back-off, only for providers whose reuse grace period
   * (Cognito `RetryGracePeriodSeconds`, Okta's grace period, Auth0's leeway) is longer than
   * `providerCallLimitMs + leaseMs`.
   */
  inDoubt?: InDoubtPolicy
  /** Pause after a transient failure before that token is tried again, ms; a longer `Retry-After` (up to 300 s) wins. Default 2 000. */
  retryAfterMs?: number
  /** Injectable `fetch`. Default the global `fetch`. */
  fetch?: FetchLike
  /** Injectable clock, epoch ms. Default `Date.now`. */
  now?: () => number
  /** Default `console`. */
  logger?: Logger
  /**
   * Receives what the refresh did, for traces and metrics: `openTelemetry()` from
   * `next-auth-edge-refresh/otel`, or your own. Default none (nothing is measured, nothing is called).
   */
  telemetry?: RefreshTelemetry
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
   * new tokens there rather than presenting the old one again. The lock's lease is renewed while it runs.
   */
  persist?: (outcome: SettledOutcome, presentedRefreshToken: string) => Promise<boolean>
}

/** A provider answer that is final for its refresh token: new tokens, or a dead token. */
export type SettledOutcome = Exclude<RefreshOutcome, { reason: 'transient' }>

/**
 * Decision + single flight + provider, without any cookie I/O: the core the middleware, the
 * callbacks and the database refresher adapt. It keeps its configuration to itself.
 */
export interface RefreshEngine {
  /** What these tokens need now (see {@link decideRefresh}), with the skew that applies to them. */
  decide(tokens: SessionTokens): RefreshDecision
  /** Until when these tokens need nothing, epoch seconds: `expires_at` minus the skew that applies to them. */
  freshUntil(tokens: Pick<SessionTokens, 'expires_at' | 'issued_at'>): number
  /** The engine's clock in epoch seconds: what every `expires_at` is compared with. */
  nowSeconds(): number
  /** Decides, then refreshes through single flight when the tokens are due. Never throws for provider or store trouble. */
  run(tokens: SessionTokens, options?: RunOptions): Promise<EngineResult>
}

/** What every adapter of the engine shares with it: the options every step reads, normalized once. */
export interface CommonSettings {
  secrets: readonly string[]
  logger: Logger
  /** Clock, epoch ms. */
  now: () => number
  /** Seconds. */
  sessionMaxAge: number
}

/**
 * Normalizes the options the engine and its adapters both read (secret, logger, clock, session max
 * age), so that an adapter never re-derives one differently.
 *
 * @throws {RefreshConfigError} for a missing secret or an invalid `sessionMaxAge`.
 */
export function commonSettings(options: Pick<RefreshOptions, 'secret' | 'logger' | 'now' | 'sessionMaxAge'>): CommonSettings {
  return {
    secrets: normalizeSecrets(options.secret),
    logger: options.logger ?? console,
    now: options.now ?? Date.now,
    sessionMaxAge: positive('sessionMaxAge', options.sessionMaxAge, DEFAULTS.sessionMaxAgeSeconds),
  }
}

/** A stale cookie may find a result that has since expired too; follow the chain this far at most. */
const MAX_HOPS = 3

/**
 * Creates the refresh engine. Throws {@link RefreshConfigError} for misuse, with what to change.
 */
export function createRefreshEngine(options: RefreshOptions): RefreshEngine {
  const { secrets, logger, now, sessionMaxAge } = commonSettings(options)
  const providers = validateProviders(options.providers)
  const skewSeconds = nonNegative('skewSeconds', options.skewSeconds, DEFAULTS.skewSeconds)
  const timing: RefreshTiming = resolveTiming(options)
  const storeOutage = oneOf('storeOutage', options.storeOutage, ['keep-session', 'refresh-in-isolate'] as const, DEFAULTS.storeOutage)
  const inDoubt = oneOf('inDoubt', options.inDoubt, ['end-login', 'retry'] as const, DEFAULTS.inDoubt)
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init))
  const store = options.store ?? memoryStore({ now })
  const telemetry = options.telemetry
  const flight = createSingleFlight({ store, sealer: createSealer(secrets), timing, storeOutage, inDoubt, logger, now })
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
  const nowSeconds = () => epochSeconds(now())
  const decide = (tokens: SessionTokens): RefreshDecision => {
    noteLifetimeOf(tokens)
    return decideRefresh(tokens, nowSeconds(), skewSeconds)
  }

  const resultTtlMs = (deliversCookie: boolean, sessionExpiresAt: number | undefined): number => {
    if (deliversCookie) return timing.graceMs
    // A result that does not reach the browser now leaves the old cookie there, to come back
    // possibly much later. Keep the result as long as that cookie can be decoded, or its refresh
    // token would be presented again and a provider with reuse detection would end the login.
    const remaining = Math.min((sessionExpiresAt ?? nowSeconds() + sessionMaxAge) - nowSeconds(), sessionMaxAge)
    return Math.max(timing.graceMs, remaining * 1000)
  }

  const providerCall = (provider: RefreshProvider, tokens: SessionTokens, runOptions: RunOptions): ProviderCall => {
    const refreshToken = tokens.refresh_token!
    const session = { accessToken: tokens.access_token, ...(tokens.id_token ? { idToken: tokens.id_token } : {}) }
    return (signal) => {
      const context: ProviderContext = { fetch: fetchImpl, nowSeconds, nowMs: now, signal }
      if (!runOptions.persist) return callProvider(provider, refreshToken, context, session)
      return callAndPersist({
        provider,
        refreshToken,
        context,
        session,
        persist: runOptions.persist,
        persistTimeoutMs: timing.persistTimeoutMs,
        unsavedKeepMs: sessionMaxAge * 1000,
        logger,
      })
    }
  }

  return {
    decide,
    freshUntil: (tokens) => tokens.expires_at - effectiveSkewSeconds(tokens, skewSeconds),
    nowSeconds,
    async run(tokens, runOptions = {}) {
      if (!telemetry) return refreshHops(tokens, runOptions, () => undefined)
      // One trace per run that does work, whoever runs it (middleware, callbacks, account
      // refresher); a session that needs nothing makes none.
      let trace: RefreshTrace | undefined
      const traceWork = () => (trace ??= telemetry.startRefresh(tokens.provider))
      try {
        const result = await refreshHops(tokens, runOptions, traceWork)
        trace?.end(result.reason, 'source' in result ? result.source : undefined)
        return result
      } catch (error) {
        trace?.end('error', undefined)
        throw error
      }
    },
  }

  /** Decides, then refreshes through single flight, following a handed-over result that is itself due. */
  async function refreshHops(
    tokens: SessionTokens,
    runOptions: RunOptions,
    traceWork: () => RefreshTrace | undefined,
  ): Promise<EngineResult> {
    let current = tokens
    let result: EngineResult | undefined
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const decision = decide(current)
      if (decision.action === 'pass') return result ?? { reason: 'passed', decision }
      // A handed-over result is followed only when it has really expired: one still inside the
      // skew window is what the leader just produced, and refreshing it again would defeat the
      // single flight whenever the token lifetime is shorter than the skew.
      if (result && decision.reason !== 'expired') return result
      const trace = traceWork()
      const providerId = current.provider ?? onlyProvider
      // Own properties only: a session naming `constructor` or `__proto__` must not reach Object's.
      const provider = providerId !== undefined && Object.hasOwn(providers, providerId) ? providers[providerId] : undefined
      if (!provider) return result ?? { reason: 'unknown-provider', provider: current.provider }
      const refreshToken = current.refresh_token!
      const call = providerCall(provider, current, runOptions)
      // A store that is not shared (memoryStore) cannot hand a background result to the other
      // isolates and servers that will see the old cookie; refreshing in the foreground puts the
      // new cookie on this very response instead.
      const background = decision.action === 'refresh-background' && runOptions.waitUntil !== undefined && store.shared !== false
      // How long the result is kept once this request hands it to the browser, and how long now.
      const deliveredTtlMs = resultTtlMs(runOptions.deliversCookie !== false, runOptions.sessionExpiresAt)
      // The old cookie can come back for as long as it decodes: so long must an unanswered attempt be remembered.
      const markTtlMs = resultTtlMs(false, runOptions.sessionExpiresAt)
      const request = {
        call,
        ttlMs: background ? markTtlMs : deliveredTtlMs,
        deliveredTtlMs,
        markTtlMs,
        ...(trace ? { trace } : {}),
      }
      const step = background
        ? await flight.refreshInBackground(refreshToken, { ...request, waitUntil: runOptions.waitUntil! })
        : await flight.refresh(refreshToken, { ...request, ...(runOptions.waitUntil ? { waitUntil: runOptions.waitUntil } : {}) })
      if (step.reason !== 'refreshed') return result?.reason === 'refreshed' && !endsLogin(step) ? result : step
      result = step
      if (step.source === 'provider') {
        reportShortLifetime(step.tokens.expires_at - nowSeconds())
        return step
      }
      // A result handed over from the store or this isolate may itself be due by now.
      current = { ...current, ...tokensOf(step.tokens) }
    }
    return result!
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

/** What {@link callAndPersist} needs. */
interface PersistingCall {
  provider: RefreshProvider
  refreshToken: string
  context: ProviderContext
  session: RefreshSession
  persist: NonNullable<RunOptions['persist']>
  /** ms. */
  persistTimeoutMs: number
  /** How long unsaved tokens stay in the store, ms. */
  unsavedKeepMs: number
  logger: Logger
}

/**
 * The provider call of a leader that must save the answer first (see {@link RunOptions.persist}).
 * A save that fails or hangs never blocks the publish: the rotated tokens then stay in the store
 * for `unsavedKeepMs`, the only place left that still knows them.
 */
async function callAndPersist(call: PersistingCall): Promise<LeaderOutcome> {
  const { persistTimeoutMs, unsavedKeepMs } = call
  const outcome = await callProvider(call.provider, call.refreshToken, call.context, call.session)
  if (outcome.reason === 'transient') return outcome
  const saved = await withinTimeLimit(call.persist(outcome, call.refreshToken), persistTimeoutMs, 'persist').catch((error: unknown) =>
    error instanceof TimeLimitError ? ('timeout' as const) : describeError(error),
  )
  if (saved === true) return outcome
  const why = saved === 'timeout' ? `took longer than ${persistTimeoutMs} ms` : saved === false ? 'was not written' : `failed: ${saved}`
  call.logger.error(
    `[edge-refresh] saving the provider's answer (${outcome.reason}) ${why}; the result is kept in the store for ${unsavedKeepMs / 1000} s so the old refresh token is not presented again`,
  )
  return outcome.reason === 'refreshed' ? { ...outcome, keepResultMs: unsavedKeepMs } : outcome
}

/** Whether a result means the login is over: the provider said so, or the token is in doubt. */
export function endsLogin(result: EngineResult): result is Extract<EngineResult, { reason: 'invalid_grant' | 'in-doubt' }> {
  return result.reason === 'invalid_grant' || result.reason === 'in-doubt'
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

function oneOf<T extends string>(name: string, value: T | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  if (!allowed.includes(value)) {
    throw new RefreshConfigError(
      'CONFIG_INVALID_OPTION',
      `${name} must be ${allowed.map((v) => `"${v}"`).join(' or ')}, got ${String(value)}`,
    )
  }
  return value
}
