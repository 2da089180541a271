// @vitest-environment node
/**
 * Self-hosted replicas on an ordinary Redis: two `next start` servers of the built demo (its
 * `proxy.ts`, on Node) on two ports of 127.0.0.1, sharing nothing but one real `redis-server` (over
 * TCP, `REDIS_URL`) and the local oidc-provider (rotating refresh tokens, reuse detection on),
 * once with node-redis and once with ioredis (`REDIS_CLIENT`).
 *
 * - A 50-request storm with one expired cookie over both servers: 1 provider call, 0 reuse.
 * - A token inside the skew window: answered at once, refreshed after the response (the proxy's
 *   `event.waitUntil` on Node), the next request served the stored result.
 * - Redis stopped and paused (SIGSTOP, 2 s) while the storm's refresh is at the provider, and
 *   restarted (empty) between refreshes: no reuse, nobody logged out; afterwards the same cookie
 *   still refreshes to tokens the provider accepts, and a new session storms to one call again.
 * - Redis restarted EMPTY while the refresh is at the provider: the stores notice the new
 *   generation of Redis's data and lead on nothing for one lease; no reuse, nobody logged out.
 *
 * Each storm prints one JSON line (`[replicas-redis] {...}`) with its provider counts and p99 / max
 * latency. The build is shared with the other `next start` tests (ensureNextBuild).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findFreePort } from '../testkit/http-json'
import { ensureNextBuild, startNextServer, type NextServer } from '../testkit/next-app'
import { DEFAULT_TEST_CLIENT, startLocalProvider, type LocalProvider } from '../testkit/oidc-provider'
import { latencySummary, probe, probeStorm, type ProbeAnswer } from '../testkit/probe-storm'
import { providerHooks, type ProviderTokens } from '../testkit/provider-hooks'
import { RedisProcess } from '../testkit/redis-process'
import { COOKIE_NAMES, SECRET, decodeWith, encodeWith, sessionPayload } from './support/sessions'

/** next-auth v4's cookie on plain http. */
const NAME = COOKIE_NAMES['next-auth-v4'].plain
/** Access tokens live this long at the provider: no second refresh within a test. */
const TTL_SECONDS = 60
/**
 * REFRESH_SKEW_SECONDS of the servers: a token with less than this left is refreshed; with at
 * least the package's minimum for a background refresh (10 s) left, after the response.
 */
const SKEW_SECONDS = 30
const STORM = 50
/** Faults: requests launched every this many ms (a storm spread over about a second)… */
const SPACING_MS = 20
/** …with the fault injected once this one has gone out, while the leader's provider call is open. */
const FAULT_AT = 5
/** The provider takes this long over each refresh of a faulted storm, so the fault meets a call in flight. */
const FAULT_PROVIDER_LATENCY_MS = 300
/** How long Redis stays paused. */
const PAUSE_MS = 2_000
/** After a fault: how long the same cookie may take to refresh again, and how often it is tried. */
const RECOVERY_MS = 15_000
const RECOVERY_STEP_MS = 300

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const nowSeconds = () => Math.floor(Date.now() / 1000)

let provider: LocalProvider
let redis: RedisProcess
let userinfoEndpoint: string
const hooks = () => providerHooks(provider.issuer)

beforeAll(async () => {
  // Throws "redis-server not found: run `apt-get install -y redis-server`" when it is missing.
  redis = new RedisProcess(await findFreePort())
  await ensureNextBuild()
  await redis.start()
  provider = await startLocalProvider({ accessTokenTtlSeconds: TTL_SECONDS, testHooks: true })
  const discovery = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as { userinfo_endpoint: string }
  userinfoEndpoint = discovery.userinfo_endpoint
}, 420_000)

afterAll(async () => {
  if (redis?.running) {
    try {
      redis.resume()
    } catch {
      // not paused
    }
  }
  await redis?.stop()
  await provider?.stop().catch(() => undefined)
}, 30_000)

/** A signed-in session of a login of its own: the cookie as next-auth wrote it, with `expires_at` as given. */
async function session(login: string, expiresAt: number): Promise<{ tokens: ProviderTokens; cookie: string }> {
  const tokens = await hooks().signIn({ login })
  const jwt = await encodeWith('next-auth-v4', NAME, sessionPayload(tokens, { expires_at: expiresAt }))
  return { tokens, cookie: `${NAME}=${jwt}` }
}

/** The session an answer set, or undefined when it set none. */
async function sessionOf(answer: ProbeAnswer): Promise<Record<string, unknown> | undefined> {
  const jwt = answer.setCookies[NAME]
  if (jwt === undefined) return undefined
  return (await decodeWith('next-auth-v4', NAME, jwt)) ?? undefined
}

/** Nobody logged out: every answer is a 200, and no session it set carries an error. */
async function expectNobodyLoggedOut(answers: readonly ProbeAnswer[], where: string): Promise<void> {
  for (const answer of answers) {
    expect(answer.status, `${where}: ${answer.server} ${answer.refresh}`).toBe(200)
    const set = await sessionOf(answer)
    expect(set?.error, `${where}: ${answer.server} ${answer.refresh}`).toBeUndefined()
  }
}

/** The provider accepts this access token (userinfo answers 200 for this login). */
async function expectWorking(accessToken: string, login: string): Promise<void> {
  const response = await fetch(userinfoEndpoint, {
    headers: { authorization: `Bearer ${accessToken}` },
    signal: AbortSignal.timeout(5_000),
  })
  expect(response.status).toBe(200)
  expect(((await response.json()) as { sub?: string }).sub).toBe(login)
}

/**
 * After a fault: the same (old) cookie, sent to each server in turn until both hand back the same
 * new access token (bounded in time and count). Returns it.
 */
async function refreshesAgain(servers: readonly NextServer[], cookie: string, original: string): Promise<string> {
  const deadline = Date.now() + RECOVERY_MS
  const seen: string[] = []
  for (let round = 0; round < RECOVERY_MS / RECOVERY_STEP_MS && Date.now() < deadline; round++) {
    const answers = await Promise.all(servers.map((server) => probe(server.url, cookie)))
    await expectNobodyLoggedOut(answers, `recovery round ${round}`)
    const tokens = await Promise.all(answers.map(async (answer) => (await sessionOf(answer))?.access_token))
    seen.push(answers.map((answer) => answer.refresh).join(' | '))
    if (tokens.every((token) => typeof token === 'string' && token !== original) && new Set(tokens).size === 1) return tokens[0] as string
    await sleep(RECOVERY_STEP_MS)
  }
  throw new Error(`the cookie did not refresh again within ${RECOVERY_MS} ms; the proxy said: ${seen.slice(-5).join(' / ')}`)
}

function report(fields: Record<string, unknown>): void {
  console.log(`[replicas-redis] ${JSON.stringify(fields)}`)
}

for (const client of ['node-redis', 'ioredis'] as const) {
  describe(`2 × next start (proxy.ts) sharing one redis-server through ${client}`, () => {
    let servers: NextServer[] = []
    const urls = () => servers.map((server) => server.url)

    beforeAll(async () => {
      const ports = [await findFreePort(), await findFreePort()]
      servers = await Promise.all(
        ports.map((port, index) =>
          startNextServer({
            port,
            name: `replicas-redis-${client}-${index}`,
            env: {
              NEXTAUTH_URL: `http://127.0.0.1:${port}`,
              NEXTAUTH_SECRET: SECRET,
              OIDC_ISSUER: provider.issuer,
              OIDC_CLIENT_ID: DEFAULT_TEST_CLIENT.client_id,
              OIDC_CLIENT_SECRET: DEFAULT_TEST_CLIENT.client_secret,
              REDIS_URL: `redis://127.0.0.1:${redis.port}`,
              REDIS_CLIENT: client,
              REFRESH_SKEW_SECONDS: String(SKEW_SECONDS),
            },
          }),
        ),
      )
      // Warm-up, without a session: loads the proxy and the pages' modules and makes the Redis
      // client (the storms' latencies are then the refresh's, not a cold start's).
      for (const server of servers) for (let round = 0; round < 3; round++) expect((await probe(server.url, '')).status).toBe(200)
    }, 120_000)

    afterAll(async () => {
      await Promise.all(servers.map((server) => server.stop().catch(() => undefined)))
    }, 30_000)

    it(`a ${STORM}-request storm with one expired cookie over both servers: 1 provider call, 0 reuse`, async () => {
      const login = `replicas-${client}-storm-${crypto.randomUUID().slice(0, 8)}`
      const { tokens, cookie } = await session(login, nowSeconds() - 5)
      const answers = await probeStorm(urls(), cookie, { count: STORM })
      await expectNobodyLoggedOut(answers, 'storm')
      const sessions = await Promise.all(answers.map(sessionOf))
      const accessTokens = new Set(sessions.map((set) => set?.access_token))
      expect(accessTokens.size, [...accessTokens].join(', ')).toBe(1)
      const [fresh] = [...accessTokens]
      expect(typeof fresh).toBe('string')
      expect(fresh).not.toBe(tokens.access_token)
      await expectWorking(fresh as string, login)
      // Both servers took part, and the proxy ran on Node with a waitUntil to keep work alive.
      expect(new Set(answers.map((answer) => answer.server)).size).toBe(2)
      expect(new Set(answers.map((answer) => answer.runtime))).toEqual(new Set(['nodejs; waitUntil=function']))
      const stats = await hooks().stats(login)
      report({
        client,
        case: 'storm',
        requests: STORM,
        servers: 2,
        providerCalls: stats.refreshRequests,
        reuse: stats.reuseDetected,
        ...latencySummary(answers),
        outcomes: countBy(answers.map((answer) => answer.refresh)),
      })
      expect(stats).toMatchObject({ refreshRequests: 1, reuseDetected: 0, refreshFailed: 0 })
    })

    it('a token inside the skew window: answered at once, refreshed after the response (waitUntil), the next request served the stored result', async () => {
      const login = `replicas-${client}-background-${crypto.randomUUID().slice(0, 8)}`
      // Due (inside the skew), with more than the package's 10 s minimum left: a background refresh.
      const { tokens, cookie } = await session(login, nowSeconds() + 20)
      // The provider sits on the refresh for a second: the answer must not wait for it.
      await hooks().latency(1_000, login)
      const [first] = await probeStorm(urls().slice(0, 1), cookie, { count: 1 })
      expect(first!.status).toBe(200)
      expect(first!.runtime).toBe('nodejs; waitUntil=function')
      expect(first!.ms).toBeLessThan(900)
      // The answer kept the session as it was: it did not wait for the provider's answer.
      expect((await sessionOf(first!))?.access_token ?? tokens.access_token).toBe(tokens.access_token)
      expect((await hooks().stats(login)).refreshSucceeded).toBe(0)
      // The refresh goes on after the response and lands.
      await expect.poll(async () => (await hooks().stats(login)).refreshSucceeded, { timeout: 10_000, interval: 100 }).toBe(1)
      // The next request, on the OTHER server, gets the stored result (no second call).
      let next: ProbeAnswer | undefined
      let fresh: unknown
      for (let attempt = 0; attempt < 20 && fresh === undefined; attempt++) {
        next = await probe(servers[1]!.url, cookie)
        fresh = (await sessionOf(next))?.access_token
        if (fresh === undefined) await sleep(150)
      }
      expect(next?.refresh).toBe('refreshed/store')
      expect(fresh).not.toBe(tokens.access_token)
      await expectWorking(fresh as string, login)
      const stats = await hooks().stats(login)
      report({
        client,
        case: 'background',
        firstAnswerMs: Math.round(first!.ms),
        first: first!.refresh,
        next: next?.refresh,
        providerCalls: stats.refreshRequests,
      })
      expect(stats).toMatchObject({ refreshRequests: 1, reuseDetected: 0 })
    })

    const faults = {
      stopped: {
        what: 'stopped mid-call (started again after the storm)',
        providerLatencyMs: FAULT_PROVIDER_LATENCY_MS,
        run: () => redis.stop(),
        after: () => redis.start(),
      },
      paused: {
        // SIGSTOP: connections stay open, commands wait in the socket and are applied late.
        what: `paused (SIGSTOP) for ${PAUSE_MS} ms mid-call`,
        providerLatencyMs: FAULT_PROVIDER_LATENCY_MS,
        run: async () => {
          redis.pause()
          await sleep(PAUSE_MS)
          redis.resume()
        },
        after: async () => undefined,
      },
      restarted: {
        // Stopped and started at once, after the storm's refresh was published: Redis comes back
        // empty (no persistence), and the servers reconnect on their own.
        what: 'restarted (empty) between refreshes',
        providerLatencyMs: 0,
        run: async () => {
          await redis.stop()
          await redis.start()
        },
        after: async () => undefined,
      },
    } as const

    for (const [fault, { what, providerLatencyMs, run, after }] of Object.entries(faults)) {
      it(`Redis ${what} during a ${STORM}-request storm: no reuse, nobody logged out, the same cookie refreshes to working tokens`, async () => {
        const login = `replicas-${client}-${fault}-${crypto.randomUUID().slice(0, 8)}`
        const { tokens, cookie } = await session(login, nowSeconds() - 5)
        await hooks().latency(providerLatencyMs, login)
        let answers: ProbeAnswer[]
        try {
          answers = await probeStorm(urls(), cookie, { count: STORM, spacingMs: SPACING_MS, fault: { atIndex: FAULT_AT, run } })
        } finally {
          await after()
        }
        await expectNobodyLoggedOut(answers, `storm with Redis ${fault}`)
        const during = await hooks().stats(login)
        const fresh = await refreshesAgain(servers, cookie, tokens.access_token)
        await expectWorking(fresh, login)
        const stats = await hooks().stats(login)
        // The servers' clients are back on Redis. A Redis that came back empty makes each store
        // lead on nothing for one lease (a live leader may still be out with a token): a canary
        // session waits that out. Then a new expired session storms to one call again.
        const canary = await session(`${login}-canary`, nowSeconds() - 5)
        await refreshesAgain(servers, canary.cookie, canary.tokens.access_token)
        const next = `${login}-after`
        const { cookie: nextCookie } = await session(next, nowSeconds() - 5)
        const afterFault = await probeStorm(urls(), nextCookie, { count: 20 })
        await expectNobodyLoggedOut(afterFault, `storm after Redis ${fault}`)
        const nextStats = await hooks().stats(next)
        report({
          client,
          case: `redis ${fault}`,
          requests: STORM,
          servers: 2,
          providerCallsDuringStorm: during.refreshRequests,
          providerCalls: stats.refreshRequests,
          reuse: stats.reuseDetected,
          ...latencySummary(answers),
          outcomes: countBy(answers.map((answer) => answer.refresh)),
          afterFault: {
            providerCalls: nextStats.refreshRequests,
            reuse: nextStats.reuseDetected,
            outcomes: countBy(afterFault.map((a) => a.refresh)),
          },
        })
        expect(stats.reuseDetected).toBe(0)
        expect(stats.refreshFailed).toBe(0)
        expect(stats.refreshRequests).toBe(1)
        expect(nextStats).toMatchObject({ refreshRequests: 1, reuseDetected: 0 })
      }, 60_000)
    }

    it('regression: Redis restarted EMPTY while the refresh was at the provider: the other server led again with the spent token (reuse, login ended)', async () => {
      // Redis without persistence, restarted during the leader's provider call, forgets its lock
      // and attempt mark. Each store now notices the new generation of Redis's data and leads on
      // nothing for one lease, while the live leader's renewal takes its lock back and its result
      // lands: no second call with that refresh token.
      const login = `replicas-${client}-restart-in-flight-${crypto.randomUUID().slice(0, 8)}`
      const { tokens, cookie } = await session(login, nowSeconds() - 5)
      await hooks().latency(FAULT_PROVIDER_LATENCY_MS, login)
      const answers = await probeStorm(urls(), cookie, {
        count: STORM,
        spacingMs: SPACING_MS,
        fault: {
          atIndex: FAULT_AT,
          run: async () => {
            await redis.stop()
            await redis.start()
          },
        },
      })
      await expectNobodyLoggedOut(answers, 'storm with Redis restarted empty mid-call')
      const fresh = await refreshesAgain(servers, cookie, tokens.access_token)
      await expectWorking(fresh, login)
      const stats = await hooks().stats(login)
      report({
        client,
        case: 'redis restarted empty mid-call',
        requests: STORM,
        servers: 2,
        providerCalls: stats.refreshRequests,
        reuse: stats.reuseDetected,
        ...latencySummary(answers),
        outcomes: countBy(answers.map((answer) => answer.refresh)),
      })
      expect(stats.reuseDetected).toBe(0)
      expect(stats.refreshRequests).toBe(1)
    }, 60_000)
  })
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1
  return counts
}
