import type { ClaimResult, ExtendResult, PeekResult, RefreshStore } from './store.js'

/**
 * The Redis commands a script store needs, whatever the client: Upstash's REST client and the TCP
 * clients (node-redis, ioredis) each adapt their own call shapes to these two.
 */
export interface RedisScriptRunner {
  /** `EVAL script numkeys keys… args…`; resolves the script's reply as the client decodes it. */
  eval(script: string, keys: string[], args: string[]): Promise<unknown>
  /** `MGET keys…`; one value or null per key. */
  mget(keys: string[]): Promise<unknown[]>
}

/**
 * Redis's clock at the time the script runs, ms. Scripts are replicated by their effects (Redis 5
 * and later, and Upstash), so reading the clock before writing is allowed.
 */
const REDIS_NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`

/**
 * Applied too late (Redis's clock past ARGV[5], when given) → nothing, `late`. Then the data set's
 * generation: KEYS[4] holds a random id written by the first claim into an empty Redis; a caller
 * that knew another one (ARGV[6]) sees that Redis lost its keys. Then: result present → return it;
 * lock held → wait, with its remaining life (PTTL, ms; -1 without expiry); attempt mark present →
 * attempted; caller not allowed to lead (ARGV[8] = '1', or the generation just changed) →
 * `hold`; else `SET lock NX PX lease`, write the mark (when given) and lead. Every reply ends with
 * Redis's clock and the generation. One round trip.
 * KEYS[1] result, KEYS[2] lock, KEYS[3] attempt mark, KEYS[4] generation; ARGV[1] lock id, ARGV[2]
 * lease (ms), ARGV[3] mark (sealed, or empty for none), ARGV[4] mark TTL (ms), ARGV[5] latest time
 * to apply (Redis clock, ms; empty for none), ARGV[6] the generation the caller knows (empty for
 * none), ARGV[7] a new generation id, ARGV[8] '1' when the caller may not lead.
 */
const CLAIM_SCRIPT = `${REDIS_NOW}
if ARGV[5] ~= '' and now > tonumber(ARGV[5]) then return {'late', '', now, ''} end
local generation = redis.call('GET', KEYS[4])
if not generation then
  generation = ARGV[7]
  redis.call('SET', KEYS[4], generation)
end
local result = redis.call('GET', KEYS[1])
if result then return {'result', result, now, generation} end
local pttl = redis.call('PTTL', KEYS[2])
if pttl ~= -2 then return {'wait', pttl, now, generation} end
local mark = redis.call('GET', KEYS[3])
if mark then return {'attempted', mark, now, generation} end
if ARGV[8] == '1' or (ARGV[6] ~= '' and ARGV[6] ~= generation) then return {'hold', '', now, generation} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4]) end
return {'lead', ARGV[1], now, generation}
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
 * How a claim knows it is late: it carries the latest time, on Redis's clock, at which it may still
 * apply (sent + budget), and the script compares that with `TIME`. Each reply brings Redis's clock
 * back, so the store knows the difference between the two clocks from its first reply on, and
 * thereby accepts a claim exactly when its round trip fits the budget. Before that first reply it
 * takes the clocks to agree (NTP): if Redis's clock is ahead by more than the budget, that first
 * claim is refused as late, answered `wait` and claimed again, now with the difference known; if
 * it is behind, that first claim is let through up to that much late.
 */
/** The three keys of one refresh token: the result, the lock, the attempt mark. */
function keysOf(prefix: string, key: string): [string, string, string] {
  return [`${prefix}${key}`, `${prefix}${key}:lock`, `${prefix}${key}:attempt`]
}

/**
 * A {@link RefreshStore} on Redis scripts: every method one atomic round trip. Keys: `prefix + key`
 * for the result, the same with `:lock` for the lock and `:attempt` for the attempt mark, where
 * `key` is an HMAC of the refresh token; values are sealed by the caller, so Redis never holds a
 * token in the clear.
 *
 * Scripts are sent with `EVAL` rather than `EVALSHA`: a fresh isolate would otherwise pay an extra
 * round trip for `NOSCRIPT` on its first claim, and the scripts are a few hundred bytes.
 */
export function scriptStore(kind: string, redis: RedisScriptRunner, prefix: string): RefreshStore {
  /** Redis's clock minus this machine's, ms, as last seen (Redis ran the script before the reply came back, so this errs early). */
  let clockOffsetMs: number | undefined
  /**
   * The generation of Redis's data this store last saw. A Redis that restarts without persistence
   * (or fails over to a replica that missed writes) forgets every lock and attempt mark, while a
   * leader somewhere may still be out at the provider with a refresh token: leading again on that
   * token would present it twice. So when the generation changes under this store, it leads on
   * nothing for `leaderMayBeOutMs` (one lease), long enough for every live leader's renewal to take
   * its lock back; results published meanwhile are still taken.
   */
  let generation: string | undefined
  /** This machine's clock, ms, until which this store may not lead (see `generation`). */
  let holdUntil = 0
  const generationKey = `${prefix}generation`

  /** The latest Redis time at which a claim sent now may still be applied, or '' for no limit. */
  function latestApplyTime(appliedWithinMs: number | undefined): string {
    if (appliedWithinMs === undefined) return ''
    return String(Math.floor(Date.now() + (clockOffsetMs ?? 0) + appliedWithinMs))
  }

  return {
    kind,
    async claim(key, leaseMs, attempt, options): Promise<ClaimResult> {
      const lockId = crypto.randomUUID()
      const reply = await redis.eval(
        CLAIM_SCRIPT,
        [...keysOf(prefix, key), generationKey],
        [
          lockId,
          String(Math.ceil(leaseMs)),
          attempt?.sealed ?? '',
          String(Math.ceil(attempt?.ttlMs ?? 1)),
          latestApplyTime(options?.appliedWithinMs),
          generation ?? '',
          crypto.randomUUID(),
          Date.now() < holdUntil ? '1' : '',
        ],
      )
      const [state, value, redisNow, seenGeneration] = Array.isArray(reply) ? (reply as unknown[]) : []
      if (typeof redisNow === 'number') clockOffsetMs = redisNow - Date.now()
      if (typeof seenGeneration === 'string' && seenGeneration !== '') {
        if (generation !== undefined && seenGeneration !== generation) holdUntil = Date.now() + (options?.leaderMayBeOutMs ?? leaseMs)
        generation = seenGeneration
      }
      if (state === 'result' && typeof value === 'string') return { kind: 'result', sealed: value }
      if (state === 'attempted' && typeof value === 'string') return { kind: 'attempted', sealed: value }
      if (state === 'lead' && value === lockId) return { kind: 'lead', lockId }
      // PTTL: -1 for a lock without expiry; `late`, `hold`, and anything unexpected, mean "not known".
      if (state === 'wait' && typeof value === 'number' && (value >= 0 || value === -1))
        return { kind: 'wait', lockTtlMs: value === -1 ? Infinity : value }
      return { kind: 'wait' }
    },
    async publish(key, lockId, sealed, ttlMs) {
      await redis.eval(PUBLISH_SCRIPT, keysOf(prefix, key), [lockId, sealed, String(Math.ceil(ttlMs))])
    },
    async extend(key, lockId, leaseMs): Promise<ExtendResult> {
      const reply = await redis.eval(EXTEND_SCRIPT, [keysOf(prefix, key)[1]], [lockId, String(Math.ceil(leaseMs))])
      if (reply === 'extended' || reply === 'retaken' || reply === 'lost') return reply
      throw new Error(`unexpected reply to the lock extension: ${typeof reply}`)
    },
    async peek(key): Promise<PeekResult> {
      const [result, lock, mark] = await redis.mget(keysOf(prefix, key))
      if (typeof result === 'string') return { kind: 'result', sealed: result }
      if (lock !== null && lock !== undefined) return { kind: 'locked' }
      return typeof mark === 'string' ? { kind: 'attempted', sealed: mark } : { kind: 'free' }
    },
    async shorten(key, ttlMs) {
      await redis.eval(SHORTEN_SCRIPT, [keysOf(prefix, key)[0]], [String(Math.ceil(ttlMs))])
    },
  }
}
