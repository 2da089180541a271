/**
 * The installed codec's own format, with its key derived once per isolate instead of per call.
 *
 * next-auth v4's `decode` and Auth.js's derive the content-encryption key with HKDF from the secret
 * on every call (v4: two Web Crypto calls on the edge, a thread-pool hop in Node; Auth.js also a
 * SHA-512 thumbprint), then hand it to jose, which imports it again. The key depends only on the
 * secret and the salt (the cookie name for Auth.js), so here it is derived once, kept with its
 * imported `CryptoKey` and its thumbprint, and jose is called with exactly the header checks, key
 * and clock tolerance that the installed line applies. jose does every JOSE and crypto step; the
 * only thing this file adds is the cache, and the HKDF it mirrors is Web Crypto's own.
 *
 * Used only for the installed codec (a custom `jwt` codec of the app is always called), and only
 * for a (secret, salt) pair that passed a self-check in this isolate: a token the installed
 * `encode` wrote must decode here, and one written here must decode with the installed `decode`.
 * A future next-auth that derives or encrypts differently therefore turns the fast path off (the
 * installed codec is used) instead of writing cookies the app cannot read.
 *
 * What each line reads and writes (next-auth 4.24 `next-auth/jwt`, @auth/core 0.41 `jwt.ts`):
 * - v4: HKDF-SHA256(secret, salt, info "NextAuth.js Generated Encryption Key" (+ " (salt)" when the
 *   salt is not empty), 32 bytes); JWE `dir` / `A256GCM`, no `kid`; decode accepts any algorithm
 *   jose does for that key, clock tolerance 15 s.
 * - Auth.js: HKDF-SHA256(secret, salt, info "Auth.js Generated Encryption Key (salt)", 64 bytes
 *   for `A256CBC-HS512`, 32 for `A256GCM`); encode writes `dir` / `A256CBC-HS512` with `kid` = the
 *   key's JWK thumbprint (SHA-512); decode takes `dir` with either enc, picks the secret whose
 *   thumbprint is the `kid` (the given one when there is no `kid`), clock tolerance 15 s.
 * - Both: encode sets `iat` (now), `exp` (now + maxAge) and a random UUID `jti`.
 *
 * The fast path takes only the exact header shape its line writes (`dir` with that line's `enc`,
 * and for Auth.js a matching or absent `kid`); any other shape goes to the installed codec, so what
 * decodes is exactly what the installed `decode` accepts.
 */
import * as base64url from 'jose/base64url'
import { EncryptJWT, calculateJwkThumbprint, decodeProtectedHeader, jwtDecrypt, type JWTPayload } from 'jose'
import { BoundedStringMap } from '../util/bounded-map'
import type { SessionPayload } from './session-fields'

/** Which `next-auth/jwt` line is installed, as its own `encode` shows it. */
export type CodecLine = 'next-auth-v4' | 'authjs'

/** The installed codec's two functions, as the self-check calls them. */
export interface InstalledJwt {
  encode(params: { token: SessionPayload; secret: string; salt: string; maxAge: number }): Promise<string>
  decode(params: { token: string; secret: string; salt: string }): Promise<SessionPayload | null>
}

/** Derived key material of one (secret, salt) pair, ready for jose. */
interface SessionKey {
  line: CodecLine
  /** The HKDF output: 32 bytes (v4, A256GCM) or 64 (Auth.js, A256CBC-HS512). */
  bytes: Uint8Array
  /** v4 only: `bytes` imported once for AES-GCM, so jose does not import it per call. */
  cryptoKey: CryptoKey | undefined
  /** Auth.js only: the `kid` its encode writes and its decode matches (JWK thumbprint, SHA-512). */
  kid: string | undefined
}

/** Both lines allow this much clock skew on `exp` / `nbf` when decoding, seconds. */
const CLOCK_TOLERANCE_SECONDS = 15
const ALG = 'dir'
const ENC: Record<CodecLine, string> = { 'next-auth-v4': 'A256GCM', authjs: 'A256CBC-HS512' }

/**
 * Keys per isolate: one per (secret, salt) pair in use, a handful at most (two secrets while
 * rotating × the cookie names present). The bound only keeps a misconfiguration from growing it.
 */
const KEYS_MAX = 32
/** Keyed by secret and salt; the secret is in memory anyway (it is in the options). */
const KEYS_MAX_BYTES = 64 * 1024

const encoder = new TextEncoder()

/**
 * A per-isolate cache of derived session keys, each checked against the installed codec before
 * first use. A pair whose check fails is remembered as `null`: the caller then uses the installed
 * codec for it.
 */
export class SessionKeyCache {
  readonly #keys = new BoundedStringMap<Promise<SessionKey | null>>(KEYS_MAX, KEYS_MAX_BYTES)

  /**
   * @param installed The installed `next-auth/jwt` (its `encode` and `decode`), for the self-check.
   * @param lines Which lines get the fast path. Default: both.
   */
  constructor(
    private readonly installed: InstalledJwt,
    private readonly lines: { nextAuthV4?: boolean; authjs?: boolean } = {},
  ) {}

  /**
   * The checked key of `(secret, salt)`, or `null` when the fast path must not be used for it.
   * Concurrent first calls share one derivation; nothing here throws.
   */
  keyFor(secret: string, salt: string): Promise<SessionKey | null> {
    // NUL cannot occur in a cookie name, so the key is unambiguous.
    const cacheKey = `${salt}\u0000${secret}`
    let key = this.#keys.get(cacheKey)
    if (!key) {
      key = this.#checkedKey(secret, salt).catch(() => null)
      this.#keys.set(cacheKey, key)
    }
    return key
  }

  async #checkedKey(secret: string, salt: string): Promise<SessionKey | null> {
    // The installed line shows itself in the header of what it writes.
    const probe = await this.installed.encode({ token: { sub: 'edge-refresh-self-check' }, secret, salt, maxAge: 60 })
    const header = decodeProtectedHeader(probe)
    const line: CodecLine | undefined =
      header.alg === ALG && header.enc === ENC['next-auth-v4'] && header.kid === undefined
        ? 'next-auth-v4'
        : header.alg === ALG && header.enc === ENC.authjs && typeof header.kid === 'string'
          ? 'authjs'
          : undefined
    if (!line || (line === 'next-auth-v4' ? this.lines.nextAuthV4 : this.lines.authjs) === false) return null
    const key = await deriveSessionKey(line, secret, salt)
    if (line === 'authjs' && header.kid !== key.kid) return null
    // Theirs → ours, and ours → theirs, for exactly this pair.
    const theirs = await decryptWith(key, probe)
    if (theirs === NOT_MINE || theirs?.sub !== 'edge-refresh-self-check') return null
    const ours = await encryptWith(key, { sub: 'edge-refresh-self-check' }, 60)
    const back = await this.installed.decode({ token: ours, secret, salt })
    return back?.sub === 'edge-refresh-self-check' ? key : null
  }
}

/**
 * Derives the key of one line the way that line does (see the file comment), with Web Crypto's
 * HKDF, which is what `@panva/hkdf` (next-auth's HKDF) calls on the edge.
 */
export async function deriveSessionKey(line: CodecLine, secret: string, salt: string): Promise<SessionKey> {
  const info =
    line === 'authjs' ? `Auth.js Generated Encryption Key (${salt})` : `NextAuth.js Generated Encryption Key${salt ? ` (${salt})` : ''}`
  const length = line === 'authjs' ? 64 : 32
  const ikm = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveBits'])
  const bytes = new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode(salt), info: encoder.encode(info) },
      ikm,
      length * 8,
    ),
  )
  if (line === 'authjs') {
    // jose's A256CBC-HS512 takes raw bytes only (it splits them into the MAC and the AES key).
    const kid = await calculateJwkThumbprint({ kty: 'oct', k: base64url.encode(bytes) }, 'sha512')
    return { line, bytes, cryptoKey: undefined, kid }
  }
  const cryptoKey = await crypto.subtle.importKey('raw', bytes, 'AES-GCM', false, ['encrypt', 'decrypt'])
  return { line, bytes, cryptoKey, kid: undefined }
}

/** What {@link decryptWith} could not decide: the header is not the shape this line writes. */
export const NOT_MINE = Symbol('not-mine')

/**
 * Decrypts a session JWT with a derived key, checking what the line's own `decode` checks.
 *
 * @returns The payload; `null` when the installed `decode` would fail too (bad tag, expired, a
 * `kid` of another secret, garbage); {@link NOT_MINE} for a well-formed header of another shape,
 * which only the installed codec may judge.
 */
export async function decryptWith(key: SessionKey, jwt: string): Promise<SessionPayload | null | typeof NOT_MINE> {
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(jwt)
  } catch {
    // Both lines hand the token to jose, which fails on the same unparsable header.
    return null
  }
  if (header.alg !== ALG || header.enc !== ENC[key.line]) return NOT_MINE
  // Auth.js: a `kid` names the secret; another secret's `kid` is "no matching decryption secret".
  if (key.line === 'authjs' && header.kid !== undefined && header.kid !== key.kid) return null
  try {
    const { payload } = await jwtDecrypt(jwt, key.cryptoKey ?? key.bytes, {
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      keyManagementAlgorithms: [ALG],
      contentEncryptionAlgorithms: [ENC[key.line]],
    })
    return payload as SessionPayload
  } catch {
    return null
  }
}

/**
 * Encrypts a session payload as the line's own `encode` does: the same header (with Auth.js's
 * `kid`), `iat` = now, `exp` = now + `maxAgeSeconds`, a random UUID `jti`.
 *
 * @param maxAgeSeconds Session max age, seconds.
 */
export async function encryptWith(key: SessionKey, token: SessionPayload, maxAgeSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new EncryptJWT(token as JWTPayload)
    .setProtectedHeader(key.kid === undefined ? { alg: ALG, enc: ENC[key.line] } : { alg: ALG, enc: ENC[key.line], kid: key.kid })
    .setIssuedAt(now)
    .setExpirationTime(now + maxAgeSeconds)
    .setJti(crypto.randomUUID())
    .encrypt(key.cryptoKey ?? key.bytes)
}

/** base64url lengths of the JWE tags: 16 bytes (A256GCM), 32 bytes (A256CBC-HS512). */
const TAG_CHARS_A256GCM = 22
const TAG_CHARS_A256CBC_HS512 = 43

/**
 * A short key naming a session cookie value in the isolate's caches: the JWE authentication tag
 * (its last segment: 16 bytes for A256GCM, 32 for A256CBC-HS512) and the value's length, about 30
 * to 50 characters instead of kilobytes, so thousands of sessions fit in well under a megabyte.
 *
 * Safe only for a cache whose hit grants nothing, such as "judged fresh, pass the request on
 * untouched" (what an unreadable cookie gets anyway): an entry is made only for a cookie that
 * decoded with our secret, and the tag authenticates the header, IV and ciphertext under that
 * secret's key, so another value with the same key either is that session (same bytes) or is a
 * forgery that fails the app's own decode. Two real sessions share a tag with odds of 2^-128.
 * It must never key anything that yields a payload or tokens.
 *
 * A value whose last segment is not tag-sized (not a JWE of these two formats: a custom codec's
 * token, or garbage) is its own key, so nothing is assumed about tokens this file does not know.
 * The short key is a new string: a slice would keep the whole cookie alive in V8.
 */
export function sessionCacheKey(jwt: string): string {
  const tagStart = jwt.lastIndexOf('.') + 1
  const tagLength = jwt.length - tagStart
  if (tagStart === 0 || (tagLength !== TAG_CHARS_A256GCM && tagLength !== TAG_CHARS_A256CBC_HS512)) return jwt
  const codes: number[] = []
  for (let i = tagStart; i < jwt.length; i++) codes.push(jwt.charCodeAt(i))
  // The length goes in as digits after a separator that base64url never contains.
  codes.push(0x3a)
  for (const digit of String(jwt.length)) codes.push(digit.charCodeAt(0))
  return String.fromCharCode(...codes)
}
