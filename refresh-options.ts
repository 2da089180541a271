/**
 * The refresh library's options, built from the validated environment. Shared by `proxy.ts` and
 * `auth.ts` (both on Node), so both refresh with the same secret, providers, store and session max
 * age. The store: an ordinary Redis over TCP (REDIS_URL, node-redis or ioredis), else Upstash over
 * REST, else memory (precedence in env.ts).
 */
import { Redis } from '@upstash/redis'
import { Redis as Ioredis } from 'ioredis'
import {
  cognito,
  google,
  memoryStore,
  oidc,
  redisStore,
  upstashStore,
  type IoredisLike,
  type NodeRedisLike,
  type RefreshOptions,
  type RefreshMiddlewareOptions,
  type RefreshProvider,
  type RefreshStore,
} from 'next-auth-edge-refresh'
import { openTelemetry } from 'next-auth-edge-refresh/otel'
import { createClient } from 'redis'
import { SESSION_MAX_AGE_SECONDS, type AppEnv, type RedisEnv } from './env'

/** Key prefix of the refresh store, whichever Redis it is. */
const STORE_PREFIX = 'edge-refresh:'

/** next-auth's sign-in page (`pages.signIn`), and where the proxy sends a page navigation whose login has ended. */
export const SIGN_IN_PATH = '/signin'

/** Refresh providers keyed by the next-auth provider id stored in the session (`provider`). */
export function refreshProviders(env: AppEnv): Record<string, RefreshProvider> {
  const providers: Record<string, RefreshProvider> = {}
  for (const provider of env.providers) {
    if (provider.id === 'cognito')
      providers.cognito = cognito({ issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret })
    else if (provider.id === 'google') providers.google = google({ clientId: provider.clientId, clientSecret: provider.clientSecret })
    else providers.oidc = oidc({ issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret })
  }
  return providers
}

/**
 * The shared store when one is configured (REDIS_URL, else Upstash), else memory. The memory store
 * coordinates one server process only; `auth.ts` keeps its callbacks from refreshing early (see there).
 */
export function refreshStore(env: AppEnv): RefreshStore {
  if (env.redis) return redisStore(redisClient(env.redis), { prefix: STORE_PREFIX })
  if (!env.upstash) return memoryStore()
  // The package bounds each store call itself (storeTimeoutMs, then a store outage); the client's
  // own retries (seconds of back-off) would only delay that.
  const redis = new Redis({ url: env.upstash.url, token: env.upstash.token, retry: false, enableTelemetry: false })
  return upstashStore(redis, { prefix: STORE_PREFIX })
}

/** One TCP client per server process and URL: the proxy's bundle and the route handlers' share it. */
const CLIENTS = Symbol.for('next-auth-edge-refresh-demo.redis-clients')
type ClientCache = Map<string, NodeRedisLike | IoredisLike>
/** Between two logs of the client's connection errors (a Redis outage would otherwise log per retry). */
const ERROR_LOG_INTERVAL_MS = 10_000
/** Between two reconnection attempts while Redis is down, ms. */
const RECONNECT_DELAY_MS = 200

/**
 * The app's own Redis client, as redisStore's documentation says to make it: no offline queue, so
 * that while Redis is down a command fails at once (a store outage, under the package's rules)
 * instead of waiting out the store's time limit, and is never replayed late after a reconnect.
 *
 * The client connects in the background; a command sent before its FIRST connection waits for it
 * (bounded by the store's own time limit), so the first requests after a boot are not outages.
 * After that, commands go straight to the client.
 */
function redisClient(env: RedisEnv): NodeRedisLike | IoredisLike {
  const cache = ((globalThis as { [CLIENTS]?: ClientCache })[CLIENTS] ??= new Map())
  const key = `${env.client} ${env.url}`
  let client = cache.get(key)
  if (!client) {
    client = env.client === 'ioredis' ? ioredisClient(env.url) : nodeRedisClient(env.url)
    cache.set(key, client)
  }
  return client
}

function errorLogger(kind: RedisEnv['client']): (error: unknown) => void {
  let lastLog = 0
  return (error) => {
    if (Date.now() - lastLog < ERROR_LOG_INTERVAL_MS) return
    lastLog = Date.now()
    console.warn(`[edge-refresh] Redis (${kind}): ${error instanceof Error ? error.message : String(error)}`)
  }
}

function nodeRedisClient(url: string): NodeRedisLike {
  const client = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: () => RECONNECT_DELAY_MS } })
  client.on('error', errorLogger('node-redis'))
  // Resolves on the first connection (node-redis retries until then); never rejects here.
  let firstConnection: Promise<unknown> | undefined = client.connect().catch(errorLogger('node-redis'))
  const connected = async () => {
    if (firstConnection) await firstConnection
    firstConnection = undefined
  }
  return {
    async eval(script, options) {
      await connected()
      return client.eval(script, options)
    },
    async mGet(keys) {
      await connected()
      return client.mGet(keys)
    },
  }
}

function ioredisClient(url: string): IoredisLike {
  const client = new Ioredis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => RECONNECT_DELAY_MS })
  client.on('error', errorLogger('ioredis'))
  let firstConnection: Promise<unknown> | undefined = new Promise((resolve) => client.once('ready', resolve))
  const connected = async () => {
    if (firstConnection && client.status !== 'ready') await firstConnection
    firstConnection = undefined
  }
  return {
    async eval(script, numberOfKeys, ...keysAndArgs) {
      await connected()
      return client.eval(script, numberOfKeys, ...keysAndArgs)
    },
    async mget(...keys) {
      await connected()
      return client.mget(...keys)
    },
  }
}

/**
 * Everything the proxy and the callbacks share. The skew is the proxy's alone (see
 * {@link middlewareOptions}): the callbacks keep their default of 0.
 */
export function refreshOptions(env: AppEnv): RefreshOptions {
  return {
    secret: env.secret,
    providers: refreshProviders(env),
    store: refreshStore(env),
    sessionMaxAge: SESSION_MAX_AGE_SECONDS,
  }
}

/** The proxy's options: the shared ones, its skew, and the app's sign-in page. */
export function middlewareOptions(env: AppEnv): RefreshMiddlewareOptions {
  return {
    ...refreshOptions(env),
    ...(env.skewSeconds !== undefined ? { skewSeconds: env.skewSeconds } : {}),
    signInPath: SIGN_IN_PATH,
    // Spans and metrics through whatever SDK instrumentation.ts registered (none in production
    // here: then the API's no-ops, which cost nothing measurable; see bench/telemetry.ts).
    telemetry: openTelemetry(),
  }
}
