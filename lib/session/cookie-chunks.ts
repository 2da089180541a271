/**
 * Splitting a session cookie into chunks and putting it back together, as next-auth does:
 * a value longer than the chunk size is written as `name.0`, `name.1`, … Pure functions.
 */

/** A cookie name and value. */
export interface CookiePart {
  name: string
  value: string
}

/**
 * Reads a possibly chunked cookie.
 *
 * An unchunked cookie wins over chunks of the same name (next-auth writes one or the other; a
 * left-over pair means the chunks are the stale ones). Chunks are joined in index order and
 * only while the indexes are contiguous from 0: a gap means a chunk was lost, and joining around
 * it would hand the decoder a corrupt value.
 *
 * @param cookies All cookies of the request.
 * @param name The cookie's base name.
 * @returns The joined value and the names it was read from, or `null` when absent or broken.
 */
export function readChunkedCookie(cookies: readonly CookiePart[], name: string): { value: string; names: string[] } | null {
  const whole = cookies.find((cookie) => cookie.name === name)
  if (whole) return { value: whole.value, names: [name] }
  const chunks = new Map<number, string>()
  for (const cookie of cookies) {
    const index = chunkIndex(cookie.name, name)
    if (index !== undefined) chunks.set(index, cookie.value)
  }
  if (chunks.size === 0) return null
  const names: string[] = []
  let value = ''
  for (let index = 0; index < chunks.size; index++) {
    const part = chunks.get(index)
    if (part === undefined) return null
    value += part
    names.push(`${name}.${index}`)
  }
  return { value, names }
}

/**
 * Splits a value into the cookies to write. A value that fits is written under `name` itself.
 *
 * @param name The cookie's base name.
 * @param value The full value.
 * @param chunkSize Maximum characters per cookie value (next-auth v4: 3933, Auth.js: 3936).
 */
export function splitIntoChunks(name: string, value: string, chunkSize: number): CookiePart[] {
  if (value.length <= chunkSize) return [{ name, value }]
  const parts: CookiePart[] = []
  for (let index = 0; index * chunkSize < value.length; index++) {
    parts.push({ name: `${name}.${index}`, value: value.slice(index * chunkSize, (index + 1) * chunkSize) })
  }
  return parts
}

/**
 * The names of every cookie of this session (whole or chunk) that the new set of cookies no longer
 * uses. They must be expired, or a later read would join a stale chunk onto the new value.
 *
 * @param cookies All cookies of the request.
 * @param name The cookie's base name.
 * @param written The cookies about to be written.
 */
export function staleChunkNames(cookies: readonly CookiePart[], name: string, written: readonly CookiePart[]): string[] {
  const keep = new Set(written.map((cookie) => cookie.name))
  return cookies
    .map((cookie) => cookie.name)
    .filter((cookieName) => (cookieName === name || chunkIndex(cookieName, name) !== undefined) && !keep.has(cookieName))
}

function chunkIndex(cookieName: string, name: string): number | undefined {
  if (!cookieName.startsWith(`${name}.`)) return undefined
  const suffix = cookieName.slice(name.length + 1)
  return /^(0|[1-9]\d{0,3})$/.test(suffix) ? Number(suffix) : undefined
}
