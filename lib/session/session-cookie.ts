/**
 * Reading and writing the session cookie with the app's own next-auth codec.
 *
 * The codec is `encode` / `decode` from the `next-auth/jwt` the app installed: next-auth v4's in a
 * v4 app, Auth.js's in a v5 app (both lines export them under that name), so one build of this
 * package serves both and brings no codec of its own. What differs between the lines is the HKDF
 * salt (v4: empty; v5: the cookie name) and the chunk size; both follow from the cookie's name.
 *
 * `getToken` is not used for reading, on purpose: v4's takes one secret (no rotation) and guesses
 * the `__Secure-` prefix from `NEXTAUTH_URL` / `VERCEL`, and both lines join a chunk sequence with
 * a gap in it. The raw value is needed anyway, to look a cookie already judged fresh up without
 * decrypting it.
 *
 * With the installed codec, the key it would derive on every call is derived once per isolate and
 * (secret, salt) instead, and checked against it first (see session-codec.ts): same bytes in and
 * out, a quarter of the Web Crypto calls per decode on the edge.
 */
import * as nextAuthJwt from 'next-auth/jwt'
import { readChunkedCookie, type CookiePart } from './cookie-chunks.js'
import { NOT_MINE, SessionKeyCache, decryptWith, encryptWith } from './session-codec.js'
import type { SessionPayload } from './session-fields.js'
import type { CookieSource } from '../types.js'

/**
 * The two session-cookie formats in the field:
 * - `next-auth-v4`: `next-auth.session-token`, JWE dir/A256GCM, HKDF with an empty salt.
 * - `authjs-v5`: `authjs.session-token`, JWE dir/A256CBC-HS512, HKDF salt = the cookie name.
 */
export type SessionFormat = 'next-auth-v4' | 'authjs-v5'

/**
 * next-auth's JWT codec: the shape both `next-auth/jwt` lines share, and the shape of a custom
 * `jwt: { encode, decode }` in next-auth's options. `salt` is the HKDF salt: empty for v4 cookies,
 * the cookie name for Auth.js v5 ones (v4's codec accepts it too, and ignores nothing).
 */
export interface SessionCodec {
  /** Encrypts `token` into a session JWT that expires `maxAge` seconds from now. */
  encode(params: { token: SessionPayload; secret: string; salt: string; maxAge: number }): Promise<string>
  /** Decrypts a session JWT; `null` (or a throw) when it cannot be read with this secret. */
  decode(params: { token: string; secret: string; salt: string }): Promise<SessionPayload | null>
}

/**
 * The installed line's codec (see the file comment). {@link decodeSession} and
 * {@link encodeSession} recognise this object and then use its format with keys derived once per
 * isolate; pass it (not a wrapper of it) to get that.
 */
export const installedCodec: SessionCodec = {
  encode: (params) => nextAuthJwt.encode(params),
  decode: (params) => nextAuthJwt.decode(params),
}

/**
 * The isolate's derived keys for {@link installedCodec}, each checked against it before first use.
 *
 * next-auth v4 gets the fast path only on the edge runtime (`EdgeRuntime`, as Next.js defines it).
 * On Node its `decode` runs jose's Node build: one thread-pool hop for HKDF, then a synchronous
 * AES-GCM decrypt, which one Web Crypto decrypt (also a hop) plus jose's `atob`-based base64url
 * does not beat: about 20 % slower per 5.9 KB decode on Node 20. On the edge v4 makes four Web
 * Crypto calls per decode and the fast path one. Auth.js runs on Web Crypto everywhere (HKDF,
 * thumbprint, two imports, HMAC, decrypt), so it gains everywhere.
 */
const installedKeys = new SessionKeyCache(installedCodec, {
  nextAuthV4: typeof (globalThis as { EdgeRuntime?: unknown }).EdgeRuntime === 'string',
})

/** HKDF salt of a format: Auth.js salts with the cookie name, next-auth v4 with nothing. */
export function saltOf(format: SessionFormat, name: string): string {
  return format === 'authjs-v5' ? name : ''
}

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

/** A session cookie found but not yet decoded: a custom-named one's format is known only once it decodes. */
export interface FoundSessionCookie {
  jwt: string
  location: Omit<SessionCookieLocation, 'format'> & { format: SessionFormat | undefined }
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
  /** Format of a custom-named cookie. Default: whichever of the two decodes it. */
  format?: SessionFormat
  /** Force `Secure` on (true) or off (false) for a custom name. Default: true exactly for `__Secure-` names. */
  secureCookie?: boolean
  /** The codec. Default: `encode` / `decode` of the installed `next-auth/jwt`. */
  codec?: SessionCodec
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
 * Finds the session cookies (joining chunks) without decoding them: every standard name present
 * (or the custom one), most specific first. More than one is there when an app moved from v4 to v5,
 * or when someone planted a cookie under another name: the caller takes the first that decodes.
 *
 * @returns The raw JWTs and where each was found; empty when there is none or its chunks are broken.
 */
export function findSessionCookies(cookies: CookieSource, options: SessionCookieOptions): FoundSessionCookie[] {
  const all = cookies.getAll()
  const found: FoundSessionCookie[] = []
  for (const candidate of candidateNames(options)) {
    const chunked = readChunkedCookie(all, candidate.name)
    if (chunked) found.push({ jwt: chunked.value, location: { ...candidate, names: chunked.names } })
  }
  return found
}

/**
 * Finds and decodes the session cookie with next-auth's own codec (v4) or Auth.js's (v5).
 *
 * @returns The session, or `null` for anything that cannot be read: no cookie, a broken chunk
 * sequence, a tampered or expired JWT, a wrong secret. Never throws for bad input.
 */
export async function readSessionCookie(cookies: CookieSource, options: SessionCookieOptions): Promise<ReadSession | null> {
  for (const found of findSessionCookies(cookies, options)) {
    const decoded = await decodeSession(found.jwt, found.location, options.secrets, options.codec ?? installedCodec)
    if (decoded) return { jwt: found.jwt, payload: decoded.payload, location: { ...found.location, format: decoded.format } }
  }
  return null
}

function candidateNames(
  options: SessionCookieOptions,
): ReadonlyArray<{ name: string; format: SessionFormat | undefined; secure: boolean }> {
  if (!options.cookieName) return STANDARD_NAMES
  return [
    {
      name: options.cookieName,
      format: options.format,
      // Browsers refuse a `__Host-` or `__Secure-` cookie without Secure.
      secure: options.secureCookie ?? /^__(Secure|Host)-/.test(options.cookieName),
    },
  ]
}

/**
 * Decodes a session JWT. Returns `null` instead of throwing for anything unreadable.
 *
 * @param jwt The joined cookie value.
 * @param location Its name, and its format when known; a custom-named cookie of unknown format is
 * tried as both, and the format that decoded it is returned so that it is written back the same way.
 */
export async function decodeSession(
  jwt: string,
  location: { name: string; format: SessionFormat | undefined },
  secrets: readonly string[],
  codec: SessionCodec,
): Promise<{ payload: SessionPayload; format: SessionFormat } | null> {
  const formats: SessionFormat[] = location.format ? [location.format] : ['next-auth-v4', 'authjs-v5']
  for (const format of formats) {
    for (const secret of secrets) {
      const salt = saltOf(format, location.name)
      if (codec === installedCodec) {
        const key = await installedKeys.keyFor(secret, salt)
        const payload = key ? await decryptWith(key, jwt) : NOT_MINE
        // null: what the installed decode would fail on too, so it is not asked again.
        if (payload !== NOT_MINE) {
          if (payload && typeof payload === 'object') return { payload, format }
          continue
        }
      }
      try {
        const payload = await codec.decode({ token: jwt, secret, salt })
        if (payload && typeof payload === 'object') return { payload, format }
      } catch {
        // Wrong secret or format for this one; try the next (rotation).
      }
    }
  }
  return null
}

/**
 * Encodes a session payload the way next-auth would, with a fresh `iat`, `exp` (now + maxAge) and `jti`.
 *
 * @param maxAgeSeconds Session max age, seconds; must equal next-auth's `session.maxAge` (default 30 days).
 */
export async function encodeSession(
  payload: SessionPayload,
  location: { name: string; format: SessionFormat },
  secrets: readonly string[],
  maxAgeSeconds: number,
  codec: SessionCodec,
): Promise<string> {
  // iat/exp/jti are the codec's to set; stale ones would shorten the new session.
  const { iat: _iat, exp: _exp, jti: _jti, ...claims } = payload
  const secret = secrets[0]!
  const salt = saltOf(location.format, location.name)
  const key = codec === installedCodec ? await installedKeys.keyFor(secret, salt) : null
  if (key) return encryptWith(key, claims, maxAgeSeconds)
  return codec.encode({ token: claims, secret, salt, maxAge: maxAgeSeconds })
}

export type { CookiePart }
