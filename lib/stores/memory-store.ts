import { DEFAULTS } from '../defaults.js'
import type { AttemptMark, ClaimResult, ExtendResult, PeekResult, RefreshStore } from './store.js'

interface Entry {
  value: string
  /** Epoch ms. */
  expiresAt: number
}

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** Clock in epoch ms; injectable for tests. Default `Date.now`. */
  now?: () => number
  /**
   * Upper bound on results kept; past it the oldest results are dropped first. Live locks and
   * attempt marks are never dropped to make room (that would let a second caller lead with the same
   * refresh token): a claim that finds them all live and the bound reached waits instead. Default 10 000.
   */
  maxEntries?: number
}

/**
 * A store held in this process's memory: single flight within one isolate or one Node server.
 * It cannot coordinate separate edge isolates or regions; use `upstashStore` for that.
 */
export function memoryStore(options: MemoryStoreOptions = {}): RefreshStore {
  const now = options.now ?? Date.now
  const maxEntries = options.maxEntries ?? DEFAULTS.memoryStoreMaxEntries
  const results = new Map<string, Entry>()
  const locks = new Map<string, Entry>()
  const attempts = new Map<string, Entry>()

  const live = (map: Map<string, Entry>, key: string): Entry | undefined => {
    const entry = map.get(key)
    if (entry && entry.expiresAt <= now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }
  /** Drops expired entries, oldest first, until `map` has room; returns whether it has. */
  const makeRoom = (map: Map<string, Entry>): boolean => {
    if (map.size < maxEntries) return true
    const at = now()
    for (const [key, entry] of map) {
      if (entry.expiresAt <= at) map.delete(key)
      if (map.size < maxEntries) return true
    }
    return false
  }
  const set = (map: Map<string, Entry>, key: string, value: string, ttlMs: number) => {
    map.delete(key)
    map.set(key, { value, expiresAt: now() + ttlMs })
  }

  return {
    kind: 'memory',
    shared: false,
    async claim(key, leaseMs, attempt?: AttemptMark): Promise<ClaimResult> {
      const result = live(results, key)
      if (result) return { kind: 'result', sealed: result.value }
      if (live(locks, key)) return { kind: 'wait' }
      const mark = live(attempts, key)
      if (mark) return { kind: 'attempted', sealed: mark.value }
      // Full of live locks or marks: dropping one would let a second leader present its token.
      if (!makeRoom(locks) || (attempt && !makeRoom(attempts))) return { kind: 'wait' }
      const lockId = crypto.randomUUID()
      set(locks, key, lockId, leaseMs)
      if (attempt) set(attempts, key, attempt.sealed, attempt.ttlMs)
      return { kind: 'lead', lockId }
    },
    async publish(key, lockId, sealed, ttlMs) {
      // Results may be dropped, oldest first: a dropped result is a late cookie's lost hand-over,
      // never a second leader, because its attempt mark is removed only here, with it.
      if (!results.has(key) && results.size >= maxEntries && !makeRoom(results)) results.delete(results.keys().next().value!)
      set(results, key, sealed, ttlMs)
      attempts.delete(key)
      if (live(locks, key)?.value === lockId) locks.delete(key)
    },
    async extend(key, lockId, leaseMs): Promise<ExtendResult> {
      const lock = live(locks, key)
      if (lock && lock.value !== lockId) return 'lost'
      set(locks, key, lockId, leaseMs)
      return lock ? 'extended' : 'retaken'
    },
    async peek(key): Promise<PeekResult> {
      const result = live(results, key)
      if (result) return { kind: 'result', sealed: result.value }
      if (live(locks, key)) return { kind: 'locked' }
      const mark = live(attempts, key)
      return mark ? { kind: 'attempted', sealed: mark.value } : { kind: 'free' }
    },
    async shorten(key, ttlMs) {
      const result = live(results, key)
      if (result) result.expiresAt = Math.min(result.expiresAt, now() + ttlMs)
    },
  }
}
