import * as base64url from 'jose/base64url'
import type { RefreshedTokens } from '../types.js'

/**
 * What the single-flight store holds for one refresh token: the tokens it was refreshed into, the
 * mark that the provider rejected it (`dead`), so that nobody presents it again, a rest after a
 * transient failure (`backoff`, until epoch ms), shared by every isolate, the mark that a call was
 * sent and never answered (`in-doubt`: nobody presents it again either), or, as the attempt mark
 * written with a lock, when an attempt began (`attempt`, epoch ms).
 */
export type StoredResult =
  /**
   * `keptMs`: how long the store was asked to keep it (ms), so a reader can tell a long-kept result.
   * `unsaved`: the leader could not save the tokens where the caller keeps them (`RunOptions.persist`).
   */
  | { kind: 'refreshed'; tokens: RefreshedTokens; keptMs?: number; unsaved?: true }
  | { kind: 'dead' }
  | { kind: 'backoff'; until: number }
  | { kind: 'in-doubt' }
  | { kind: 'attempt'; startedAt: number }

/** Seals and opens {@link StoredResult}s, and names store keys. */
export interface Sealer {
  /**
   * `base64url(HMAC-SHA-256(key derived from the newest secret, refresh_token))`: the store key,
   * never the token itself, and nothing someone who holds a token but not the secret could compute.
   */
  keyFor(refreshToken: string): Promise<string>
  /** Seals `result` for the store key `key`: the value opens under that key only. */
  seal(key: string, result: StoredResult): Promise<string>
  /**
   * Returns `null` for a value it cannot open (other secret, tampered, other shape) or one sealed
   * for another key: someone with write access to the store could otherwise copy their own result,
   * or a dead mark, under somebody else's key.
   */
  open(key: string, sealed: string): Promise<StoredResult | null>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** HKDF "info" for the store key, distinct from next-auth's so the two keys never coincide. */
const SEAL_KEY_INFO = 'next-auth-edge-refresh store sealing key'
/** HKDF "info" for the key that names store entries, distinct from the sealing key's. */
const NAME_KEY_INFO = 'next-auth-edge-refresh store key naming'
/** Format tag of a sealed value, so that a later format can be told apart. */
const FORMAT = 'v1'
const IV_BYTES = 12

/**
 * Creates a sealer whose key is derived from the session secret with HKDF-SHA-256, so the store
 * never holds a token in the clear. A value is `v1.<iv>.<ciphertext>` (base64url): AES-256-GCM with
 * a random 96-bit IV and the store key as additional authenticated data, so it opens under that key
 * only.
 *
 * Web Crypto directly rather than jose's JWE: the value never leaves this package (no other party
 * reads it, so no interoperable format is needed), AES-GCM is one call either way, and jose's JWE
 * module carries its DEFLATE support along, which makes Next 15 warn in every app's edge build
 * ("A Node.js API is used (CompressionStream …)").
 *
 * @param secrets Session secrets, newest first: the first seals, any of them opens.
 */
export function createSealer(secrets: readonly string[]): Sealer {
  const keys = secrets.map((secret) => deriveKey(secret))
  // The newest secret names entries: after a rotation, refreshes under way keep their old names for
  // at most a lease, and the old cookies then refresh under the new name once.
  const namingKey = deriveNamingKey(secrets[0]!)
  return {
    async keyFor(refreshToken) {
      const mac = await crypto.subtle.sign('HMAC', await namingKey, encoder.encode(refreshToken))
      return base64url.encode(new Uint8Array(mac))
    },
    async seal(key, result) {
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
      const plaintext = encoder.encode(JSON.stringify(result))
      const ciphertext = await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: encoder.encode(key) },
        await keys[0]!,
        plaintext,
      )
      return `${FORMAT}.${base64url.encode(iv)}.${base64url.encode(new Uint8Array(ciphertext))}`
    },
    async open(key, sealed) {
      const parts = sealed.split('.')
      if (parts.length !== 3 || parts[0] !== FORMAT) return null
      let iv: Uint8Array<ArrayBuffer>
      let ciphertext: Uint8Array<ArrayBuffer>
      try {
        // Copied into fresh buffers: Web Crypto's types want an ArrayBuffer-backed view.
        iv = new Uint8Array(base64url.decode(parts[1]!))
        ciphertext = new Uint8Array(base64url.decode(parts[2]!))
      } catch {
        return null
      }
      if (iv.length !== IV_BYTES) return null
      for (const secretKey of keys) {
        try {
          const plaintext = await crypto.subtle.decrypt(
            { name: 'AES-GCM', iv, additionalData: encoder.encode(key) },
            await secretKey,
            ciphertext,
          )
          return parseStoredResult(JSON.parse(decoder.decode(plaintext)))
        } catch {
          // Another secret, another key's value, or tampered: try the next secret.
        }
      }
      return null
    },
  }
}

async function deriveKey(secret: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: encoder.encode(SEAL_KEY_INFO) },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
}

async function deriveNamingKey(secret: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: encoder.encode(NAME_KEY_INFO) },
    material,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign'],
  )
}

function parseStoredResult(value: unknown): StoredResult | null {
  if (typeof value !== 'object' || value === null) return null
  const record = value as Record<string, unknown>
  if (record.kind === 'dead') return { kind: 'dead' }
  if (record.kind === 'in-doubt') return { kind: 'in-doubt' }
  if (record.kind === 'attempt')
    return typeof record.startedAt === 'number' && Number.isFinite(record.startedAt)
      ? { kind: 'attempt', startedAt: record.startedAt }
      : null
  if (record.kind === 'backoff')
    return typeof record.until === 'number' && Number.isFinite(record.until) ? { kind: 'backoff', until: record.until } : null
  if (record.kind !== 'refreshed' || typeof record.tokens !== 'object' || record.tokens === null) return null
  const tokens = record.tokens as Record<string, unknown>
  if (typeof tokens.access_token !== 'string' || typeof tokens.refresh_token !== 'string' || typeof tokens.expires_at !== 'number')
    return null
  return {
    kind: 'refreshed',
    ...(typeof record.keptMs === 'number' && Number.isFinite(record.keptMs) ? { keptMs: record.keptMs } : {}),
    ...(record.unsaved === true ? { unsaved: true as const } : {}),
    tokens: {
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      expires_at: tokens.expires_at,
      ...(typeof tokens.id_token === 'string' ? { id_token: tokens.id_token } : {}),
    },
  }
}
