import { decode as decodeV4, encode as encodeV4 } from 'next-auth/jwt'
import { decode as decodeV5, encode as encodeV5 } from '@auth/core/jwt'
import { readChunkedCookie, type CookiePart } from './cookie-chunks'
import type { SessionPayload } from './session-fields'
import type { CookieSource } from './types'

/**
 * The two session-cookie formats in the field:
 * - `next-auth-v4`: `next-auth.session-token`, JWE dir/A256GCM, HKDF with an empty salt.
 * - `authjs-v5`: `authjs.session-token`, JWE dir/A256CBC-HS512, HKDF salt = the cookie name.
 */
export type SessionFormat = 'next-auth-v4' | 'authjs-v5'

/** Where a session was read from, so it can be written back under the same name. */
export interface SessionCookieLocation {
  /** Base cookie name (without a chunk suffix). */
  name: string
  format: SessionFormat
  /** Whether the cookie must carry `Secure` (true for every `__Secure-` name). */
  secure: boolean
  /** The cookie names it was read from (`name`, or `name.0`, `name.1`, …). */
  names: string[]
}

/** A session read from the request: the raw JWT, its payload and where it came from. */
export interface ReadSession {
  jwt: string
  payload: SessionPayload
  location: SessionCookieLocation
}

/** How the session cookie is named; by default every name next-auth and Auth.js use is tried. */
export interface SessionCookieOptions {
  /** Secrets, newest first. The first one encodes; any of them decodes (rotation). */
  secrets: readonly string[]
  /** A custom session cookie name (next-auth's `cookies.sessionToken.name`). Default: the standard names. */
  cookieName?: string
  /** Format of a custom-named cookie. Default `next-auth-v4`, the installed next-auth line. */
  format?: SessionFormat
  /** Force `Secure` on (true) or off (false) for a custom name. Default: true exactly for `__Secure-` names. */
  secureCookie?: boolean
}

/** next-auth v4 splits above 4096 − 163 characters; Auth.js above 4096 − 160. */
export const CHUNK_SIZE: Record<SessionFormat, number> = { 'next-auth-v4': 3933, 'authjs-v5': 3936 }

/**
 * The standard names, most specific first. Which one is present decides the format, so the request's
 * scheme is never consulted: behind a proxy it would come from a header the client can forge, and
 * browsers only send `__Secure-` cookies over https anyway.
 */
const STANDARD_NAMES: ReadonlyArray<{ name: string; format: SessionFormat; secure: boolean }> = [
  { name: '__Secure-next-auth.session-token', format: 'next-auth-v4', secure: true },
  { name: '__Secure-authjs.session-token', format: 'authjs-v5', secure: true },
  { name: 'next-auth.session-token', format: 'next-auth-v4', secure: false },
  { name: 'authjs.session-token', format: 'authjs-v5', secure: false },
]

/**
 * Finds the session cookie (joining chunks) without decoding it.
 *
 * @returns The raw JWT and where it was found, or `null` when there is none or its chunks are broken.
 */
export function findSessionCookie(cookies: CookieSource, options: SessionCookieOptions): { jwt: string; location: SessionCookieLocation } | null {
  const all = cookies.getAll()
  for (const candidate of candidateNames(options)) {
    const found = readChunkedCookie(all, candidate.name)
    if (found) return { jwt: found.value, location: { ...candidate, names: found.names } }
  }
  return null
}

/**
 * Finds and decodes the session cookie with next-auth's own codec (v4) or Auth.js's (v5).
 *
 * @returns The session, or `null` for anything that cannot be read: no cookie, a broken chunk
 * sequence, a tampered or expired JWT, a wrong secret. Never throws for bad input.
 */
export async function readSessionCookie(cookies: CookieSource, options: SessionCookieOptions): Promise<ReadSession | null> {
  const found = findSessionCookie(cookies, options)
  if (!found) return null
  const payload = await decodeSession(found.jwt, found.location.name, found.location.format, options.secrets)
  return payload ? { ...found, payload } : null
}

function candidateNames(options: SessionCookieOptions): ReadonlyArray<{ name: string; format: SessionFormat; secure: boolean }> {
  if (!options.cookieName) return STANDARD_NAMES
  return [
    {
      name: options.cookieName,
      format: options.format ?? 'next-auth-v4',
      secure: options.secureCookie ?? options.cookieName.startsWith('__Secure-'),
    },
  ]
}

/**
 * Decodes a session JWT. Returns `null` instead of throwing for anything unreadable.
 *
 * @param jwt The joined cookie value.
 * @param name The base cookie name (Auth.js uses it as the HKDF salt).
 */
export async function decodeSession(jwt: string, name: string, format: SessionFormat, secrets: readonly string[]): Promise<SessionPayload | null> {
  try {
    if (format === 'authjs-v5') {
      return ((await decodeV5({ token: jwt, secret: [...secrets], salt: name })) as SessionPayload | null) ?? null
    }
    for (const secret of secrets) {
      try {
        const payload = await decodeV4({ token: jwt, secret })
        if (payload) return payload as SessionPayload
      } catch {
        // Wrong secret for this one; try the next (rotation).
      }
    }
    return null
  } catch {
    return null
  }
}

/**
 * Encodes a session payload the way next-auth would, with a fresh `iat`, `exp` (now + maxAge) and `jti`.
 *
 * @param maxAgeSeconds Session max age, seconds; must equal next-auth's `session.maxAge` (default 30 days).
 */
export async function encodeSession(payload: SessionPayload, location: Pick<SessionCookieLocation, 'name' | 'format'>, secrets: readonly string[], maxAgeSeconds: number): Promise<string> {
  // iat/exp/jti are the codec's to set; stale ones would shorten the new session.
  const { iat: _iat, exp: _exp, jti: _jti, ...claims } = payload
  if (location.format === 'authjs-v5') {
    return encodeV5({ token: claims, secret: [...secrets], salt: location.name, maxAge: maxAgeSeconds })
  }
  return encodeV4({ token: claims, secret: secrets[0]!, maxAge: maxAgeSeconds })
}

export type { CookiePart }
