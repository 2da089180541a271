import { BoundedStringMap } from './bounded-map.js'

/**
 * A small per-isolate memo: concurrent and repeated computations for the same key share one
 * promise for `ttlMs`. Bounded: past `maxEntries` entries, or `maxBytes` of keys, the oldest entry
 * goes first.
 */
export interface Memo<V> {
  /** Returns the remembered promise for `key`, or runs `compute` and remembers it. A rejection is not remembered. */
  get(key: string, compute: () => Promise<V>): Promise<V>
  /** Drops what is remembered for `key`, if anything. */
  forget(key: string): void
}

/**
 * @param ttlMs How long a value is reused, ms.
 * @param maxEntries Upper bound on remembered keys.
 * @param now Clock, epoch ms.
 * @param maxBytes Upper bound on the bytes the keys hold (see `keyBytes`); default: no bound but the
 * count. Set it when keys can be large (a whole cookie value).
 */
export function createMemo<V>(ttlMs: number, maxEntries: number, now: () => number, maxBytes = Number.POSITIVE_INFINITY): Memo<V> {
  const entries = new BoundedStringMap<{ value: Promise<V>; until: number }>(maxEntries, maxBytes)
  return {
    get(key, compute) {
      const entry = entries.get(key)
      if (entry && entry.until > now()) return entry.value
      if (entry) entries.delete(key)
      const value = compute()
      entries.set(key, { value, until: now() + ttlMs })
      value.catch(() => entries.delete(key))
      return value
    },
    forget(key) {
      entries.delete(key)
    },
  }
}
