/**
 * The contract between single flight and a shared store. Values are opaque sealed strings; the
 * store never sees a token. Every method is one round trip to the store, and atomic.
 *
 * Per refresh token the store keeps three entries under one key: the result, the lock (with its
 * lease), and the attempt mark. The mark is what makes "never present one refresh token twice"
 * survive a leader that vanished: it is written together with the lock, outlives the lease, and
 * only a published result (or back-off) removes it. A lock that lapsed while its mark is still there
 * means a call whose outcome nobody knows; single flight never leads on it.
 */

/** The attempt mark written with a lock: sealed by the caller, kept `ttlMs` (ms) unless a publish removes it. */
export interface AttemptMark {
  /** The mark's value, sealed by the caller: the store keeps it opaque. */
  sealed: string
  /** How long the mark lives unless a publish removes it, ms. */
  ttlMs: number
}

/** Per-call options of {@link RefreshStore.claim}. */
export interface ClaimOptions {
  /** How long the caller waits for this claim, ms; a claim the store would apply later applies nothing. Default: no limit. */
  appliedWithinMs?: number
  /**
   * How long a store that can tell it lost its data (a Redis restarted without persistence) lets
   * no caller lead afterwards, ms: a lost lock may belong to a leader whose refresh token is at the
   * provider right now. Single flight passes `leaseMs`: such a leader renews its lease every third
   * of it, and a renewal in an emptied store takes its lock back, so after one lease every live
   * leader holds its lock again. Default: `leaseMs`.
   */
  leaderMayBeOutMs?: number
}

/** Outcome of {@link RefreshStore.claim}. */
export type ClaimResult =
  /** A result is already there: use it. */
  | { kind: 'result'; sealed: string }
  /** This caller holds the lock for `leaseMs` (and its attempt mark is written): refresh, then {@link RefreshStore.publish}. */
  | { kind: 'lead'; lockId: string }
  /**
   * Someone else holds the lock: poll with {@link RefreshStore.peek}. `lockTtlMs`, when the store
   * can tell in the same round trip: how long the lock had left (ms; `Infinity` without expiry). A
   * lock gone before then did not lapse: the store lost it (or the result published with it), and
   * its leader may still be out with the refresh token, so single flight does not claim again.
   */
  | { kind: 'wait'; lockTtlMs?: number }
  /** No result and no lock, but an earlier attempt's mark (`sealed`): its outcome is not known. Nobody leads. */
  | { kind: 'attempted'; sealed: string }

/** Outcome of {@link RefreshStore.peek}. */
export type PeekResult = { kind: 'result'; sealed: string } | { kind: 'locked' } | { kind: 'attempted'; sealed: string } | { kind: 'free' }

/** Outcome of {@link RefreshStore.extend}. */
export type ExtendResult =
  /** The lock was this caller's and now lives `leaseMs` more. */
  | 'extended'
  /** The lock was gone (the store lost it) and nobody else held it: this caller holds it again for `leaseMs`. */
  | 'retaken'
  /** Another caller holds the lock. */
  | 'lost'

/** A store that lets many isolates agree on one refresh per refresh token. */
export interface RefreshStore {
  /** Human-readable kind, for logs (`memory`, `upstash`). */
  readonly kind: string
  /**
   * Whether every isolate and server of the app sees this same store. Default true. `false`
   * (memoryStore) turns proactive refreshes into foreground ones: a result left in a store that
   * other isolates cannot read would never reach them.
   */
  readonly shared?: boolean
  /**
   * Result present → return it; lock held → wait; attempt mark present → `attempted`; else take the
   * lock for `leaseMs` (ms), write `attempt` (if given) and lead. Atomic.
   *
   * `options.appliedWithinMs`: the caller gives up on this claim after that long (ms). A store whose
   * commands can be applied later than sent (a network store: a paused server, a queue replayed
   * after a reconnect) should then apply nothing and answer `wait`: a claim applied after its
   * caller left would write an attempt mark for a call nobody makes, and after the mark settles its
   * refresh token would count as in doubt and the login would end. Best effort: a store that cannot
   * tell may ignore it.
   */
  claim(key: string, leaseMs: number, attempt?: AttemptMark, options?: ClaimOptions): Promise<ClaimResult>
  /**
   * Writes the result for `ttlMs` (ms), removes the attempt mark, and releases the lock if still
   * held by `lockId`. Atomic. A `lockId` that matches no lock (a late answer) still writes the result.
   */
  publish(key: string, lockId: string, sealed: string, ttlMs: number): Promise<void>
  /** Keeps the lock of `lockId` for `leaseMs` (ms) more while its leader's call is still open; see {@link ExtendResult}. Atomic. */
  extend(key: string, lockId: string, leaseMs: number): Promise<ExtendResult>
  /** Reads the result, whether the lock is held, and the attempt mark. */
  peek(key: string): Promise<PeekResult>
  /**
   * Shortens the result's remaining life to `ttlMs` (ms) if it is longer; never lengthens it.
   * Optional: a store without it keeps results for their full TTL.
   */
  shorten?(key: string, ttlMs: number): Promise<void>
}
