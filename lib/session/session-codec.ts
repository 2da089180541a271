/**
 * The installed codec's own format, with its key derived once per isolate instead of per call.
 *
 * next-auth v4's `decode` and Auth.js's derive the content-encryption key with HKDF from the secret
 * on every call (v4: two Web Crypto calls on the edge, a thread-pool hop in Node; Auth.js also a
 * SHA-512 thumbprint), then hand it to jose, which imports it again. The key depends only on the
 * secret and the salt (the cookie name for Auth.js), so here it is derived once, kept with its
 * imported `CryptoKey`s and its thumbprint, and each token is opened with the header checks and
 * clock tolerance that the installed line applies.
 *
 * The JWE step (compact serialization, `dir`, RFC 7516 / RFC 7518 §5.2 and §5.3) is written here
 * with Web Crypto rather than with jose's `jwtDecrypt` / `EncryptJWT`: jose 6's JWE module imports
 * its DEFLATE support, and Next.js then warns in every app's edge build ("A Node.js API is used
 * (CompressionStream …)") with an import trace through this package, the same reason
 * `refresh/sealing.ts` uses Web Crypto. Only the two shapes the lines write are handled; jose still
 * parses the header and computes the `kid` (through its subpath modules, which import no DEFLATE),
 * and the self-check below proves each (secret, salt) against the installed codec before use.
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
import { decodeProtectedHeader } from 'jose/decode/protected_header'
import { calculateJwkThumbprint } from 'jose/jwk/thumbprint'
import { BoundedStringMap } from '../util/bounded-map.js'
import type { SessionPayload } from './session-fields.js'

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
  /** v4 (A256GCM): `bytes` imported once for AES-GCM. */
  cryptoKey: CryptoKey | undefined
  /** Auth.js (A256CBC-HS512): the first half of `bytes` as the HMAC-SHA-512 key, the second as the AES-CBC key (RFC 7518 §5.2.2.1). */
  cbc: { macKey: CryptoKey; encKey: CryptoKey } | undefined
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
const decoder = new TextDecoder()

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
    const kid = await calculateJwkThumbprint({ kty: 'oct', k: base64url.encode(bytes) }, 'sha512')
    const macKey = await crypto.subtle.importKey('raw', bytes.slice(0, 32), { name: 'HMAC', hash: 'SHA-512' }, false, ['sign'])
    const encKey = await crypto.subtle.importKey('raw', bytes.slice(32), 'AES-CBC', false, ['encrypt', 'decrypt'])
    return { line, bytes, cryptoKey: undefined, cbc: { macKey, encKey }, kid }
  }
  const cryptoKey = await crypto.subtle.importKey('raw', bytes, 'AES-GCM', false, ['encrypt', 'decrypt'])
  return { line, bytes, cryptoKey, cbc: undefined, kid: undefined }
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
  // Anything beyond what the line writes (`zip`, `crit`, …) is the installed codec's to judge.
  if (Object.keys(header).some((name) => name !== 'alg' && name !== 'enc' && name !== 'kid')) return NOT_MINE
  // Auth.js: a `kid` names the secret; another secret's `kid` is "no matching decryption secret".
  if (key.line === 'authjs' && header.kid !== undefined && header.kid !== key.kid) return null
  const parts = jwt.split('.')
  // `dir`: the encrypted key is empty.
  if (parts.length !== 5 || parts[1] !== '') return null
  let plaintext: Uint8Array
  try {
    const [protectedHeader, , iv, ciphertext, tag] = parts as [string, string, string, string, string]
    const opened = await openJwe(
      key,
      encoder.encode(protectedHeader),
      base64url.decode(iv),
      base64url.decode(ciphertext),
      base64url.decode(tag),
    )
    if (!opened) return null
    plaintext = opened
  } catch {
    return null
  }
  let payload: unknown
  try {
    payload = JSON.parse(decoder.decode(plaintext))
  } catch {
    return null
  }
  return validClaims(payload) ? (payload as SessionPayload) : null
}

/**
 * Encrypts a session payload as the line's own `encode` does: the same header (with Auth.js's
 * `kid`), `iat` = now, `exp` = now + `maxAgeSeconds`, a random UUID `jti`.
 *
 * @param maxAgeSeconds Session max age, seconds.
 */
export async function encryptWith(key: SessionKey, token: SessionPayload, maxAgeSeconds: number): Promise<string> {
  // Date.now, not the engine's clock: the installed encode, which this stands in for, uses it too.
  const now = Math.floor(Date.now() / 1000)
  const header = key.kid === undefined ? { alg: ALG, enc: ENC[key.line] } : { alg: ALG, enc: ENC[key.line], kid: key.kid }
  const protectedHeader = base64url.encode(JSON.stringify(header))
  const aad = encoder.encode(protectedHeader)
  const plaintext = encoder.encode(JSON.stringify({ ...token, iat: now, exp: now + maxAgeSeconds, jti: crypto.randomUUID() }))
  let iv: Uint8Array<ArrayBuffer>
  let ciphertext: Uint8Array
  let tag: Uint8Array
  if (key.cbc) {
    iv = crypto.getRandomValues(new Uint8Array(16))
    ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv }, key.cbc.encKey, plaintext))
    tag = await cbcHmacTag(key.cbc.macKey, aad, iv, ciphertext)
  } else {
    iv = crypto.getRandomValues(new Uint8Array(12))
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, key.cryptoKey!, plaintext))
    ciphertext = sealed.subarray(0, sealed.length - 16)
    tag = sealed.subarray(sealed.length - 16)
  }
  return `${protectedHeader}..${base64url.encode(iv)}.${base64url.encode(ciphertext)}.${base64url.encode(tag)}`
}

/** The plaintext of a `dir` JWE under `key`, or null when its tag does not verify (RFC 7518 §5.2.2.2, §5.3). */
async function openJwe(
  key: SessionKey,
  aad: Uint8Array<ArrayBuffer>,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Promise<Uint8Array | null> {
  if (key.cbc) {
    if (iv.length !== 16 || tag.length !== 32) return null
    const expected = await cbcHmacTag(key.cbc.macKey, aad, iv, ciphertext)
    if (!constantTimeEqual(expected, tag)) return null
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv: copy(iv) }, key.cbc.encKey, copy(ciphertext)))
  }
  if (iv.length !== 12 || tag.length !== 16) return null
  const sealed = new Uint8Array(ciphertext.length + tag.length)
  sealed.set(ciphertext)
  sealed.set(tag, ciphertext.length)
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: copy(iv), additionalData: aad }, key.cryptoKey!, sealed))
}

/** A256CBC-HS512's tag: the first 32 bytes of HMAC-SHA-512(AAD ‖ IV ‖ ciphertext ‖ AL), AL = the AAD's length in bits, 64-bit big-endian. */
async function cbcHmacTag(macKey: CryptoKey, aad: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(aad.length + iv.length + ciphertext.length + 8)
  input.set(aad)
  input.set(iv, aad.length)
  input.set(ciphertext, aad.length + iv.length)
  new DataView(input.buffer).setBigUint64(input.length - 8, BigInt(aad.length * 8))
  return new Uint8Array(await crypto.subtle.sign('HMAC', macKey, input)).subarray(0, 32)
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!
  return difference === 0
}

/** An ArrayBuffer-backed copy, as Web Crypto's types want. */
function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes)
}

/**
 * The claim checks jose's `jwtDecrypt` applies for both lines (no issuer, audience or age options
 * set): a JSON object; `iat`, `nbf`, `exp` numbers when present; not yet valid (`nbf`) or expired
 * (`exp`) beyond the 15 s clock tolerance is unreadable.
 */
function validClaims(payload: unknown): boolean {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return false
  const claims = payload as Record<string, unknown>
  const now = Math.floor(Date.now() / 1000)
  for (const name of ['iat', 'nbf', 'exp'] as const) {
    if (claims[name] !== undefined && (typeof claims[name] !== 'number' || !Number.isFinite(claims[name]))) return false
  }
  if (typeof claims.nbf === 'number' && claims.nbf > now + CLOCK_TOLERANCE_SECONDS) return false
  if (typeof claims.exp === 'number' && claims.exp <= now - CLOCK_TOLERANCE_SECONDS) return false
  return true
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
