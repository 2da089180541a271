import { DEFAULTS } from '../defaults.js'
import { RefreshConfigError } from '../errors.js'

/** The timing options a user may set (all in milliseconds); see `RefreshOptions` for each. */
export interface TimingOptions {
  providerTimeoutMs?: number
  providerCallLimitMs?: number
  storeTimeoutMs?: number
  leaseMs?: number
  deadlineMs?: number
  retryAfterMs?: number
  graceSeconds?: number
}

/**
 * Every duration single flight works with, derived and checked once from the user's options by
 * {@link resolveTiming}. Nothing else computes a timing: the coordinator, the engine and the
 * database refresher read them from here. All in milliseconds.
 */
export interface RefreshTiming {
  /** How long a request waits for the provider before it goes on without the answer. */
  readonly providerTimeoutMs: number
  /** The longest a provider call stays open; then it is aborted and its token marked in doubt. */
  readonly providerCallLimitMs: number
  /** Budget of one store round trip. */
  readonly storeTimeoutMs: number
  /** Lock lease; renewed every `renewEveryMs` while the leader's call is open. */
  readonly leaseMs: number
  /** Pause between two renewals of a lease: a third of it. */
  readonly renewEveryMs: number
  /**
   * How long before the end of the last lease the store confirmed a leader gives up on its call
   * when renewals fail: one store round trip to mark the token in doubt, plus a margin.
   */
  readonly abortBeforeLeaseEndMs: number
  /** The most one request spends in single flight, waiting included. */
  readonly deadlineMs: number
  /** The budget of the leader's save of the answer (`RunOptions.persist`): one store round trip. */
  readonly persistTimeoutMs: number
  /** How long a delivered result stays in the store for requests with the old cookie. */
  readonly graceMs: number
  /** Rest after a transient failure. */
  readonly retryAfterMs: number
  /**
   * How long after an attempt began its leader may still publish: the call's limit plus a lease to
   * publish in. A mark older than this without a result is an outcome nobody will learn.
   */
  readonly attemptSettlesWithinMs: number
}

/** Room kept for clock drift between this isolate and the store, and for timers firing late, ms. */
export const SAFETY_MARGIN_MS = 500

/**
 * The rule `leaseMs` must satisfy, in words and numbers, for the error message and the docs. The
 * leader renews every third of the lease. A renewal that fails is known to have failed one store
 * round trip after it was sent; the leader then needs one more round trip to mark the token in
 * doubt, plus {@link SAFETY_MARGIN_MS}, all before the lease the previous renewal confirmed ends:
 * `leaseMs − leaseMs / 3 ≥ 2 × storeTimeoutMs + 500`, that is `leaseMs ≥ 3 × storeTimeoutMs + 750`.
 */
export function minimumLeaseMs(storeTimeoutMs: number): number {
  return 3 * storeTimeoutMs + 1.5 * SAFETY_MARGIN_MS
}

/**
 * Derives every timing from the user's options and checks that they fit together.
 *
 * @throws {RefreshConfigError} `CONFIG_INVALID_OPTION`, naming the option and the rule it breaks.
 */
export function resolveTiming(options: TimingOptions): RefreshTiming {
  const providerTimeoutMs = positive('providerTimeoutMs', options.providerTimeoutMs, DEFAULTS.providerTimeoutMs)
  const storeTimeoutMs = positive('storeTimeoutMs', options.storeTimeoutMs, DEFAULTS.storeTimeoutMs)
  const leaseMs = positive('leaseMs', options.leaseMs, DEFAULTS.leaseMs)
  const deadlineMs = positive('deadlineMs', options.deadlineMs, DEFAULTS.deadlineMs)
  const providerCallLimitMs = positive('providerCallLimitMs', options.providerCallLimitMs, DEFAULTS.providerCallLimitMs)
  const retryAfterMs = nonNegative('retryAfterMs', options.retryAfterMs, DEFAULTS.retryAfterMs)
  const graceMs = positive('graceSeconds', options.graceSeconds, DEFAULTS.graceSeconds) * 1000
  if (leaseMs < minimumLeaseMs(storeTimeoutMs)) {
    throw new RefreshConfigError(
      'CONFIG_INVALID_OPTION',
      `leaseMs (${leaseMs}) must be at least 3 × storeTimeoutMs + 750 (${minimumLeaseMs(storeTimeoutMs)}): the lease is renewed every third of it, and a leader whose renewal fails needs two store round trips and a 500 ms margin before the lease ends to stop its call and mark the token in doubt`,
    )
  }
  if (deadlineMs < providerTimeoutMs + storeTimeoutMs) {
    throw new RefreshConfigError(
      'CONFIG_INVALID_OPTION',
      `deadlineMs (${deadlineMs}) must be at least providerTimeoutMs + storeTimeoutMs (${providerTimeoutMs + storeTimeoutMs}): a request claims, then waits for the provider`,
    )
  }
  if (providerCallLimitMs < providerTimeoutMs) {
    throw new RefreshConfigError(
      'CONFIG_INVALID_OPTION',
      `providerCallLimitMs (${providerCallLimitMs}) must be at least providerTimeoutMs (${providerTimeoutMs}): a call outlives the request that started it, never the other way round`,
    )
  }
  return {
    providerTimeoutMs,
    providerCallLimitMs,
    storeTimeoutMs,
    leaseMs,
    renewEveryMs: leaseMs / 3,
    abortBeforeLeaseEndMs: storeTimeoutMs + SAFETY_MARGIN_MS,
    deadlineMs,
    persistTimeoutMs: storeTimeoutMs,
    graceMs,
    retryAfterMs,
    attemptSettlesWithinMs: providerCallLimitMs + leaseMs,
  }
}

/** @throws {RefreshConfigError} unless `value` is undefined or a finite number >= 0. */
export function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RefreshConfigError('CONFIG_INVALID_OPTION', `${name} must be a finite number >= 0, got ${String(value)}`)
  }
  return value
}

/** @throws {RefreshConfigError} unless `value` is undefined or a finite number > 0. */
export function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RefreshConfigError('CONFIG_INVALID_OPTION', `${name} must be a finite number > 0, got ${String(value)}`)
  }
  return value
}
