import { setBounded } from './bounded-map'

/**
 * A small per-isolate memo: concurrent and repeated computations for the same key share one
 * promise for `ttlMs`. Bounded: past `maxEntries` the oldest entry goes first.
 */
export interface Memo<V> {
  /** Returns the remembered promise for `key`, or runs `compute` and remembers it. A rejection is not remembered. */
  get(key: string, compute: () => Promise<V>): Promise<V>
}

/**
 * @param ttlMs How long a value is reused, ms.
 * @param maxEntries Upper bound on remembered keys.
 * @param now Clock, epoch ms.
 */
export function createMemo<V>(ttlMs: number, maxEntries: number, now: () => number): Memo<V> {
  const entries = new Map<string, { value: Promise<V>; until: number }>()
  return {
    get(key, compute) {
      const entry = entries.get(key)
      if (entry && entry.until > now()) return entry.value
      if (entry) entries.delete(key)
      const value = compute()
      setBounded(entries, key, { value, until: now() + ttlMs }, maxEntries)
      value.catch(() => entries.delete(key))
      return value
    },
  }
}
