import type { Redis } from '@upstash/redis'
import type { AccountAccess, AccountTokenWrite, StoredAccount } from './accounts.js'

/** The part of `@upstash/redis` this reads and writes with; narrowed so wrappers can pass their own. */
export type UpstashAdapterClient = Pick<Redis, 'get' | 'eval'>

/**
 * Key prefixes of the Upstash Redis adapter (`@auth/upstash-redis-adapter`,
 * `@next-auth/upstash-redis-adapter`): pass the same options the adapter got. Defaults are the
 * adapter's own. Plus the clock a session's expiry is checked against.
 */
export interface UpstashAdapterKeyOptions {
  /** Default `""`. */
  baseKeyPrefix?: string
  /** Default `"user:account:"`. */
  accountKeyPrefix?: string
  /** Default `"user:account:by-user-id:"`. */
  accountByUserIdPrefix?: string
  /** Default `"user:session:"`. */
  sessionKeyPrefix?: string
  /**
   * Current time, epoch milliseconds: what a session's `expires` is compared with. Pass the same
   * clock as the middleware's `now` so both agree. Default `Date.now`.
   */
  now?: () => number
}

/** Account rows plus the session lookup the edge needs: a database session cookie holds only the session token. */
export interface DatabaseSessionAccounts extends AccountAccess {
  /** The user id of a live session, or null for an unknown or expired session token. */
  userIdOfSession(sessionToken: string): Promise<string | null>
}

/**
 * Replace the account's JSON only if it is still exactly what was read: an atomic compare-and-set
 * without parsing JSON inside Redis (cjson is not in every Redis-compatible server).
 * KEYS[1] account; ARGV[1] expected value, ARGV[2] new value.
 */
const COMPARE_AND_SET_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
`

/** How often a save re-reads after the account changed under it (another field, not the refresh token). */
const SAVE_ATTEMPTS = 3

/**
 * Account rows and sessions of the Upstash Redis adapter, read and written where the adapter keeps
 * them, so the edge middleware can refresh database sessions ({@link createDatabaseRefreshMiddleware}).
 * The adapter stores each account as JSON in the clear, tokens included; this writes the same
 * fields back in the same form and adds nothing else.
 *
 * @param redis The `@upstash/redis` client the adapter uses (same database).
 * @param options The adapter's key prefixes, and the clock (`now`, epoch ms, default `Date.now`).
 */
export function upstashAdapterAccounts(redis: UpstashAdapterClient, options: UpstashAdapterKeyOptions = {}): DatabaseSessionAccounts {
  const base = options.baseKeyPrefix ?? ''
  const accountKeyPrefix = base + (options.accountKeyPrefix ?? 'user:account:')
  const accountByUserIdPrefix = base + (options.accountByUserIdPrefix ?? 'user:account:by-user-id:')
  const sessionKeyPrefix = base + (options.sessionKeyPrefix ?? 'user:session:')
  const now = options.now ?? (() => Date.now())
  const accountKey = (provider: string, providerAccountId: string) => `${accountKeyPrefix}${provider}:${providerAccountId}`

  /** The stored JSON as an object, and as the exact string the compare-and-set must match. */
  async function readJson(key: string): Promise<{ value: Record<string, unknown>; raw: string } | null> {
    const stored = await redis.get<unknown>(key)
    if (stored === null || stored === undefined) return null
    // @upstash/redis parses JSON values unless automaticDeserialization is off; both are handled.
    // The adapter wrote JSON.stringify(account), which a parse and stringify reproduce exactly.
    const value = typeof stored === 'string' ? parseObject(stored) : stored
    if (!isRecord(value)) return null
    return { value, raw: typeof stored === 'string' ? stored : JSON.stringify(stored) }
  }

  return {
    async userIdOfSession(sessionToken) {
      const read = await readJson(sessionKeyPrefix + sessionToken)
      if (!read) return null
      const { userId, expires } = read.value
      if (typeof userId !== 'string' || userId.length === 0) return null
      const expiresMs = typeof expires === 'string' ? Date.parse(expires) : NaN
      return Number.isFinite(expiresMs) && expiresMs <= now() ? null : userId
    },

    async getAccount(userId, provider) {
      // The adapter keeps one account key per user (the last one linked).
      const key = await redis.get<unknown>(accountByUserIdPrefix + userId)
      if (typeof key !== 'string') return null
      const read = await readJson(key)
      const account = read ? toStoredAccount(read.value) : null
      if (!account || account.userId !== userId) return null
      return provider === undefined || account.provider === provider ? account : null
    },

    async saveAccount(write) {
      const key = accountKey(write.provider, write.providerAccountId)
      for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt++) {
        const read = await readJson(key)
        if (!read || read.value.userId !== write.userId) return false
        if (write.previousRefreshToken !== undefined && read.value.refresh_token !== write.previousRefreshToken) return false
        const next = JSON.stringify({ ...read.value, ...tokenFields(write) })
        const swapped = await redis.eval<[string, string], unknown>(COMPARE_AND_SET_SCRIPT, [key], [read.raw, next])
        if (Number(swapped) === 1) return true
      }
      return false
    },
  }
}

function tokenFields(write: AccountTokenWrite): Partial<StoredAccount> {
  return {
    access_token: write.access_token,
    expires_at: write.expires_at,
    refresh_token: write.refresh_token,
    ...(write.id_token !== undefined ? { id_token: write.id_token } : {}),
  }
}

function toStoredAccount(value: Record<string, unknown>): StoredAccount | null {
  const { userId, provider, providerAccountId } = value
  if (typeof userId !== 'string' || typeof provider !== 'string' || typeof providerAccountId !== 'string') return null
  return {
    userId,
    provider,
    providerAccountId,
    access_token: typeof value.access_token === 'string' ? value.access_token : null,
    expires_at: typeof value.expires_at === 'number' ? value.expires_at : null,
    refresh_token: typeof value.refresh_token === 'string' ? value.refresh_token : null,
    id_token: typeof value.id_token === 'string' ? value.id_token : null,
  }
}

function parseObject(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
