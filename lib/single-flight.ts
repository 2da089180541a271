import { setBounded } from './bounded-map'
import { describeError } from './errors'
import type { Sealer, StoredResult } from './sealing'
import type { RefreshStore } from './stores/store'
import type { Logger, RefreshOutcome, RefreshedTokens } from './types'

/**
 * What single flight came to for one request. `source` says where the answer came from:
 * this request's own provider call, another request in this isolate, or the shared store.
 * - `pending`: a background refresh is under way (or led elsewhere); the request goes on as it is.
 * - `backoff`: this token failed transiently a moment ago; no new attempt yet.
 */
export type FlightResult =
  | { reason: 'refreshed'; tokens: RefreshedTokens; source: FlightSource }
  | { reason: 'invalid_grant'; source: FlightSource }
  | { reason: 'transient'; detail: string }
  | { reason: 'pending' }
  | { reason: 'backoff' }

/** Where a {@link FlightResult} came from. */
export type FlightSource = 'provider' | 'isolate' | 'store'

/** Tuning of {@link createSingleFlight}; every duration in milliseconds. */
export interface SingleFlightOptions {
  store: RefreshStore
  sealer: Sealer
  /** How long a leader holds the lock; must exceed the provider timeout. Default 10 000 ms. */
  leaseMs?: number
  /** Budget for one store round trip before falling back to in-isolate refresh. Default 300 ms. */
  storeTimeoutMs?: number
  /** How long a dead-token mark is kept. Default 120 000 ms. */
  deadTtlMs?: number
  /** After a transient failure, requests for that token pass without a new attempt for this long. Default 2 000 ms. */
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

/** A provider call for one refresh token; it never throws (see {@link RefreshOutcome}). */
export type ProviderCall = () => Promise<RefreshOutcome>

/** One refresh per refresh token: in this isolate (a promise map) and across isolates (the store). */
export interface SingleFlight {
  /**
   * Refreshes, or joins the refresh already under way, and waits for its outcome.
   * @param ttlMs How long the result stays in the store for late requests with the old cookie, ms.
   */
  refresh(refreshToken: string, call: ProviderCall, ttlMs: number): Promise<FlightResult>
  /**
   * One store claim, no waiting: an existing result is returned; otherwise, if this request may
   * lead, the provider call runs in `waitUntil` and `pending` is returned.
   */
  refreshInBackground(refreshToken: string, call: ProviderCall, ttlMs: number, waitUntil: (promise: Promise<unknown>) => void): Promise<FlightResult>
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

/** Creates the single-flight coordinator. See {@link SingleFlightOptions} for defaults. */
export function createSingleFlight(options: SingleFlightOptions): SingleFlight {
  const { store, sealer, logger } = options
  const leaseMs = options.leaseMs ?? 10_000
  const storeTimeoutMs = options.storeTimeoutMs ?? 300
  const deadTtlMs = options.deadTtlMs ?? 120_000
  const retryAfterMs = options.retryAfterMs ?? 2_000
  const pollStartMs = options.pollStartMs ?? 10
  const pollMaxMs = options.pollMaxMs ?? 25
  const maxClaims = options.maxClaims ?? 3
  const now = options.now ?? Date.now

  const inFlight = new Map<string, Promise<FlightResult>>()
  // Results this isolate already knows, so a late request with the old cookie needs no round trip.
  const settled = new Map<string, { result: FlightResult; until: number }>()
  const backoffUntil = new Map<string, number>()
  let lastOutageWarning = -Infinity

  const remember = (key: string, result: FlightResult, ttlMs: number): void => {
    if (result.reason !== 'refreshed' && result.reason !== 'invalid_grant') return
    setBounded(settled, key, { result, until: now() + ttlMs }, LOCAL_RESULTS_MAX)
  }
  const known = (key: string): FlightResult | undefined => {
    const entry = settled.get(key)
    if (!entry) return undefined
    if (entry.until > now()) return { ...entry.result, source: 'isolate' } as FlightResult
    settled.delete(key)
    return undefined
  }
  const inBackoff = (key: string): boolean => {
    const until = backoffUntil.get(key)
    if (until === undefined) return false
    if (until > now()) return true
    backoffUntil.delete(key)
    return false
  }

  const guarded = <T>(operation: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StoreUnavailableError(`store answered slower than ${storeTimeoutMs} ms`)), storeTimeoutMs)
      operation().then(
        (value) => { clearTimeout(timer); resolve(value) },
        (error: unknown) => { clearTimeout(timer); reject(new StoreUnavailableError(describeError(error))) },
      )
    })

  const warnOutage = (error: unknown): void => {
    if (now() - lastOutageWarning < WARN_INTERVAL_MS) return
    lastOutageWarning = now()
    logger.warn(`[edge-refresh] ${store.kind} store unavailable (${describeError(error)}); refreshing with in-isolate single flight only. Further warnings suppressed for 60 s.`)
  }

  const fromStored = (stored: StoredResult | null): FlightResult => {
    if (!stored) return { reason: 'transient', detail: 'store held a result this secret cannot open' }
    return stored.kind === 'dead' ? { reason: 'invalid_grant', source: 'store' } : { reason: 'refreshed', tokens: stored.tokens, source: 'store' }
  }

  /** Calls the provider as leader and hands the outcome over through the store. */
  const lead = async (key: string, lockId: string | undefined, call: ProviderCall, ttlMs: number): Promise<FlightResult> => {
    const outcome = await call()
    if (outcome.reason === 'transient') {
      setBounded(backoffUntil, key, now() + retryAfterMs, BACKOFF_MAX)
      if (lockId) await guarded(() => store.release(key, lockId)).catch(warnOutage)
      return { reason: 'transient', detail: outcome.detail }
    }
    const stored: StoredResult = outcome.reason === 'refreshed' ? { kind: 'refreshed', tokens: outcome.tokens } : { kind: 'dead' }
    const sealed = await sealer.seal(key, stored)
    const storeTtl = stored.kind === 'dead' ? deadTtlMs : ttlMs
    if (lockId) {
      await guarded(() => store.publish(key, lockId, sealed, storeTtl)).catch(warnOutage)
    } else {
      // Refreshed without the lock (the store was down or slow). If it is merely slow, the result
      // may still land there, and other isolates must find it rather than present the spent
      // token. Best effort and not awaited: the request must not wait on a store judged unusable.
      void store.publish(key, FALLBACK_LOCK_ID, sealed, storeTtl).catch(() => {})
    }
    return outcome.reason === 'refreshed'
      ? { reason: 'refreshed', tokens: outcome.tokens, source: 'provider' }
      : { reason: 'invalid_grant', source: 'provider' }
  }

  /** Claims, leads or waits, until a result or the claim budget is spent. */
  const coordinate = async (key: string, call: ProviderCall, ttlMs: number): Promise<FlightResult> => {
    for (let claims = 0; claims < maxClaims; claims++) {
      let claim
      try {
        claim = await guarded(() => store.claim(key, leaseMs))
      } catch (error) {
        warnOutage(error)
        return lead(key, undefined, call, ttlMs)
      }
      if (claim.kind === 'result') return fromStored(await sealer.open(key, claim.sealed))
      if (claim.kind === 'lead') return lead(key, claim.lockId, call, ttlMs)
      const waited = await waitForResult(key)
      if (waited === 'fallback') return lead(key, undefined, call, ttlMs)
      if (waited) return waited
    }
    return { reason: 'transient', detail: `no result after ${maxClaims} claims` }
  }

  /** Polls until a result, the lock vanishing (undefined: claim again) or a store outage. */
  const waitForResult = async (key: string): Promise<FlightResult | undefined | 'fallback'> => {
    const deadline = now() + leaseMs
    let delay = pollStartMs
    while (now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, delay))
      delay = Math.min(delay * 1.5, pollMaxMs)
      let peeked
      try {
        peeked = await guarded(() => store.peek(key))
      } catch (error) {
        warnOutage(error)
        return 'fallback'
      }
      if (peeked.kind === 'result') return fromStored(await sealer.open(key, peeked.sealed))
      if (peeked.kind === 'free') return undefined
    }
    return undefined
  }

  const share = (key: string, ttlMs: number, run: () => Promise<FlightResult>): Promise<FlightResult> => {
    const promise = run()
      .catch((error: unknown): FlightResult => ({ reason: 'transient', detail: describeError(error) }))
      .then((result) => {
        remember(key, result, ttlMs)
        return result
      })
      .finally(() => inFlight.delete(key))
    inFlight.set(key, promise)
    return promise
  }

  return {
    async refresh(refreshToken, call, ttlMs) {
      const key = await sealer.keyFor(refreshToken)
      const local = known(key)
      if (local) return local
      const running = inFlight.get(key)
      if (running) return joined(await running)
      if (inBackoff(key)) return { reason: 'backoff' }
      return share(key, ttlMs, () => coordinate(key, call, ttlMs))
    },

    async refreshInBackground(refreshToken, call, ttlMs, waitUntil) {
      const key = await sealer.keyFor(refreshToken)
      const local = known(key)
      if (local) return local
      if (inFlight.has(key)) return { reason: 'pending' }
      if (inBackoff(key)) return { reason: 'backoff' }
      let claim
      try {
        claim = await guarded(() => store.claim(key, leaseMs))
      } catch (error) {
        warnOutage(error)
        waitUntil(share(key, ttlMs, () => lead(key, undefined, call, ttlMs)))
        return { reason: 'pending' }
      }
      if (claim.kind === 'result') {
        const result = fromStored(await sealer.open(key, claim.sealed))
        remember(key, result, ttlMs)
        return result
      }
      if (claim.kind === 'lead') waitUntil(share(key, ttlMs, () => lead(key, claim.lockId, call, ttlMs)))
      return { reason: 'pending' }
    },
  }
}

/** A result another request in this isolate produced is, for this request, an isolate result. */
function joined(result: FlightResult): FlightResult {
  return result.reason === 'refreshed' || result.reason === 'invalid_grant' ? { ...result, source: 'isolate' } : result
}
