import { DEFAULTS } from '../defaults'
import { assertNever } from '../util/assert-never'
import { setBounded } from '../util/bounded-map'
import { describeError } from '../errors'
import type { Sealer, StoredResult } from './sealing'
import type { RefreshStore } from '../stores/store'
import type { Logger, RefreshOutcome, RefreshedTokens } from '../types'

/**
 * What single flight came to for one request. `source` says where the answer came from:
 * this request's own provider call, another request in this isolate, or the shared store.
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

/** Tuning of {@link createSingleFlight}; every duration in milliseconds. */
export interface SingleFlightOptions {
  store: RefreshStore
  sealer: Sealer
  /** How long a leader holds the lock. Default 10 000 ms. */
  leaseMs?: number
  /** Budget for one store round trip; a store slower than this counts as unavailable. Default 1 000 ms. */
  storeTimeoutMs?: number
  /** How long a request waits for the provider; a call still running then is kept alive and its result published when it lands. Default 5 000 ms. */
  providerTimeoutMs?: number
  /** The most one request spends in single flight, waiting included. Default 8 000 ms. */
  deadlineMs?: number
  /** See {@link StoreOutagePolicy}. Default `keep-session`. */
  storeOutage?: StoreOutagePolicy
  /** How long a dead-token mark is kept. Default 120 000 ms. */
  deadTtlMs?: number
  /** After a transient failure, requests for that token pass without a new attempt for this long (longer when the provider sends `Retry-After`). Default 2 000 ms. */
  retryAfterMs?: number
  /** First poll delay of a waiter; grows by half each poll up to `pollMaxMs`. Default 10 ms. */
  pollStartMs?: number
  /**
   * Longest pause between two polls of a waiter. Default 25 ms: a waiter learns of a result at most
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

/** A provider call for one refresh token; it never throws (see {@link RefreshOutcome}). */
export type ProviderCall = () => Promise<LeaderOutcome>

/** Keeps work alive after the response (`event.waitUntil`); absent where the runtime keeps it anyway (Node). */
export type WaitUntil = (promise: Promise<unknown>) => void

/** One refresh per refresh token: in this isolate (a promise map) and across isolates (the store). */
export interface SingleFlight {
  /**
   * Refreshes, or joins the refresh already under way, and waits for its outcome. A result found
   * in the store that was kept longer than `ttlMs` (a background or callback refresh, kept for as
   * long as the old cookie lives) is shortened to `ttlMs`: this request delivers it, and an old
   * cookie must not stay a bearer of fresh tokens for the rest of the session.
   * @param ttlMs How long the result stays in the store for late requests with the old cookie, ms.
   * @param waitUntil Keeps a provider call alive past this request when it outlasts `providerTimeoutMs`.
   */
  refresh(refreshToken: string, call: ProviderCall, ttlMs: number, waitUntil?: WaitUntil): Promise<FlightResult>
  /**
   * One store claim, no waiting: an existing result is returned (the caller delivers it, so it is
   * shortened to `deliveredTtlMs`); otherwise, if this request may lead, the provider call runs in
   * `waitUntil` and `pending` is returned. Its result is kept for `ttlMs`.
   */
  refreshInBackground(
    refreshToken: string,
    call: ProviderCall,
    ttlMs: number,
    waitUntil: WaitUntil,
    deliveredTtlMs: number,
  ): Promise<FlightResult>
}

class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE'
}

const LOCAL_RESULTS_MAX = 1000
/** Refresh tokens resting after a transient failure, per isolate; the oldest rest is dropped first. */
const BACKOFF_MAX = 1000
/** Lock id of a result published without holding the lock; it matches no lock, so none is released. */
const FALLBACK_LOCK_ID = 'fallback-without-lock'
const WARN_INTERVAL_MS = 60_000

/**
 * How long before its lease ends a leader gives up on a provider call that is still running.
 * Past the lease another isolate may lead and present the same refresh token, so the call must be
 * settled (or aborted) before then, with time left to publish. Milliseconds.
 */
export function providerHardLimitMs(leaseMs: number, storeTimeoutMs: number): number {
  return leaseMs - storeTimeoutMs - 500
}

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
  private readonly leaseMs: number
  private readonly storeTimeoutMs: number
  private readonly providerTimeoutMs: number
  private readonly deadlineMs: number
  private readonly storeOutage: StoreOutagePolicy
  private readonly deadTtlMs: number
  private readonly retryAfterMs: number
  private readonly pollStartMs: number
  private readonly pollMaxMs: number
  private readonly maxClaims: number
  private readonly now: () => number

  constructor(options: SingleFlightOptions) {
    this.store = options.store
    this.sealer = options.sealer
    this.logger = options.logger
    this.leaseMs = options.leaseMs ?? DEFAULTS.leaseMs
    this.storeTimeoutMs = options.storeTimeoutMs ?? DEFAULTS.storeTimeoutMs
    this.providerTimeoutMs = options.providerTimeoutMs ?? DEFAULTS.providerTimeoutMs
    this.deadlineMs = options.deadlineMs ?? DEFAULTS.deadlineMs
    this.storeOutage = options.storeOutage ?? DEFAULTS.storeOutage
    this.deadTtlMs = options.deadTtlMs ?? DEFAULTS.deadTtlMs
    this.retryAfterMs = options.retryAfterMs ?? DEFAULTS.retryAfterMs
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

  private remember(key: string, result: FlightResult, ttlMs: number): void {
    if (result.reason !== 'refreshed' && result.reason !== 'invalid_grant') return
    setBounded(this.settled, key, { result, until: this.now() + ttlMs }, LOCAL_RESULTS_MAX)
  }
  private known(key: string): FlightResult | undefined {
    const entry = this.settled.get(key)
    if (!entry) return undefined
    if (entry.until > this.now()) return { ...entry.result, source: 'isolate' } as FlightResult
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

  private guarded<T>(operation: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreUnavailableError(`this.store answered slower than ${this.storeTimeoutMs} ms`)),
        this.storeTimeoutMs,
      )
      operation().then(
        (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        (error: unknown) => {
          clearTimeout(timer)
          reject(new StoreUnavailableError(describeError(error)))
        },
      )
    })
  }

  private warnOutage(error: unknown): void {
    if (this.now() - this.lastOutageWarning < WARN_INTERVAL_MS) return
    this.lastOutageWarning = this.now()
    const consequence =
      this.storeOutage === 'keep-session'
        ? 'sessions are kept as they are and nothing is refreshed until it answers'
        : 'refreshing with in-isolate single flight only (storeOutage: "refresh-in-isolate")'
    this.logger.warn(
      `[edge-refresh] ${this.store.kind} this.store unavailable (${describeError(error)}); ${consequence}. Further warnings suppressed for 60 s.`,
    )
  }

  /** What a sealed store value means for this key; an unreadable one is treated as not there yet. */
  private async fromStored(key: string, sealed: string): Promise<FlightResult> {
    const stored = await this.sealer.open(key, sealed)
    if (!stored) return { reason: 'transient', detail: 'store held a result this secret cannot open' }
    switch (stored.kind) {
      case 'dead':
        return { reason: 'invalid_grant', source: 'store' }
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
   * Turns the provider's outcome into the store's: the result (or dead mark) is published and the
   * lock released in one step; after a transient failure a sealed back-off is published instead, so
   * that waiters in other isolates stop at once instead of trying the provider again.
   */
  private async settle(key: string, lockId: string | undefined, outcome: LeaderOutcome, requestedTtlMs: number): Promise<FlightResult> {
    const unsaved = 'keepResultMs' in outcome && outcome.keepResultMs !== undefined
    const ttlMs = unsaved ? Math.max(requestedTtlMs, outcome.keepResultMs!) : requestedTtlMs
    let stored: StoredResult
    let storeTtl: number
    if (outcome.reason === 'transient') {
      const restMs = Math.max(this.retryAfterMs, Math.min(outcome.retryAfterSeconds ?? 0, DEFAULTS.maxRetryAfterSeconds) * 1000)
      const until = this.now() + restMs
      setBounded(this.backoffUntil, key, until, BACKOFF_MAX)
      stored = { kind: 'backoff', until }
      storeTtl = restMs
    } else {
      stored =
        outcome.reason === 'refreshed'
          ? { kind: 'refreshed', tokens: outcome.tokens, keptMs: ttlMs, ...(unsaved ? { unsaved: true as const } : {}) }
          : { kind: 'dead' }
      storeTtl = stored.kind === 'dead' ? this.deadTtlMs : ttlMs
    }
    const sealed = await this.sealer.seal(key, stored)
    if (lockId) {
      await this.guarded(() => this.store.publish(key, lockId, sealed, storeTtl)).catch(this.warnOutage)
    } else {
      // Refreshed without the lock (storeOutage: "refresh-in-isolate"). If the store is merely
      // slow, the result may still land there, and other isolates must find it rather than present
      // the spent token. Best effort: the request must not wait on a store judged unusable.
      void this.store.publish(key, FALLBACK_LOCK_ID, sealed, storeTtl).catch(() => {})
    }
    if (outcome.reason === 'transient') return { reason: 'transient', detail: outcome.detail }
    const result: FlightResult =
      outcome.reason === 'refreshed'
        ? { reason: 'refreshed', tokens: outcome.tokens, source: 'provider', ...(unsaved ? { unsaved: true as const } : {}) }
        : { reason: 'invalid_grant', source: 'provider' }
    this.remember(key, result, ttlMs)
    return result
  }

  /**
   * Calls the provider as leader. A call once sent is never abandoned: the request stops waiting
   * after `providerTimeoutMs`, but the call goes on (kept alive with `waitUntil`) and its outcome is
   * published when it lands, so the next request picks the rotated tokens up instead of presenting
   * the old refresh token again. The lock stays held meanwhile: the provider's own hard limit ends
   * the call before the lease does.
   */
  private async lead(
    key: string,
    lockId: string | undefined,
    call: ProviderCall,
    ttlMs: number,
    waitUntil: WaitUntil | undefined,
  ): Promise<FlightResult> {
    const calling = call()
    const landing = calling.then((outcome) => this.settle(key, lockId, outcome, ttlMs))
    let timer: ReturnType<typeof setTimeout> | undefined
    const slow = new Promise<'slow'>((resolve) => {
      timer = setTimeout(() => resolve('slow'), this.providerTimeoutMs)
    })
    // Only the provider's answer races providerTimeoutMs; the publish that follows has its own
    // budget (storeTimeoutMs, see settle). A fast answer published to a slow store is not a slow
    // provider, and this request delivers it.
    const first = await Promise.race([calling.then(() => 'answered' as const), slow])
    clearTimeout(timer)
    if (first !== 'slow') return landing
    waitUntil?.(landing.catch(() => {}))
    return { reason: 'transient', detail: `provider slower than ${this.providerTimeoutMs} ms; its answer will be kept when it lands` }
  }

  /** What a store outage means for this request, by policy. */
  private onOutage(
    error: unknown,
    key: string,
    call: ProviderCall,
    ttlMs: number,
    waitUntil: WaitUntil | undefined,
  ): Promise<FlightResult> {
    this.warnOutage(error)
    if (this.storeOutage === 'refresh-in-isolate') return this.lead(key, undefined, call, ttlMs, waitUntil)
    return Promise.resolve({ reason: 'store-unavailable' })
  }

  /** Claims, leads or waits, until a result, the claim budget or the request's deadline. */
  private async coordinate(key: string, call: ProviderCall, ttlMs: number, waitUntil: WaitUntil | undefined): Promise<FlightResult> {
    const deadline = this.now() + this.deadlineMs
    for (let claims = 0; claims < this.maxClaims && this.now() < deadline; claims++) {
      let claim
      // Before the round trip: the lock's remaining life is counted from here, so its end is never
      // placed later than it is.
      const claimedAt = this.now()
      try {
        claim = await this.guarded(() => this.store.claim(key, this.leaseMs))
      } catch (error) {
        return this.onOutage(error, key, call, ttlMs, waitUntil)
      }
      if (claim.kind === 'result') return this.fromStored(key, claim.sealed)
      if (claim.kind === 'lead') return this.lead(key, claim.lockId, call, ttlMs, waitUntil)
      const waited = await this.waitForResult(key, deadline, claim.lockTtlMs === undefined ? undefined : claimedAt + claim.lockTtlMs)
      if (waited instanceof StoreUnavailableError) return this.onOutage(waited, key, call, ttlMs, waitUntil)
      if (waited) return waited
    }
    return {
      reason: 'transient',
      detail: this.now() >= deadline ? `no result within the ${this.deadlineMs} ms deadline` : `no result after ${this.maxClaims} claims`,
    }
  }

  /**
   * Polls until a result, the lock lapsing (undefined: claim again), a store outage or the deadline.
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
    lockEndsAt?: number,
  ): Promise<FlightResult | undefined | StoreUnavailableError> {
    const deadline = Math.min(this.now() + this.leaseMs, requestDeadline)
    let delay = this.pollStartMs
    let vanished = false
    const lost = (): FlightResult => ({
      reason: 'transient',
      detail: 'the lock vanished from the store before its lease ended and no result came; the refresh token is not presented again',
    })
    while (this.now() < deadline) {
      if (vanished && this.now() >= lockEndsAt!) return lost()
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - this.now()))))
      delay = Math.min(delay * 1.5, this.pollMaxMs)
      let peeked
      try {
        peeked = await this.guarded(() => this.store.peek(key))
      } catch (error) {
        return error instanceof StoreUnavailableError ? error : new StoreUnavailableError(describeError(error))
      }
      if (peeked.kind === 'result') return this.fromStored(key, peeked.sealed)
      if (peeked.kind === 'free') {
        if (lockEndsAt === undefined || this.now() >= lockEndsAt) return vanished ? lost() : undefined
        vanished = true
      }
    }
    return vanished ? lost() : undefined
  }

  /**
   * A result this request hands to the browser lives `ttlMs` more, here and in the store, at most.
   * Only a result kept longer than that (a background or callback refresh, kept for as long as the
   * old cookie lives) needs it: one this isolate holds past `ttlMs`, or one the store was asked to
   * keep longer (`keptMs`).
   */
  private delivered(key: string, result: FlightResult, ttlMs: number, waitUntil: WaitUntil | undefined): void {
    if (result.reason !== 'refreshed') return
    const entry = this.settled.get(key)
    const keptLonger = result.source === 'store' ? (result.keptMs ?? 0) > ttlMs : (entry?.until ?? 0) > this.now() + ttlMs
    if (!keptLonger) return
    if (entry) entry.until = Math.min(entry.until, this.now() + ttlMs)
    if (!this.store.shorten) return
    const shortened = this.guarded(() => this.store.shorten!(key, ttlMs)).catch(() => {})
    waitUntil?.(shortened)
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

  async refresh(refreshToken: string, call: ProviderCall, ttlMs: number, waitUntil?: WaitUntil): Promise<FlightResult> {
    const key = await this.sealer.keyFor(refreshToken)
    const local = this.known(key)
    if (local) {
      this.delivered(key, local, ttlMs, waitUntil)
      return local
    }
    const running = this.inFlight.get(key)
    if (running) {
      const result = joined(await running)
      // A background flight that only learnt "someone else leads" has nothing for a request
      // that must wait: it coordinates itself (and finds that leader's result).
      if (result.reason !== 'pending') return result
    }
    if (this.inBackoff(key)) return { reason: 'backoff' }
    const result = await (this.inFlight.get(key) ?? this.share(key, ttlMs, () => this.coordinate(key, call, ttlMs, waitUntil)))
    if (result.reason === 'refreshed' && result.source === 'store') this.delivered(key, result, ttlMs, waitUntil)
    return result
  }

  async refreshInBackground(
    refreshToken: string,
    call: ProviderCall,
    ttlMs: number,
    waitUntil: WaitUntil,
    deliveredTtlMs: number,
  ): Promise<FlightResult> {
    const key = await this.sealer.keyFor(refreshToken)
    const local = this.known(key)
    if (local) {
      this.delivered(key, local, deliveredTtlMs, waitUntil)
      return local
    }
    if (this.inFlight.has(key)) return { reason: 'pending' }
    if (this.inBackoff(key)) return { reason: 'backoff' }
    // The flight is registered before the claim's round trip: concurrent requests of this
    // isolate join it instead of each claiming (and, with the store down, each refreshing).
    let answer!: (result: FlightResult) => void
    const firstAnswer = new Promise<FlightResult>((resolve) => (answer = resolve))
    const flight = this.share(key, ttlMs, async () => {
      let claim
      try {
        claim = await this.guarded(() => this.store.claim(key, this.leaseMs))
      } catch (error) {
        // The request learns at once what the policy does; a refresh in the isolate goes on after.
        answer(this.storeOutage === 'keep-session' ? { reason: 'store-unavailable' } : { reason: 'pending' })
        return this.onOutage(error, key, call, ttlMs, waitUntil)
      }
      if (claim.kind === 'result') {
        const result = await this.fromStored(key, claim.sealed)
        this.delivered(key, result, deliveredTtlMs, waitUntil)
        answer(result)
        return result
      }
      answer({ reason: 'pending' })
      if (claim.kind === 'lead') return this.lead(key, claim.lockId, call, ttlMs, waitUntil)
      return { reason: 'pending' }
    })
    waitUntil(flight)
    // Every path above answers first; this only covers a flight that failed before it could.
    void flight.then(answer)
    return firstAnswer
  }
}

/** A result another request in this isolate produced is, for this request, an isolate result. */
function joined(result: FlightResult): FlightResult {
  return result.reason === 'refreshed' || result.reason === 'invalid_grant' ? { ...result, source: 'isolate' } : result
}
