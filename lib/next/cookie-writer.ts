import { NextResponse, type NextRequest } from 'next/server.js'
import { splitIntoChunks, staleChunkNames, type CookiePart } from '../session/cookie-chunks.js'
import { CHUNK_SIZE, type SessionCookieLocation } from '../session/session-cookie.js'

/** The cookies one session write sets and expires. */
export interface SessionCookieWrite {
  set: CookiePart[]
  expire: string[]
  secure: boolean
  /** Seconds; next-auth's `session.maxAge`. */
  maxAge: number
}

/**
 * Plans the cookies for a new session JWT: the chunks it needs, and the chunks of the old value it
 * no longer uses (left in place, a later read would join them onto the new value).
 *
 * @param requestCookies All cookies the request carried.
 * @param location Where the session was read from; it is written back under the same name.
 * @param jwt The encoded session.
 * @param maxAge Cookie Max-Age, seconds.
 */
export function planSessionCookies(
  requestCookies: readonly CookiePart[],
  location: SessionCookieLocation,
  jwt: string,
  maxAge: number,
): SessionCookieWrite {
  const set = splitIntoChunks(location.name, jwt, CHUNK_SIZE[location.format])
  return { set, expire: staleChunkNames(requestCookies, location.name, set), secure: location.secure, maxAge }
}

/**
 * Lets the request go on to the app carrying the new session, and sends it to the browser.
 * The forwarded request gets the cookie too: with a response cookie alone, `cookies()`,
 * `headers()` and `getServerSession` in this very request would still see the old session.
 */
export function forwardWithSession(request: NextRequest, write: SessionCookieWrite): NextResponse {
  const header = request.headers.get('cookie') ?? ''
  // `request.cookies` first, so that code reading them later in this middleware (the app's own,
  // behind `withRefresh`) sees the new session; it re-serialises every cookie, though, so the
  // header is then rewritten from the original with only the session's own cookies changed.
  for (const name of write.expire) request.cookies.delete(name)
  for (const cookie of write.set) request.cookies.set(cookie.name, cookie.value)
  request.headers.set('cookie', replaceSessionCookies(header, write))
  const response = NextResponse.next({ request: { headers: request.headers } })
  return withSessionCookies(response, write)
}

/**
 * A `Cookie` header with the session's cookies replaced and every other pair left byte for byte as
 * the browser sent it (values the cookie parser would drop or re-encode included).
 */
export function replaceSessionCookies(header: string, write: Pick<SessionCookieWrite, 'set' | 'expire'>): string {
  const replaced = new Set([...write.expire, ...write.set.map((cookie) => cookie.name)])
  const kept = header
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair.length > 0 && !replaced.has((pair.includes('=') ? pair.slice(0, pair.indexOf('=')) : pair).trim()))
  return [...kept, ...write.set.map((cookie) => `${cookie.name}=${cookie.value}`)].join('; ')
}

/** A redirect that also carries the new session (used when a navigation must sign in again). */
export function redirectWithSession(location: URL, write: SessionCookieWrite): NextResponse {
  return withSessionCookies(NextResponse.redirect(location, 307), write)
}

/** Sets the planned cookies on any response, with `Cache-Control: private, no-store`. */
export function withSessionCookies(response: NextResponse, write: SessionCookieWrite): NextResponse {
  const attributes = { httpOnly: true, sameSite: 'lax' as const, path: '/', secure: write.secure }
  for (const name of write.expire) response.cookies.set(name, '', { ...attributes, maxAge: 0 })
  for (const cookie of write.set) response.cookies.set(cookie.name, cookie.value, { ...attributes, maxAge: write.maxAge })
  // A response that sets a session cookie must never be stored by a shared cache.
  response.headers.set('Cache-Control', 'private, no-store')
  return response
}
