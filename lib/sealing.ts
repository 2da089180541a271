import { CompactEncrypt, compactDecrypt } from 'jose'
import { sha256Base64url } from './digest'
import type { RefreshedTokens } from './types'

/**
 * What the single-flight store holds for one refresh token: the tokens it was refreshed into, the
 * mark that the provider rejected it (`dead`), so that nobody presents it again, or a rest after a
 * transient failure (`backoff`, until epoch ms), shared by every isolate.
 */
export type StoredResult =
  /** `keptMs`: how long the store was asked to keep it (ms), so a reader can tell a long-kept result. */
  | { kind: 'refreshed'; tokens: RefreshedTokens; keptMs?: number }
  | { kind: 'dead' }
  | { kind: 'backoff'; until: number }

/** Seals and opens {@link StoredResult}s, and names store keys. */
export interface Sealer {
  /** `base64url(SHA-256(refresh_token))`: the store key suffix, never the token itself. */
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

/**
 * Creates a sealer whose key is derived from the session secret with HKDF-SHA-256 (Web Crypto),
 * so the store never holds a token in the clear. Values are JWE compact, `dir` + `A256GCM`.
 *
 * @param secrets Session secrets, newest first: the first seals, any of them opens.
 */
export function createSealer(secrets: readonly string[]): Sealer {
  const keys = secrets.map((secret) => deriveKey(secret))
  return {
    keyFor: sha256Base64url,
    async seal(key, result) {
      return new CompactEncrypt(encoder.encode(JSON.stringify({ ...result, for: key })))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
        .encrypt(await keys[0]!)
    },
    async open(key, sealed) {
      for (const secretKey of keys) {
        try {
          const { plaintext } = await compactDecrypt(sealed, await secretKey)
          const value: unknown = JSON.parse(decoder.decode(plaintext))
          if (typeof value !== 'object' || value === null || (value as { for?: unknown }).for !== key) return null
          return parseStoredResult(value)
        } catch {
          // Not sealed with this secret; try the next one.
        }
      }
      return null
    },
  }
}

async function deriveKey(secret: string): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveBits'])
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: encoder.encode(SEAL_KEY_INFO) },
    material,
    256,
  )
  return new Uint8Array(bits)
}

function parseStoredResult(value: unknown): StoredResult | null {
  if (typeof value !== 'object' || value === null) return null
  const record = value as Record<string, unknown>
  if (record.kind === 'dead') return { kind: 'dead' }
  if (record.kind === 'backoff') return typeof record.until === 'number' && Number.isFinite(record.until) ? { kind: 'backoff', until: record.until } : null
  if (record.kind !== 'refreshed' || typeof record.tokens !== 'object' || record.tokens === null) return null
  const tokens = record.tokens as Record<string, unknown>
  if (typeof tokens.access_token !== 'string' || typeof tokens.refresh_token !== 'string' || typeof tokens.expires_at !== 'number') return null
  return {
    kind: 'refreshed',
    ...(typeof record.keptMs === 'number' && Number.isFinite(record.keptMs) ? { keptMs: record.keptMs } : {}),
    tokens: {
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      expires_at: tokens.expires_at,
      ...(typeof tokens.id_token === 'string' ? { id_token: tokens.id_token } : {}),
    },
  }
}
