import { DEFAULTS } from '../defaults'
import type { Redis } from '@upstash/redis'
import type { ClaimResult, PeekResult, RefreshStore } from './store'

/** The part of `@upstash/redis` this store uses; narrowed so tests and wrappers can pass their own. */
export type UpstashLike = Pick<Redis, 'eval' | 'mget'>

/** Options of {@link upstashStore}. */
export interface UpstashStoreOptions {
  /** Prefix of every key, so one database can serve several apps. Default `"edge-refresh:"`. */
  prefix?: string
}

/**
 * Result present → return it; else `SET lock NX PX lease` → lead; else wait, with the lock's
 * remaining life (PTTL, ms; -1 without expiry). One round trip.
 * KEYS[1] result, KEYS[2] lock; ARGV[1] lock id, ARGV[2] lease (ms).
 */
const CLAIM_SCRIPT = `
local result = redis.call('GET', KEYS[1])
if result then return {'result', result} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'lead', ARGV[1]} end
return {'wait', redis.call('PTTL', KEYS[2])}
`

/**
 * Write the result with its TTL, then release the lock only if this leader still holds it (a lease
 * that lapsed may belong to a new leader by now). One round trip.
 * KEYS[1] result, KEYS[2] lock; ARGV[1] lock id, ARGV[2] sealed value, ARGV[3] TTL (ms).
 */
const PUBLISH_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
`

/** Shorten, never lengthen. KEYS[1] result; ARGV[1] TTL (ms). */
const SHORTEN_SCRIPT = `
local left = redis.call('PTTL', KEYS[1])
if left > tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return left
`

/** Compare-and-delete. KEYS[1] lock; ARGV[1] lock id. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

/**
 * A store on Upstash Redis (REST), shared by every edge isolate and region.
 *
 * Scripts are sent with `EVAL` rather than `EVALSHA`: a fresh isolate would otherwise pay an extra
 * round trip for `NOSCRIPT` on its first claim, and the scripts are a few hundred bytes.
 * Keys: `prefix + base64url(SHA-256(refresh_token))` for the result and the same with `:lock` for
 * the lock; values are sealed by the caller, so Redis never holds a token in the clear.
 *
 * @param redis An `@upstash/redis` client, e.g. `Redis.fromEnv()`.
 */
export function upstashStore(redis: UpstashLike, options: UpstashStoreOptions = {}): RefreshStore {
  const prefix = options.prefix ?? DEFAULTS.upstashPrefix
  const resultKey = (key: string) => `${prefix}${key}`
  const lockKey = (key: string) => `${prefix}${key}:lock`

  return {
    kind: 'upstash',
    async claim(key, leaseMs): Promise<ClaimResult> {
      const lockId = crypto.randomUUID()
      const reply = await redis.eval<[string, string], [string, (string | number)?]>(
        CLAIM_SCRIPT,
        [resultKey(key), lockKey(key)],
        [lockId, String(Math.ceil(leaseMs))],
      )
      if (reply[0] === 'result' && typeof reply[1] === 'string') return { kind: 'result', sealed: reply[1] }
      if (reply[0] === 'lead') return { kind: 'lead', lockId }
      // PTTL: -1 for a lock without expiry; anything else unexpected means "not known".
      const pttl = reply[0] === 'wait' ? reply[1] : undefined
      if (typeof pttl === 'number' && (pttl >= 0 || pttl === -1)) return { kind: 'wait', lockTtlMs: pttl === -1 ? Infinity : pttl }
      return { kind: 'wait' }
    },
    async publish(key, lockId, sealed, ttlMs) {
      await redis.eval(PUBLISH_SCRIPT, [resultKey(key), lockKey(key)], [lockId, sealed, String(Math.ceil(ttlMs))])
    },
    async release(key, lockId) {
      await redis.eval(RELEASE_SCRIPT, [lockKey(key)], [lockId])
    },
    async peek(key): Promise<PeekResult> {
      const [result, lock] = await redis.mget<[string | null, string | null]>(resultKey(key), lockKey(key))
      if (typeof result === 'string') return { kind: 'result', sealed: result }
      return lock === null || lock === undefined ? { kind: 'free' } : { kind: 'locked' }
    },
    async shorten(key, ttlMs) {
      await redis.eval(SHORTEN_SCRIPT, [resultKey(key)], [String(Math.ceil(ttlMs))])
    },
  }
}
