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
