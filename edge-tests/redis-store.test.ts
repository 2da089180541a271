// @vitest-environment node
/**
 * `redisStore` on an ordinary Redis over TCP, with both clients an app may bring: node-redis
 * (`redis`) and ioredis. What is real: redis-server (the Debian package, its own process for this
 * file, paused with SIGSTOP and stopped for the faults), both clients, the provider (the shared
 * oidc-provider of global-setup, rotation and reuse detection on). Two "instances" are two
 * middlewares, each with its own client and memory, as two `next start` replicas (`proxy.ts`, Node)
 * would have.
 */
import { Redis as Ioredis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createRefreshMiddleware, redisStore, type RefreshMiddleware, type RefreshStore } from '../lib'
import { createSealer } from '../lib/refresh/sealing'
import { findFreePort } from '../testkit/http-json'
import { RedisProcess } from '../testkit/redis-process'
import {
  COOKIE_NAMES,
  SECRET,
  decodeWith,
  encodeWith,
  hooks,
  localOidc,
  pageRequest,
  providerStats,
  refreshDirectly,
  sessionPayload,
  setCookies,
  signInAtProvider,
} from './support/sessions'

const NAME = COOKIE_NAMES['next-auth-v4'].plain
/** Each store call's budget: short, so the faults below cost the test little time. */
const STORE_TIMEOUT_MS = 300

type ClientKind = 'node-redis' | 'ioredis'

let redis: RedisProcess
const clients: Array<{ close(): Promise<unknown> }> = []

beforeAll(async () => {
  // Throws "redis-server not found: run `apt-get install -y redis-server`" when it is missing.
  redis = new RedisProcess(await findFreePort())
  await redis.start()
})

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined)
  redis?.resume()
  await redis?.stop()
})

let prefix = ''
beforeEach(async () => {
  prefix = `test:${crypto.randomUUID()}:`
  await hooks().reset()
})

/**
 * A connected client of the given kind, as the docs tell an app to make it: no offline queue, so
 * that a command sent while Redis is down fails at once.
 */
async function connectedStore(kind: ClientKind): Promise<RefreshStore> {
  const url = `redis://127.0.0.1:${redis.port}`
  if (kind === 'node-redis') {
    const client = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 100 } })
    client.on('error', () => undefined)
    await client.connect()
    clients.push({ close: () => client.quit() })
    return redisStore(client, { prefix })
  }
  const client = new Ioredis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100, lazyConnect: true })
  client.on('error', () => undefined)
  await client.connect()
  clients.push({ close: () => client.quit() })
  return redisStore(client, { prefix })
}

async function instance(kind: ClientKind): Promise<RefreshMiddleware> {
  return createRefreshMiddleware({
    secret: SECRET,
    providers: { oidc: localOidc() },
    store: await connectedStore(kind),
    storeTimeoutMs: STORE_TIMEOUT_MS,
    leaseMs: 3 * STORE_TIMEOUT_MS + 750,
    logger: { warn: () => undefined, error: () => undefined },
  })
}

async function expiredSession() {
  const tokens = await signInAtProvider()
  const jwt = await encodeWith('next-auth-v4', NAME, sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) - 5 }))
  return { tokens, cookies: { [NAME]: jwt } }
}

async function accessTokenOf(response: Response): Promise<string | undefined> {
  const cookie = setCookies(response).find((c) => c.name === NAME)
  const payload = cookie ? await decodeWith('next-auth-v4', NAME, cookie.value) : null
  return typeof payload?.access_token === 'string' ? payload.access_token : undefined
}

/** `count` requests with one cookie, alternating between the instances, all at once. */
function storm(instances: RefreshMiddleware[], count: number, cookies: Record<string, string>): Promise<Response[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => instances[i % instances.length]!(pageRequest(`/p/${i}`, cookies))))
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

for (const kind of ['node-redis', 'ioredis'] as const) {
  describe(`redisStore with ${kind}`, () => {
    it('a 50-request storm over 2 instances makes 1 provider call, 0 reuse, and every answer carries the new tokens', async () => {
      const instances = [await instance(kind), await instance(kind)]
      const { cookies } = await expiredSession()
      const started = Date.now()
      const responses = await storm(instances, 50, cookies)
      const latencies = Date.now() - started
      const tokens = await Promise.all(responses.map(accessTokenOf))
      expect(responses.every((response) => response.status === 200)).toBe(true)
      expect(new Set(tokens).size).toBe(1)
      expect(tokens[0]).toBeTruthy()
      const stats = await providerStats()
      expect(stats).toMatchObject({ refreshRequests: 1, reuseDetected: 0 })
      console.log(`[redis-store] ${JSON.stringify({ client: kind, requests: 50, instances: 2, stormMs: latencies, provider: stats })}`)
    })

    it('Redis stopped during a storm: nothing refreshed, nothing lost; restarted: one refresh, the login intact', async () => {
      const instances = [await instance(kind), await instance(kind)]
      const { tokens, cookies } = await expiredSession()
      await redis.stop()
      try {
        const responses = await storm(instances, 20, cookies)
        for (const response of responses) {
          expect(response.status).toBe(200)
          expect(setCookies(response)).toEqual([])
        }
        expect((await providerStats()).refreshRequests).toBe(0)
      } finally {
        await redis.start()
      }
      // The clients reconnect on their own (every 100 ms here); then the same cookie refreshes once.
      const deadline = Date.now() + 10_000
      let fresh: string | undefined
      while (!fresh && Date.now() < deadline) {
        fresh = (await Promise.all((await storm(instances, 10, cookies)).map(accessTokenOf))).find(Boolean)
        if (!fresh) await sleep(200)
      }
      expect(fresh).toBeTruthy()
      expect(fresh).not.toBe(tokens.access_token)
      expect(await providerStats()).toMatchObject({ refreshRequests: 1, reuseDetected: 0 })
    })

    it('Redis paused (slowed) during a storm and resumed: no reuse, and the login is intact afterwards', async () => {
      const instances = [await instance(kind), await instance(kind)]
      const { cookies } = await expiredSession()
      redis.pause()
      let responses: Response[]
      try {
        responses = await storm(instances, 20, cookies)
      } finally {
        // Commands sent meanwhile are applied now, late: claims among them must write nothing.
        setTimeout(() => redis.resume(), 0)
      }
      for (const response of responses) expect(response.status).toBe(200)
      await sleep(500)
      const after = await storm(instances, 10, cookies)
      const tokens = (await Promise.all(after.map(accessTokenOf))).filter(Boolean)
      expect(new Set(tokens).size).toBe(1)
      const stats = await providerStats()
      expect(stats).toMatchObject({ refreshRequests: 1, reuseDetected: 0 })
      // The new refresh token still works at the provider: the grant was never revoked.
      const payload = await decodeWith('next-auth-v4', NAME, setCookies(after.find((r) => setCookies(r).length > 0)!)[0]!.value)
      expect((await refreshDirectly(String(payload?.refresh_token))).status).toBe(200)
    })

    it('regression: a claim Redis applied after its caller gave up wrote an attempt mark, which would have ended the login', async () => {
      const store = await connectedStore(kind)
      const key = await createSealer([SECRET]).keyFor(`refresh-token-${crypto.randomUUID()}`)
      const mark = { sealed: 'attempt-mark', ttlMs: 60_000 }
      const lateClaim = async (appliedWithinMs: number | undefined) => {
        redis.pause()
        const claim = store.claim(key, 1_000, mark, appliedWithinMs === undefined ? {} : { appliedWithinMs })
        // The caller gives up after its budget, as single flight does; Redis is still paused.
        const outcome = await Promise.race([claim.then(() => 'answered'), sleep(STORE_TIMEOUT_MS).then(() => 'gave up')])
        redis.resume()
        await claim.catch(() => undefined)
        return outcome
      }
      // Without a budget the late claim still takes the lock and writes the mark: what broke.
      expect(await lateClaim(undefined)).toBe('gave up')
      await sleep(1_100)
      expect(await store.peek(key)).toEqual({ kind: 'attempted', sealed: 'attempt-mark' })
      // With the caller's budget it applies nothing.
      const other = await createSealer([SECRET]).keyFor(`refresh-token-${crypto.randomUUID()}`)
      redis.pause()
      const claim = store.claim(other, 1_000, mark, { appliedWithinMs: STORE_TIMEOUT_MS })
      await sleep(STORE_TIMEOUT_MS + 200)
      redis.resume()
      expect(await claim).toEqual({ kind: 'wait' })
      expect(await store.peek(other)).toEqual({ kind: 'free' })
    })
  })
}
