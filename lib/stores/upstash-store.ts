import { DEFAULTS } from '../defaults.js'
import type { Redis } from '@upstash/redis'
import type { RefreshStore } from './store.js'
import { scriptStore } from './redis-scripts.js'

/** The part of `@upstash/redis` this store uses; narrowed so tests and wrappers can pass their own. */
export type UpstashLike = Pick<Redis, 'eval' | 'mget'>

/** Options of {@link upstashStore}. */
export interface UpstashStoreOptions {
  /** Prefix of every key, so one database can serve several apps. Default `"edge-refresh:"`. */
  prefix?: string
}

/**
 * A store on Upstash Redis (REST), shared by every edge isolate and region. The same scripts as
 * {@link redisStore}'s, sent over Upstash's HTTP API (see `scriptStore`).
 *
 * @param redis An `@upstash/redis` client, e.g. `Redis.fromEnv()`. Give it `retry: false`: the
 * store bounds each call itself (`storeTimeoutMs`), and the client's own retries would only delay that.
 */
export function upstashStore(redis: UpstashLike, options: UpstashStoreOptions = {}): RefreshStore {
  return scriptStore(
    'upstash',
    {
      eval: (script, keys, args) => redis.eval<string[], unknown>(script, keys, args),
      mget: (keys) => redis.mget<unknown[]>(...keys),
    },
    options.prefix ?? DEFAULTS.storePrefix,
  )
}
