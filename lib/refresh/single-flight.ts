import { DEFAULTS } from '../defaults.js'
import { assertNever } from '../util/assert-never.js'
import { setBounded } from '../util/bounded-map.js'
import { describeError } from '../errors.js'
import { TimeLimitError, withinTimeLimit } from '../util/time-limit.js'
import { LeaseKeeper } from './lease-keeper.js'
import type { Sealer, StoredResult } from './sealing.js'
import type { RefreshTiming } from './timing.js'
import type { RefreshTrace, StoreOperation } from '../observe/telemetry.js'
import type { RefreshStore } from '../stores/store.js'
import type { Logger, RefreshOutcome, RefreshedTokens } from '../types.js'

/**
 * What single flight came to for one request. `source` says where the answer came from:
 * this request's own provider call, another request in this isolate, or the shared store.
 * - `in-doubt`: a provider call with this refresh token was sent and never answered (it outlived
 *   its limit, or its leader vanished): nobody knows whether the provider rotated the token, so it
 *   is never presented again (see {@link InDoubtPolicy}).
 * - `pending`: a background refresh is under way (or led elsewhere); the request goes on as it is.
 * - `backoff`: this token failed transiently a moment ago (here or, through the store, in another
 *   isolate); no new attempt yet.
 * - `store-unavailable`: the shared store could not be reached within its budget, so nothing
 *   coordinates this refresh with the other isolates: nothing is refreshed (see `storeOutage`).
 */
export type FlightResult =
  /** `unsaved`: the leader's `persist` step failed; whoever receives the tokens should save them (see `RunOptions.persist`). */
  | { reason: 'refreshed'; tokens: RefreshedTokens; source: FlightSource; keptMs?: number; unsaved?: true }
  | { reason: 'invalid_grant'; source: FlightSource }
  | { reason: 'in-doubt'; source: FlightSource }
  | { reason: 'transient'; detail: string }
  | { reason: 'pending' }
  | { reason: 'backoff' }
  | { reason: 'store-unavailable' }

/** Where a {@link FlightResult} came from. */
export type FlightSource = 'provider' | 'isolate' | 'store'

/**
 * What to do when the shared store cannot be reached: `keep-session` (default) refreshes nothing,
 * so no refresh token is ever presented twice; `refresh-in-isolate` refreshes with in-isolate
 * single flight only, for providers that accept a reused refresh token within a grace period.
 */
export type StoreOutagePolicy = 'keep-session' | 'refresh-in-isolate'

/**
 * What a provider call whose outcome is unknown (sent, never answered within `providerCallLimitMs`,
 * or its leader vanished) does: `end-login` (default) marks the refresh token in doubt in the store
 * and nobody presents it again, so the login ends (`RefreshTokenError`, sign in again); `retry`
 * treats it as a transient failure and presents the token again after the back-off, for providers
 * whose reuse grace period (Cognito `RetryGracePeriodSeconds`, Okta's grace period, Auth0's
 * leeway) is longer than `providerCallLimitMs + leaseMs`.
 */
export type InDoubtPolicy = 'end-login' | 'retry'

/** Tuning of {@link createSingleFlight}. */
export interface SingleFlightOptions {
  store: RefreshStore
  sealer: Sealer
  /** Every duration, derived and checked once (see `resolveTiming`). */
  timing: RefreshTiming
  /** See {@link StoreOutagePolicy}. Default `keep-session`. */
  storeOutage?: StoreOutagePolicy
  /** See {@link InDoubtPolicy}. Default `end-login`. */
  inDoubt?: InDoubtPolicy
  /** How long a dead-token mark is kept, ms. Default 120 000. */
  deadTtlMs?: number
  /** First poll delay of a waiter, ms; grows by half each poll up to `pollMaxMs`. Default 10. */
  pollStartMs?: number
  /**
   * Longest pause between two polls of a waiter, ms. Default 25: a waiter learns of a result at most
   * this late, and a refresh rarely takes more than a few hundred ms, so a waiter makes a dozen or so
   * round trips at most. A doubling backoff would make waiters the slowest part of a storm.
   */
  pollMaxMs?: number
  /** How often a waiter may claim again after a lease lapsed without a result. Default 3. */
  maxClaims?: number
  logger: Logger
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number
}

/**
 * What a leader's call came to: the provider's outcome, and for new tokens that could not be saved
 * where the caller keeps them (see `RunOptions.persist`), how long the store must keep them, ms.
 */
export type LeaderOutcome = RefreshOutcome | (Extract<RefreshOutcome, { reason: 'refreshed' }> & { keepResultMs?: number })

/**
 * A provider call for one refresh token; it never throws (see {@link RefreshOutcome}). `signal` is
 * aborted when nobody can vouch for the lock any more: a call that ends aborted has an unknown outcome.
 */
export type ProviderCall = (signal: AbortSignal) => Promise<LeaderOutcome>

/** Keeps work alive after the response (`event.waitUntil`); absent where the runtime keeps it anyway (Node). */
export type WaitUntil = (promise: Promise<unknown>) => void

/** One request's refresh, as single flight needs it. */
export interface FlightRequest {
  /** The provider call, run only if this request leads. */
  call: ProviderCall
  /** How long the result stays in the store for late requests with the old cookie, ms. */
  ttlMs: number
  /**
   * How long an existing result lives once this request hands it to the browser, ms (a result kept
   * longer, for a cookie that never got it, is shortened to this). Default `ttlMs`.
   */
  deliveredTtlMs?: number
  /**
   * How long the attempt mark lives, ms: as long as the old cookie can come back, so that a call
   * whose outcome nobody learns is never followed by a second one. Default `ttlMs`.
   */
  markTtlMs?: number
  /** Keeps a provider call alive past this request when it outlasts `providerTimeoutMs`. */
  waitUntil?: WaitUntil
  /** Where this request's store round trips, provider call and waits are reported. Default none. */
  trace?: RefreshTrace
}

/** One refresh per refresh token: in this isolate (a promise map) and across isolates (the store). */
export interface SingleFlight {
  /**
   * Refreshes, or joins the refresh already under way, and waits for its outcome (at most
   * `deadlineMs`). A result found in the store that was kept longer than `deliveredTtlMs` is
   * shortened to it: this request delivers it, and an old cookie must not stay a bearer of fresh
   * tokens for the rest of the session.
   */
  refresh(refreshToken: string, request: FlightRequest): Promise<FlightResult>
  /**
   * One store claim, no waiting: an existing result is returned (and shortened to
   * `deliveredTtlMs`); otherwise, if this request may lead, the provider call runs in `waitUntil`
   * and `pending` is returned.
   */
  refreshInBackground(refreshToken: string, request: FlightRequest & { waitUntil: WaitUntil }): Promise<FlightResult>
}

/** One store round trip within its budget: its answer, or why there is none. */
type StoreCall<T> = { ok: true; value: T } | { ok: false; error: string }

/** What a waiter's polling came to. */
type Waited = { state: 'result'; result: FlightResult } | { state: 'lapsed' } | { state: 'outage'; error: string }

/** What the leader's provider call came to, once it answered or was given up. */
type CallEnd = { kind: 'answered'; outcome: LeaderOutcome } | { kind: 'unknown'; why: string }

const LOCAL_RESULTS_MAX = 1000
/** Refresh tokens resting after a transient failure, per isolate; the oldest rest is dropped first. */
const BACKOFF_MAX = 1000
/** Lock id of a result published without holding the lock; it matches no lock, so none is released. */
const FALLBACK_LOCK_ID = 'fallback-without-lock'
const WARN_INTERVAL_MS = 60_000

/** Creates the single-flight coordinator. See {@link SingleFlightOptions} for defaults. */
export function createSingleFlight(options: SingleFlightOptions): SingleFlight {
  return new SingleFlightCoordinator(options)
}

/**
 * The coordinator behind {@link createSingleFlight}, one per engine: its maps are what this isolate
 * knows (flights under way, results, rests), the store is what every isolate shares.
 */
class SingleFlightCoordinator implements SingleFlight {
  private readonly store: RefreshStore
  private readonly sealer: Sealer
  private readonly logger: Logger
  private readonly timing: RefreshTiming
  private readonly storeOutage: StoreOutagePolicy
  private readonly inDoubt: InDoubtPolicy
  private readonly deadTtlMs: number
  private readonly pollStartMs: number
  private readonly pollMaxMs: number
  private readonly maxClaims: number
  private readonly now: () => number

  constructor(options: SingleFlightOptions) {
    this.store = options.store
    this.sealer = options.sealer
    this.logger = options.logger
    this.timing = options.timing
    this.storeOutage = options.storeOutage ?? DEFAULTS.storeOutage
    this.inDoubt = options.inDoubt ?? DEFAULTS.inDoubt
    this.deadTtlMs = options.deadTtlMs ?? DEFAULTS.deadTtlMs
    this.pollStartMs = options.pollStartMs ?? DEFAULTS.pollStartMs
    this.pollMaxMs = options.pollMaxMs ?? DEFAULTS.pollMaxMs
    this.maxClaims = options.maxClaims ?? DEFAULTS.maxClaims
    this.now = options.now ?? Date.now
  }

  private readonly inFlight = new Map<string, Promise<FlightResult>>()
  // Results this isolate already knows, so a late request with the old cookie needs no round trip.
  private readonly settled = new Map<string, { result: FlightResult; until: number }>()
  private readonly backoffUntil = new Map<string, number>()
  private lastOutageWarning = -Infinity

  async refresh(refreshToken: string, request: FlightRequest): Promise<FlightResult> {
    const { key, deliveredTtlMs, local } = await this.lookUp(refreshToken, request)
    if (local) return local
    const running = this.inFlight.get(key)
    if (running) {
      const joinedAt = this.now()
      const result = joined(await running)
      request.trace?.waited(this.now() - joinedAt, 'result')
      // A background flight that only learnt "someone else leads" has nothing for a request
      // that must wait: it coordinates itself (and finds that leader's result).
      if (result.reason !== 'pending') return result
    }
    if (this.inBackoff(key)) return { reason: 'backoff' }
    const result = await (this.inFlight.get(key) ?? this.share(key, request.ttlMs, () => this.coordinate(key, request)))
    if (result.reason === 'refreshed' && result.source === 'store') this.delivered(key, result, deliveredTtlMs, request)
    return result
  }

  async refreshInBackground(refreshToken: string, request: FlightRequest & { waitUntil: WaitUntil }): Promise<FlightResult> {
    const { key, deliveredTtlMs, local } = await this.lookUp(refreshToken, request)
    if (local) return local
    if (this.inFlight.has(key)) return { reason: 'pending' }
    if (this.inBackoff(key)) return { reason: 'backoff' }
    // The flight is registered before the claim's round trip: concurrent requests of this
    // isolate join it instead of each claiming (and, with the store down, each refreshing).
    let answer!: (result: FlightResult) => void
    const firstAnswer = new Promise<FlightResult>((resolve) => (answer = resolve))
    const flight = this.share(key, request.ttlMs, async (): Promise<FlightResult> => {
      const claimedAt = this.now()
      const claim = await this.claim(key, request)
      if (!claim.ok) {
        // The request learns at once what the policy does; a refresh in the isolate goes on after.
        answer(this.storeOutage === 'keep-session' ? { reason: 'store-unavailable' } : { reason: 'pending' })
        return this.onOutage(claim.error, key, request)
      }
      switch (claim.value.kind) {
        case 'result': {
          const result = await this.fromStored(key, claim.value.sealed)
          this.delivered(key, result, deliveredTtlMs, request)
          answer(result)
          return result
        }
        case 'attempted': {
          const result = (await this.settledAttempt(key, claim.value.sealed)) ?? { reason: 'pending' }
          answer(result)
          return result
        }
        case 'lead':
          answer({ reason: 'pending' })
          return this.lead(key, claim.value.lockId, claimedAt, request)
        case 'wait':
          answer({ reason: 'pending' })
          return { reason: 'pending' }
        default:
          return assertNever(claim.value)
      }
    })
    request.waitUntil(flight)
    // Every path above answers first; this only covers a flight that failed before it could.
    void flight.then(answer)
    return firstAnswer
  }

  /** The store key, and a result this isolate already holds for it (delivered: shortened to what this request hands on). */
  private async lookUp(
    refreshToken: string,
    request: FlightRequest,
  ): Promise<{ key: string; deliveredTtlMs: number; local: FlightResult | undefined }> {
    const key = await this.sealer.keyFor(refreshToken)
    const deliveredTtlMs = request.deliveredTtlMs ?? request.ttlMs
    const local = this.known(key)
    if (local) this.delivered(key, local, deliveredTtlMs, request)
    return { key, deliveredTtlMs, local }
  }

  /** Claims, leads or waits, until a result, the claim budget or the request's deadline. */
  private async coordinate(key: string, request: FlightRequest): Promise<FlightResult> {
    const deadline = this.now() + this.timing.deadlineMs
    for (let claims = 0; claims < this.maxClaims && this.now() < deadline; claims++) {
      // Before the round trip: the lock's remaining life is counted from here, so its end is never
      // placed later than it is.
      const claimedAt = this.now()
      const claim = await this.claim(key, request)
      if (!claim.ok) return this.onOutage(claim.error, key, request)
      let lockEndsAt: number | undefined
      switch (claim.value.kind) {
        case 'result':
          return this.fromStored(key, claim.value.sealed)
        case 'lead':
          return this.lead(key, claim.value.lockId, claimedAt, request)
        case 'attempted': {
          const settled = await this.settledAttempt(key, claim.value.sealed)
          if (settled) return settled
          break
        }
        case 'wait':
          lockEndsAt = claim.value.lockTtlMs === undefined ? undefined : claimedAt + claim.value.lockTtlMs
          break
        default:
          return assertNever(claim.value)
      }
      const waitStartedAt = this.now()
      const waited = await this.waitForResult(key, deadline, lockEndsAt, request.trace)
      request.trace?.waited(this.now() - waitStartedAt, waited.state)
      if (waited.state === 'outage') return this.onOutage(waited.error, key, request)
      if (waited.state === 'result') return waited.result
    }
    return {
      reason: 'transient',
      detail:
        this.now() >= deadline ? `no result within the ${this.timing.deadlineMs} ms deadline` : `no result after ${this.maxClaims} claims`,
    }
  }

  /** One claim; the attempt mark goes with it unless unknown outcomes are simply retried. */
  private async claim(key: string, request: FlightRequest) {
    const attempt =
      this.inDoubt === 'end-login'
        ? { sealed: await this.sealer.seal(key, { kind: 'attempt', startedAt: this.now() }), ttlMs: request.markTtlMs ?? request.ttlMs }
        : undefined
    return this.guarded('claim', request.trace, () =>
      this.store.claim(key, this.timing.leaseMs, attempt, {
        appliedWithinMs: this.timing.storeTimeoutMs,
        leaderMayBeOutMs: this.timing.leaseMs,
      }),
    )
  }

  /**
   * Calls the provider as leader, with the lease kept alive for as long as the call is open. A call
   * once sent is never abandoned: the request stops waiting after `providerTimeoutMs`, but the call
   * goes on (kept alive with `waitUntil`) and its outcome is published when it lands, so the next
   * request picks the rotated tokens up instead of presenting the old refresh token again. A call
   * that reaches `providerCallLimitMs`, or whose lease the store can no longer confirm, is aborted
   * and its token marked in doubt (see {@link InDoubtPolicy}).
   *
   * @param lockId Absent when refreshing without the store (storeOutage `refresh-in-isolate`).
   * @param claimedAt When the claim that granted the lock was sent, epoch ms.
   */
  private async lead(key: string, lockId: string | undefined, claimedAt: number, request: FlightRequest): Promise<FlightResult> {
    const { timing } = this
    const startedAt = this.now()
    const controller = new AbortController()
    let giveUp!: (why: string) => void
    const givenUp = new Promise<CallEnd>((resolve) => (giveUp = (why) => resolve({ kind: 'unknown', why })))
    const limit = setTimeout(
      () => giveUp(`no answer within providerCallLimitMs (${timing.providerCallLimitMs} ms)`),
      timing.providerCallLimitMs,
    )
    const lease = lockId
      ? new LeaseKeeper({
          extend: (leaseMs) => this.guarded('extend', request.trace, () => this.store.extend(key, lockId, leaseMs)),
          timing,
          now: this.now,
          confirmedUntil: claimedAt + timing.leaseMs,
          onEndangered: giveUp,
        })
      : undefined
    lease?.start()

    const providerCallEnded = request.trace?.providerCall()
    const calling = request
      .call(controller.signal)
      .catch((error: unknown): LeaderOutcome => ({ reason: 'transient', detail: `provider call threw: ${describeError(error)}` }))
    const ended = Promise.race([calling.then((outcome): CallEnd => ({ kind: 'answered', outcome })), givenUp]).then((end): CallEnd => {
      providerCallEnded?.(end.kind === 'answered' ? end.outcome.reason : 'unanswered')
      clearTimeout(limit)
      if (end.kind === 'unknown') controller.abort(new Error(end.why))
      return end
    })
    const settling = ended.then((end) => this.settle(key, lockId, startedAt, end, request))
    const landing = settling
      .then(async (settled) => {
        await settled.retries
        lease?.stop()
        // An answer that arrives after the call was given up still lands: it replaces the in-doubt mark.
        if (settled.givenUp) await this.publishLateAnswer(key, calling, request)
      })
      .catch((error: unknown) => {
        lease?.stop()
        this.logger.error(`[edge-refresh] leader could not settle its refresh: ${describeError(error)}`)
      })
    let timer: ReturnType<typeof setTimeout> | undefined
    const slow = new Promise<'slow'>((resolve) => {
      timer = setTimeout(() => resolve('slow'), timing.providerTimeoutMs)
    })
    // Only the provider's answer races providerTimeoutMs; the publish that follows has its own
    // budget. A fast answer published to a slow store is not a slow provider, and this request
    // delivers it.
    const first = await Promise.race([ended.then(() => 'ended' as const), slow])
    clearTimeout(timer)
    if (first !== 'slow') {
      const settled = await settling
      // Work left after this response (publish retries, a late answer) is kept alive; a leader
      // that published at once leaves nothing behind.
      if (settled.retries || settled.givenUp) request.waitUntil?.(landing)
      return settled.result
    }
    request.waitUntil?.(landing)
    return { reason: 'transient', detail: `provider slower than ${timing.providerTimeoutMs} ms; its answer will be kept when it lands` }
  }

  /**
   * Turns the end of the leader's call into the store's state, in one publish that also releases the
   * lock and removes the attempt mark: new tokens, a dead mark, an in-doubt mark, or, after a
   * transient failure, a sealed back-off so that waiters in other isolates stop at once instead of
   * trying the provider again. A publish that fails is retried within the attempt's window (`retries`).
   */
  private async settle(
    key: string,
    lockId: string | undefined,
    startedAt: number,
    end: CallEnd,
    request: FlightRequest,
  ): Promise<{ result: FlightResult; retries: Promise<void> | undefined; givenUp: boolean }> {
    const plan = this.planFor(key, end, request)
    const sealed = await this.sealer.seal(key, plan.stored)
    let retries: Promise<void> | undefined
    if (lockId) {
      const published = await this.guarded('publish', request.trace, () => this.store.publish(key, lockId, sealed, plan.storeTtlMs))
      if (!published.ok) {
        this.warnOutage(published.error)
        retries = this.retryPublish(key, lockId, sealed, plan.storeTtlMs, startedAt, request.trace)
      }
    } else {
      // Refreshed without the lock (storeOutage: "refresh-in-isolate"). If the store is merely
      // slow, the result may still land there, and other isolates must find it rather than present
      // the spent token. Best effort: the request must not wait on a store judged unusable.
      void this.store.publish(key, FALLBACK_LOCK_ID, sealed, plan.storeTtlMs).catch(() => {})
    }
    this.remember(key, plan.result, plan.localTtlMs)
    if (end.kind === 'unknown') {
      this.logger.error(
        `[edge-refresh] a refresh request was sent and not answered (${end.why}); ${
          plan.result.reason === 'in-doubt'
            ? 'its refresh token is marked in doubt and not presented again: that login ends (inDoubt: "end-login")'
            : 'it is treated as a transient failure (inDoubt: "retry")'
        }`,
      )
    }
    return { result: plan.result, retries, givenUp: end.kind === 'unknown' }
  }

  /** What the store and this request get for the end of a leader's call. */
  private planFor(
    key: string,
    end: CallEnd,
    request: FlightRequest,
  ): { stored: StoredResult; storeTtlMs: number; result: FlightResult; localTtlMs: number } {
    const markTtlMs = request.markTtlMs ?? request.ttlMs
    if (end.kind === 'unknown') {
      if (this.inDoubt === 'end-login') {
        request.trace?.markedInDoubt()
        return {
          stored: { kind: 'in-doubt' },
          storeTtlMs: markTtlMs,
          result: { reason: 'in-doubt', source: 'provider' },
          localTtlMs: markTtlMs,
        }
      }
      return this.backoffPlan(key, { detail: end.why })
    }
    const { outcome } = end
    switch (outcome.reason) {
      case 'transient':
        return this.backoffPlan(key, outcome)
      case 'invalid_grant':
        return {
          stored: { kind: 'dead' },
          storeTtlMs: this.deadTtlMs,
          result: { reason: 'invalid_grant', source: 'provider' },
          localTtlMs: request.ttlMs,
        }
      case 'refreshed': {
        const unsaved = 'keepResultMs' in outcome && outcome.keepResultMs !== undefined
        const ttlMs = unsaved ? Math.max(request.ttlMs, outcome.keepResultMs!) : request.ttlMs
        return {
          stored: { kind: 'refreshed', tokens: outcome.tokens, keptMs: ttlMs, ...(unsaved ? { unsaved: true as const } : {}) },
          storeTtlMs: ttlMs,
          result: { reason: 'refreshed', tokens: outcome.tokens, source: 'provider', ...(unsaved ? { unsaved: true as const } : {}) },
          localTtlMs: ttlMs,
        }
      }
      default:
        return assertNever(outcome)
    }
  }

  private backoffPlan(key: string, outcome: { detail: string; retryAfterSeconds?: number }) {
    const restMs = Math.max(this.timing.retryAfterMs, Math.min(outcome.retryAfterSeconds ?? 0, DEFAULTS.maxRetryAfterSeconds) * 1000)
    const until = this.now() + restMs
    setBounded(this.backoffUntil, key, until, BACKOFF_MAX)
    return {
      stored: { kind: 'backoff', until } as StoredResult,
      storeTtlMs: restMs,
      result: { reason: 'transient', detail: outcome.detail } as FlightResult,
      localTtlMs: 0,
    }
  }

  /**
   * Publishes again after a failed publish, one store budget apart, while the attempt's leader may
   * still publish (`attemptSettlesWithinMs` from its start): until then waiters wait for it and
   * nobody leads, because the attempt mark is still in the store.
   */
  private async retryPublish(
    key: string,
    lockId: string,
    sealed: string,
    ttlMs: number,
    startedAt: number,
    trace: RefreshTrace | undefined,
  ): Promise<void> {
    for (let retry = 0; retry < DEFAULTS.publishRetries; retry++) {
      await sleep(this.timing.storeTimeoutMs)
      if (this.now() - startedAt >= this.timing.attemptSettlesWithinMs) break
      const published = await this.guarded('publish', trace, () => this.store.publish(key, lockId, sealed, ttlMs))
      if (published.ok) return
    }
    this.logger.error(
      '[edge-refresh] the store did not take a refresh result; its refresh token stays marked as attempted, so it is not presented again',
    )
  }

  /**
   * A call given up on that answers after all: its tokens (or dead mark) replace the in-doubt mark,
   * and so does a failure the provider reports as `notSent` (the token never left: nothing is in
   * doubt, the usual back-off applies). Any other failure says nothing, and the mark stays.
   */
  private async publishLateAnswer(key: string, calling: Promise<LeaderOutcome>, request: FlightRequest): Promise<void> {
    const outcome = await calling
    if (outcome.reason === 'transient' && !outcome.notSent) return
    if (outcome.reason === 'transient') this.settled.delete(key)
    const plan = this.planFor(key, { kind: 'answered', outcome }, request)
    const sealed = await this.sealer.seal(key, plan.stored)
    const published = await this.guarded('publish', request.trace, () => this.store.publish(key, FALLBACK_LOCK_ID, sealed, plan.storeTtlMs))
    if (!published.ok) this.warnOutage(published.error)
    this.remember(key, plan.result, plan.localTtlMs)
  }

  /** What a store outage means for this request, by policy. */
  private onOutage(error: string, key: string, request: FlightRequest): Promise<FlightResult> {
    this.warnOutage(error)
    if (this.storeOutage === 'refresh-in-isolate') return this.lead(key, undefined, this.now(), request)
    return Promise.resolve({ reason: 'store-unavailable' })
  }

  /**
   * Polls until a result, the lock lapsing (claim again), a store outage or the deadline.
   *
   * A lock that is gone before its lease ended (`lockEndsAt`, when the store told) did not lapse:
   * the store lost it, or lost the result its leader published with it. Either way that leader is
   * alive and may already have presented the refresh token, so claiming again would present it a
   * second time. The waiter keeps polling for the leader's result until the lease would have
   * ended, and then gives up for this request without claiming.
   */
  private async waitForResult(
    key: string,
    requestDeadline: number,
    lockEndsAt: number | undefined,
    trace: RefreshTrace | undefined,
  ): Promise<Waited> {
    const deadline = Math.min(this.now() + this.timing.leaseMs, requestDeadline)
    let delay = this.pollStartMs
    let vanished = false
    const lost: Waited = {
      state: 'result',
      result: {
        reason: 'transient',
        detail: 'the lock vanished from the store before its lease ended and no result came; the refresh token is not presented again',
      },
    }
    while (this.now() < deadline) {
      if (vanished && this.now() >= lockEndsAt!) return lost
      await sleep(Math.min(delay, Math.max(0, deadline - this.now())))
      delay = Math.min(delay * 1.5, this.pollMaxMs)
      const peeked = await this.guarded('peek', trace, () => this.store.peek(key))
      if (!peeked.ok) return { state: 'outage', error: peeked.error }
      switch (peeked.value.kind) {
        case 'result':
          return { state: 'result', result: await this.fromStored(key, peeked.value.sealed) }
        case 'locked':
          break
        case 'attempted': {
          // Its leader is between losing the lock and taking it back, or gone: wait, unless it is long gone.
          const settled = await this.settledAttempt(key, peeked.value.sealed)
          if (settled) return { state: 'result', result: settled }
          break
        }
        case 'free':
          if (lockEndsAt === undefined || this.now() >= lockEndsAt) return vanished ? lost : { state: 'lapsed' }
          vanished = true
          break
        default:
          return assertNever(peeked.value)
      }
    }
    return vanished ? lost : { state: 'lapsed' }
  }

  /**
   * An attempt mark without a lock or result: `in-doubt` once its leader can no longer publish
   * (`attemptSettlesWithinMs` after it began), else undefined (wait for that leader).
   */
  private async settledAttempt(key: string, sealed: string): Promise<FlightResult | undefined> {
    const stored = await this.sealer.open(key, sealed)
    const startedAt = stored?.kind === 'attempt' ? stored.startedAt : undefined
    if (startedAt !== undefined && this.now() - startedAt < this.timing.attemptSettlesWithinMs) return undefined
    return { reason: 'in-doubt', source: 'store' }
  }

  /** What a sealed store value means for this key; an unreadable one is treated as not there yet. */
  private async fromStored(key: string, sealed: string): Promise<FlightResult> {
    const stored = await this.sealer.open(key, sealed)
    if (!stored) return { reason: 'transient', detail: 'store held a result this secret cannot open' }
    switch (stored.kind) {
      case 'dead':
        return { reason: 'invalid_grant', source: 'store' }
      case 'in-doubt':
      case 'attempt':
        return { reason: 'in-doubt', source: 'store' }
      case 'backoff':
        setBounded(this.backoffUntil, key, stored.until, BACKOFF_MAX)
        return { reason: 'backoff' }
      case 'refreshed':
        return {
          reason: 'refreshed',
          tokens: stored.tokens,
          source: 'store',
          ...(stored.keptMs !== undefined ? { keptMs: stored.keptMs } : {}),
          ...(stored.unsaved ? { unsaved: true as const } : {}),
        }
      default:
        return assertNever(stored)
    }
  }

  /**
   * A result this request hands to the browser lives `ttlMs` more, here and in the store, at most.
   * Only a result kept longer than that (a background or callback refresh, kept for as long as the
   * old cookie lives) needs it: one this isolate holds past `ttlMs`, or one the store was asked to
   * keep longer (`keptMs`).
   */
  private delivered(key: string, result: FlightResult, ttlMs: number, request: FlightRequest): void {
    if (result.reason !== 'refreshed') return
    const entry = this.settled.get(key)
    const keptLonger = result.source === 'store' ? (result.keptMs ?? 0) > ttlMs : (entry?.until ?? 0) > this.now() + ttlMs
    if (!keptLonger) return
    if (entry) entry.until = Math.min(entry.until, this.now() + ttlMs)
    const shorten = this.store.shorten?.bind(this.store)
    if (!shorten) return
    request.waitUntil?.(this.guarded('shorten', request.trace, () => shorten(key, ttlMs)))
  }

  /** Registers `run` as this isolate's flight for `key` at once, before any await. */
  private share(key: string, ttlMs: number, run: () => Promise<FlightResult>): Promise<FlightResult> {
    const promise = run()
      .catch((error: unknown): FlightResult => ({ reason: 'transient', detail: describeError(error) }))
      .then((result) => {
        this.remember(key, result, ttlMs)
        return result
      })
      .finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, promise)
    return promise
  }

  private remember(key: string, result: FlightResult, ttlMs: number): void {
    if (result.reason !== 'refreshed' && result.reason !== 'invalid_grant' && result.reason !== 'in-doubt') return
    const entry = this.settled.get(key)
    // A result already known here for longer (a background refresh's) is not shortened by a join.
    if (entry && entry.until > this.now() + ttlMs && entry.result.reason === result.reason) return
    setBounded(this.settled, key, { result, until: this.now() + ttlMs }, LOCAL_RESULTS_MAX)
  }

  private known(key: string): FlightResult | undefined {
    const entry = this.settled.get(key)
    if (!entry) return undefined
    if (entry.until > this.now()) return joined(entry.result)
    this.settled.delete(key)
    return undefined
  }

  private inBackoff(key: string): boolean {
    const until = this.backoffUntil.get(key)
    if (until === undefined) return false
    if (until > this.now()) return true
    this.backoffUntil.delete(key)
    return false
  }

  /** One store round trip within `storeTimeoutMs`; never throws (a store method that throws at once included). */
  private async guarded<T>(name: StoreOperation, trace: RefreshTrace | undefined, operation: () => Promise<T>): Promise<StoreCall<T>> {
    const ended = trace?.storeCall(name)
    try {
      const value = await withinTimeLimit(operation(), this.timing.storeTimeoutMs, `${this.store.kind} store`)
      ended?.('ok')
      return { ok: true, value }
    } catch (error) {
      const slow = error instanceof TimeLimitError
      ended?.(slow ? 'timeout' : 'error')
      return {
        ok: false,
        error: slow ? `${this.store.kind} store answered slower than ${this.timing.storeTimeoutMs} ms` : describeError(error),
      }
    }
  }

  private warnOutage(error: string): void {
    if (this.now() - this.lastOutageWarning < WARN_INTERVAL_MS) return
    this.lastOutageWarning = this.now()
    const consequence =
      this.storeOutage === 'keep-session'
        ? 'sessions are kept as they are and nothing is refreshed until it answers'
        : 'refreshing with in-isolate single flight only (storeOutage: "refresh-in-isolate")'
    this.logger.warn(
      `[edge-refresh] ${this.store.kind} store unavailable (${error}); ${consequence}. Further warnings suppressed for 60 s.`,
    )
  }
}

/** A result another request in this isolate produced is, for this request, an isolate result. */
function joined(result: FlightResult): FlightResult {
  return result.reason === 'refreshed' || result.reason === 'invalid_grant' || result.reason === 'in-doubt'
    ? { ...result, source: 'isolate' }
    : result
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
