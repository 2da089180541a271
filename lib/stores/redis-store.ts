import { DEFAULTS } from '../defaults.js'
import { RefreshConfigError } from '../errors.js'
import { scriptStore, type RedisScriptRunner } from './redis-scripts.js'
import type { RefreshStore } from './store.js'

/** The part of a node-redis (`redis` 4 or 5) client this store uses. */
export interface NodeRedisLike {
  /** node-redis's `EVAL`: `client.eval(script, { keys, arguments })`. */
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
  /** node-redis's `MGET`: `client.mGet(keys)`. */
  mGet(keys: string[]): Promise<unknown[]>
}

/** The part of an ioredis client (`Redis` or `Cluster`) this store uses. */
export interface IoredisLike {
  /** ioredis's `EVAL`: `client.eval(script, numberOfKeys, ...keysThenArgs)`. */
  eval(script: string, numberOfKeys: number, ...keysAndArgs: string[]): Promise<unknown>
  /** ioredis's `MGET`: `client.mget(...keys)`. */
  mget(...keys: string[]): Promise<unknown[]>
}

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /** Prefix of every key, so one database can serve several apps. Default `"edge-refresh:"`. */
  prefix?: string
}

/**
 * A store on an ordinary Redis over TCP, for apps on Node (`proxy.ts`, `next start` replicas,
 * Vercel Node functions): the same scripts, keys, sealed values and lease rules as
 * {@link upstashStore}, through the app's own node-redis or ioredis client. The package imports
 * neither: the app creates and connects the client, and this store only sends `EVAL` and `MGET`.
 *
 * Give the client no offline queue (node-redis `disableOfflineQueue: true`, ioredis
 * `enableOfflineQueue: false`): while Redis is down, a command then fails at once and the store
 * counts as unavailable (`storeOutage`), instead of waiting out `storeTimeoutMs` on every request.
 * A claim Redis applies after its caller gave up (a queue replayed on reconnect, a paused server)
 * applies nothing: the claim script checks Redis's own clock against the caller's budget.
 *
 * @param client A connected node-redis client (`createClient(...)` after `connect()`) or ioredis client (`new Redis(...)`).
 * @throws {RefreshConfigError} `CONFIG_INVALID_OPTION` for a client that is neither.
 */
export function redisStore(client: NodeRedisLike | IoredisLike, options: RedisStoreOptions = {}): RefreshStore {
  return scriptStore('redis', runnerFor(client), options.prefix ?? DEFAULTS.storePrefix)
}

function runnerFor(client: NodeRedisLike | IoredisLike): RedisScriptRunner {
  // node-redis names its commands in camel case (`mGet`), ioredis in lower case (`mget`).
  if ('mGet' in client && typeof client.mGet === 'function') {
    const nodeRedis = client
    return {
      eval: (script, keys, args) => nodeRedis.eval(script, { keys, arguments: args }),
      mget: (keys) => nodeRedis.mGet(keys),
    }
  }
  if ('mget' in client && typeof client.mget === 'function') {
    const ioredis = client
    return {
      eval: (script, keys, args) => ioredis.eval(script, keys.length, ...keys, ...args),
      mget: (keys) => ioredis.mget(...keys),
    }
  }
  throw new RefreshConfigError(
    'CONFIG_INVALID_OPTION',
    'redisStore needs a node-redis client (createClient) or an ioredis client (new Redis)',
  )
}
