/**
 * The contract between single flight and a shared store. Values are opaque sealed strings; the
 * store never sees a token. Every method is one round trip to the store.
 */

/** Outcome of {@link RefreshStore.claim}. */
export type ClaimResult =
  /** A result is already there: use it. */
  | { kind: 'result'; sealed: string }
  /** This caller holds the lock for `leaseMs`: refresh, then {@link RefreshStore.publish} or {@link RefreshStore.release}. */
  | { kind: 'lead'; lockId: string }
  /**
   * Someone else holds the lock: poll with {@link RefreshStore.peek}. `lockTtlMs`, when the store
   * can tell in the same round trip: how long the lock had left (ms; `Infinity` without expiry). A
   * lock gone before then did not lapse: the store lost it (or the result published with it), and
   * its leader may still be out with the refresh token, so single flight does not claim again.
   */
  | { kind: 'wait'; lockTtlMs?: number }

/** Outcome of {@link RefreshStore.peek}. */
export type PeekResult = { kind: 'result'; sealed: string } | { kind: 'locked' } | { kind: 'free' }

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
  /** Result present → return it; else take the lock for `leaseMs` (ms) and lead; else wait. Atomic. */
  claim(key: string, leaseMs: number): Promise<ClaimResult>
  /** Writes the result for `ttlMs` (ms) and releases the lock if still held by `lockId`. Atomic. */
  publish(key: string, lockId: string, sealed: string, ttlMs: number): Promise<void>
  /** Releases the lock if still held by `lockId` (compare-and-delete); writes nothing. */
  release(key: string, lockId: string): Promise<void>
  /** Reads the result and whether the lock is held. */
  peek(key: string): Promise<PeekResult>
  /**
   * Shortens the result's remaining life to `ttlMs` (ms) if it is longer; never lengthens it.
   * Optional: a store without it keeps results for their full TTL.
   */
  shorten?(key: string, ttlMs: number): Promise<void>
}
