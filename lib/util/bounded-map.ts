/**
 * Sets `key` as the newest entry of `map` and, past `maxEntries`, drops the oldest. Maps iterate in
 * insertion order, so re-inserting a key makes it the newest and the first key is the oldest: the
 * per-isolate caches stay bounded without a timer.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, maxEntries: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > maxEntries) map.delete(map.keys().next().value as K)
}

/**
 * What one string key is counted as: two bytes per UTF-16 code unit (an upper bound; V8 keeps an
 * ASCII cookie in one byte per character), plus the Map entry itself.
 */
export function keyBytes(key: string): number {
  return 2 * key.length + ENTRY_OVERHEAD_BYTES
}

/** A Map entry, its hash-table slots and the value's small object, roughly. */
const ENTRY_OVERHEAD_BYTES = 64

/**
 * A Map with string keys bounded by entry count AND by the bytes its keys hold, for caches keyed by
 * a whole cookie value (which can be tens of KB). Oldest first out, like {@link setBounded}; a key
 * larger than the whole byte budget is not kept at all.
 *
 * The count is of the key's own characters: a key must not be a slice that keeps a larger string
 * alive. Cookie values from `NextRequest.cookies` are not (the parser's `decodeURIComponent` copies
 * them), and chunks joined by concatenation are flattened into one string on first lookup.
 */
export class BoundedStringMap<V> {
  readonly #map = new Map<string, V>()
  #bytes = 0
  /**
   * A live iterator at the oldest entry. A fresh `keys()` would walk past every slot deleted since
   * the table was last compacted (thousands, under churn) on each eviction; this one never goes
   * back. Map iterators are live: entries re-inserted at the end are met again there.
   */
  #oldest: Iterator<string> | undefined

  /**
   * @param maxEntries Upper bound on entries.
   * @param maxBytes Upper bound on the sum of {@link keyBytes} over the keys.
   */
  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.#map.size
  }

  /** Bytes the keys are counted as (see {@link keyBytes}). */
  get bytes(): number {
    return this.#bytes
  }

  get(key: string): V | undefined {
    return this.#map.get(key)
  }

  /** Sets `key` as the newest entry and drops the oldest until both bounds hold. */
  set(key: string, value: V): void {
    const bytes = keyBytes(key)
    if (bytes > this.maxBytes) {
      this.delete(key)
      return
    }
    const size = this.#map.size
    this.#map.set(key, value)
    if (this.#map.size === size) {
      // It was there, and Map.set keeps its old place: move it to the newest end.
      this.#map.delete(key)
      this.#map.set(key, value)
    } else {
      this.#bytes += bytes
    }
    while (this.#map.size > this.maxEntries || this.#bytes > this.maxBytes) this.#evictOldest()
  }

  #evictOldest(): void {
    let oldest = this.#oldest?.next()
    if (!oldest || oldest.done) {
      // Exhausted (an iterator that reached the end stays done): start over from the first entry.
      this.#oldest = this.#map.keys()
      oldest = this.#oldest.next()
    }
    if (!oldest.done) this.delete(oldest.value)
  }

  delete(key: string): boolean {
    if (!this.#map.delete(key)) return false
    this.#bytes -= keyBytes(key)
    return true
  }
}
