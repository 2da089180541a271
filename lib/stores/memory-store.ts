import { DEFAULTS } from '../defaults'
import { setBounded } from '../util/bounded-map'
import type { ClaimResult, PeekResult, RefreshStore } from './store'

interface Entry {
  value: string
  /** Epoch ms. */
  expiresAt: number
}

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** Clock in epoch ms; injectable for tests. Default `Date.now`. */
  now?: () => number
  /** Upper bound on entries kept; the oldest are dropped first. Default 10 000. */
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

  const live = (map: Map<string, Entry>, key: string): Entry | undefined => {
    const entry = map.get(key)
    if (entry && entry.expiresAt <= now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }

  return {
    kind: 'memory',
    shared: false,
    async claim(key, leaseMs): Promise<ClaimResult> {
      const result = live(results, key)
      if (result) return { kind: 'result', sealed: result.value }
      if (live(locks, key)) return { kind: 'wait' }
      const lockId = crypto.randomUUID()
      setBounded(locks, key, { value: lockId, expiresAt: now() + leaseMs }, maxEntries)
      return { kind: 'lead', lockId }
    },
    async publish(key, lockId, sealed, ttlMs) {
      setBounded(results, key, { value: sealed, expiresAt: now() + ttlMs }, maxEntries)
      if (live(locks, key)?.value === lockId) locks.delete(key)
    },
    async release(key, lockId) {
      if (live(locks, key)?.value === lockId) locks.delete(key)
    },
    async peek(key): Promise<PeekResult> {
      const result = live(results, key)
      if (result) return { kind: 'result', sealed: result.value }
      return live(locks, key) ? { kind: 'locked' } : { kind: 'free' }
    },
    async shorten(key, ttlMs) {
      const result = live(results, key)
      if (result) result.expiresAt = Math.min(result.expiresAt, now() + ttlMs)
    },
  }
}
