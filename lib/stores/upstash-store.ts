import { DEFAULTS } from '../defaults.js'
import type { Redis } from '@upstash/redis'
import type { ClaimResult, ExtendResult, PeekResult, RefreshStore } from './store.js'

/** The part of `@upstash/redis` this store uses; narrowed so tests and wrappers can pass their own. */
export type UpstashLike = Pick<Redis, 'eval' | 'mget'>

/** Options of {@link upstashStore}. */
export interface UpstashStoreOptions {
  /** Prefix of every key, so one database can serve several apps. Default `"edge-refresh:"`. */
  prefix?: string
}

/**
 * Result present → return it; lock held → wait, with its remaining life (PTTL, ms; -1 without
 * expiry); attempt mark present → attempted; else `SET lock NX PX lease`, write the mark (when
 * given) and lead. One round trip.
 * KEYS[1] result, KEYS[2] lock, KEYS[3] attempt mark; ARGV[1] lock id, ARGV[2] lease (ms),
 * ARGV[3] mark (sealed, or empty for none), ARGV[4] mark TTL (ms).
 */
const CLAIM_SCRIPT = `
local result = redis.call('GET', KEYS[1])
if result then return {'result', result} end
local pttl = redis.call('PTTL', KEYS[2])
if pttl ~= -2 then return {'wait', pttl} end
local mark = redis.call('GET', KEYS[3])
if mark then return {'attempted', mark} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4]) end
return {'lead', ARGV[1]}
`

/**
 * Write the result with its TTL, remove the attempt mark, then release the lock only if this
 * leader still holds it (a lease that lapsed may belong to a new leader by now). One round trip.
 * KEYS[1] result, KEYS[2] lock, KEYS[3] attempt mark; ARGV[1] lock id, ARGV[2] sealed value, ARGV[3] TTL (ms).
 */
const PUBLISH_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
`

/**
 * Keep the lock while its leader's call is open: this leader's → PEXPIRE; gone → take it again;
 * someone else's → lost. KEYS[1] lock; ARGV[1] lock id, ARGV[2] lease (ms).
 */
const EXTEND_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 'extended' end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 'retaken' end
return 'lost'
`

/** Shorten, never lengthen. KEYS[1] result; ARGV[1] TTL (ms). */
const SHORTEN_SCRIPT = `
local left = redis.call('PTTL', KEYS[1])
if left > tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return left
`

/**
 * A store on Upstash Redis (REST), shared by every edge isolate and region.
 *
 * Scripts are sent with `EVAL` rather than `EVALSHA`: a fresh isolate would otherwise pay an extra
 * round trip for `NOSCRIPT` on its first claim, and the scripts are a few hundred bytes.
 * Keys: `prefix + key` for the result, the same with `:lock` for the lock and `:attempt` for the
 * attempt mark, where `key` is an HMAC of the refresh token under a key derived from the secret;
 * values are sealed by the caller, so Redis never holds a token in the clear.
 *
 * @param redis An `@upstash/redis` client, e.g. `Redis.fromEnv()`.
 */
export function upstashStore(redis: UpstashLike, options: UpstashStoreOptions = {}): RefreshStore {
  const prefix = options.prefix ?? DEFAULTS.upstashPrefix
  const resultKey = (key: string) => `${prefix}${key}`
  const lockKey = (key: string) => `${prefix}${key}:lock`
  const attemptKey = (key: string) => `${prefix}${key}:attempt`

  return {
    kind: 'upstash',
    async claim(key, leaseMs, attempt): Promise<ClaimResult> {
      const lockId = crypto.randomUUID()
      const reply = await redis.eval<[string, string, string, string], [string, (string | number)?]>(
        CLAIM_SCRIPT,
        [resultKey(key), lockKey(key), attemptKey(key)],
        [lockId, String(Math.ceil(leaseMs)), attempt?.sealed ?? '', String(Math.ceil(attempt?.ttlMs ?? 1))],
      )
      if (reply[0] === 'result' && typeof reply[1] === 'string') return { kind: 'result', sealed: reply[1] }
      if (reply[0] === 'attempted' && typeof reply[1] === 'string') return { kind: 'attempted', sealed: reply[1] }
      if (reply[0] === 'lead' && reply[1] === lockId) return { kind: 'lead', lockId }
      // PTTL: -1 for a lock without expiry; anything else unexpected means "not known".
      const pttl = reply[0] === 'wait' ? reply[1] : undefined
      if (typeof pttl === 'number' && (pttl >= 0 || pttl === -1)) return { kind: 'wait', lockTtlMs: pttl === -1 ? Infinity : pttl }
      return { kind: 'wait' }
    },
    async publish(key, lockId, sealed, ttlMs) {
      await redis.eval(PUBLISH_SCRIPT, [resultKey(key), lockKey(key), attemptKey(key)], [lockId, sealed, String(Math.ceil(ttlMs))])
    },
    async extend(key, lockId, leaseMs): Promise<ExtendResult> {
      const reply = await redis.eval<[string, string], string>(EXTEND_SCRIPT, [lockKey(key)], [lockId, String(Math.ceil(leaseMs))])
      if (reply === 'extended' || reply === 'retaken' || reply === 'lost') return reply
      throw new Error(`unexpected reply to the lock extension: ${typeof reply}`)
    },
    async peek(key): Promise<PeekResult> {
      const [result, lock, mark] = await redis.mget<[string | null, string | null, string | null]>(
        resultKey(key),
        lockKey(key),
        attemptKey(key),
      )
      if (typeof result === 'string') return { kind: 'result', sealed: result }
      if (lock !== null && lock !== undefined) return { kind: 'locked' }
      return typeof mark === 'string' ? { kind: 'attempted', sealed: mark } : { kind: 'free' }
    },
    async shorten(key, ttlMs) {
      await redis.eval(SHORTEN_SCRIPT, [resultKey(key)], [String(Math.ceil(ttlMs))])
    },
  }
}
