// @vitest-environment node
/**
 * examples/cloudflare-workers on Cloudflare's runtime, locally: the package packed with `npm pack`,
 * the app copied outside the repository and installed from the tarball, built with
 * `opennextjs-cloudflare build` (no secret in the environment) and served by `wrangler dev` from
 * `workerd` on 127.0.0.1, with the Upstash store (testkit's REST server in front of a real
 * redis-server, over plain http on loopback) and a fresh local oidc-provider (8-second access
 * tokens, rotating refresh tokens, a reused one revokes the login).
 *
 * 1. Headless Chromium: the gate sends a signed-out visit to sign-in, sign-in through the
 *    provider's pages, the page uses the access token, one refresh after the expiry.
 * 2. A storm of 10 page + 10 session requests with one expired cookie, half of them to a second
 *    `wrangler dev` of the same build (its own workerd, its own isolate): 1 provider call, 0 reuse,
 *    no error, every session answer with the same new access token.
 * 3. What workerd gives the app where it differs from @edge-runtime/vm (a probe route added to the
 *    copy only): navigator.userAgent, Web Crypto, `ctx.waitUntil` keeping work alive after the
 *    response, module state kept between requests, `process.env` filled from the Worker's
 *    variables, and the subrequests one refresh costs; the clock during synchronous work is
 *    reported (frozen when deployed, not under wrangler dev).
 *
 * Prints one JSON line of figures (`[cloudflare-workers] {...}`).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { protectedPageChecks, providerStatsDelta } from './support/protected-page'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from '../testkit/chromium'
import { findFreePort } from '../testkit/http-json'
import { startLocalProvider, type LocalProvider } from '../testkit/oidc-provider'
import { providerHooks, type RefreshStats } from '../testkit/provider-hooks'
import { loginAtProvider } from '../testkit/provider-login'
import { startRedisRest, type CommandStats, type RedisRestServer } from '../testkit/upstash-rest'
import { installExample, packLib, tail, type InstalledExample } from './support/example-apps'
import {
  addRuntimeProbe,
  buildWorker,
  nodeForWrangler,
  RUNTIME_PROBE_PATH,
  startWranglerDev,
  type RuntimeProbe,
  type WranglerDev,
} from './support/workerd'

const EXAMPLE = 'cloudflare-workers'
/** Access-token lifetime at the provider, seconds. */
const TTL_SECONDS = 8
/** Requests of each kind in the storm (page and session): 20 in all. */
const STORM_EACH = 10
const LOGIN = 'workers-user'
const BASE_PATH = '/auth'
/** Cloudflare's subrequest limit per request on the Free plan (the lowest). */
const FREE_PLAN_SUBREQUESTS = 50

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let workDir: string | undefined
let redis: RedisRestServer | undefined
let browser: Browser | undefined
let provider: LocalProvider | undefined
let worker: WranglerDev | undefined
/** A second `wrangler dev` of the same build (its own workerd processes and isolate), for the storm. */
let workerB: WranglerDev | undefined
let example: InstalledExample | undefined
let buildMs = 0
let wranglerNode = ''

beforeAll(async () => {
  requireChromium()
  // Throws "redis-server not found: run `apt-get install -y redis-server`" when it is missing.
  redis = await startRedisRest()
  workDir = mkdtempSync(join(tmpdir(), 'edge-refresh-workers-'))
  const tarball = await packLib(join(workDir, 'pack'))
  const [installed, node] = await Promise.all([installExample(EXAMPLE, tarball, workDir), nodeForWrangler(workDir)])
  example = installed
  wranglerNode = node.version
  addRuntimeProbe(installed)
  // The build sees no secret and no app setting: the app reads them on the first request.
  const build = await buildWorker(installed, { NEXT_IGNORE_INCORRECT_LOCKFILE: '1' })
  buildMs = build.durationMs
  if (build.code !== 0)
    throw new Error(
      `opennextjs-cloudflare build of examples/${EXAMPLE} failed (${build.code}); see artifacts/examples/${EXAMPLE}-opennextjs-cloudflare-build.log:\n${tail(build.output, 60)}`,
    )
  expect(build.output, 'OpenNext build output').toContain('OpenNext build complete')

  const port = await findFreePort()
  const clientId = 'example-cloudflare-workers'
  const clientSecret = randomBytes(16).toString('hex')
  // wrangler dev binds 127.0.0.1, but Next (through OpenNext, as under `next start`) hands the
  // middleware and Auth.js `http://localhost:<port>` URLs: the browser and Node use localhost too,
  // so cookies and Auth.js's redirect_uri stay on one host.
  const origin = `http://localhost:${port}`
  provider = await startLocalProvider({
    testHooks: true,
    accessTokenTtlSeconds: TTL_SECONDS,
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [`${origin}${BASE_PATH}/callback/oidc`],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
  })
  const vars = {
    AUTH_SECRET: randomBytes(32).toString('base64'),
    // Needed on plain http: OpenNext hands the middleware no `x-forwarded-proto`, from which
    // Auth.js's `auth` would then assume https and look for the `__Secure-` session cookie that
    // the route handler (which sees http) never set. In production on https both agree.
    AUTH_URL: `${origin}${BASE_PATH}`,
    OIDC_ISSUER: provider.issuer,
    OIDC_CLIENT_ID: clientId,
    OIDC_CLIENT_SECRET: clientSecret,
    UPSTASH_REDIS_REST_URL: redis.url,
    UPSTASH_REDIS_REST_TOKEN: redis.token,
  }
  const [portB, inspectorA, inspectorB] = [await findFreePort(), await findFreePort(), await findFreePort()]
  const [started, startedB] = await Promise.allSettled([
    startWranglerDev(installed, { node: node.node, port, inspectorPort: inspectorA, log: `${EXAMPLE}-wrangler-dev`, vars }),
    startWranglerDev(installed, {
      node: node.node,
      port: portB,
      inspectorPort: inspectorB,
      log: `${EXAMPLE}-wrangler-dev-b`,
      vars,
      persistTo: join(installed.dir, '.wrangler', 'state-b'),
    }),
  ])
  if (started.status === 'fulfilled') worker = started.value
  if (startedB.status === 'fulfilled') workerB = startedB.value
  if (started.status === 'rejected') throw started.reason
  if (startedB.status === 'rejected') throw startedB.reason
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
}, 420_000)

afterAll(async () => {
  await browser?.close().catch(() => undefined)
  await worker?.stop().catch(() => undefined)
  await workerB?.stop().catch(() => undefined)
  await provider?.stop().catch(() => undefined)
  await redis?.stop().catch(() => undefined)
  if (workDir) rmSync(workDir, { recursive: true, force: true })
}, 60_000)

function origin(): string {
  if (!worker) throw new Error('beforeAll did not start wrangler dev')
  return `http://localhost:${worker.port}`
}

function providerStats(): Promise<RefreshStats> {
  if (!provider) throw new Error('beforeAll did not start the provider')
  return providerHooks(provider.issuer).stats()
}

const ONE_REFRESH: RefreshStats = { refreshRequests: 1, refreshSucceeded: 1, refreshFailed: 0, reuseDetected: 0 }

/** Requests and commands the Upstash REST server received since the last reset (`reset` zeroes them). */
async function redisCommands(reset = false): Promise<CommandStats> {
  if (!redis) throw new Error('beforeAll did not start Redis')
  const response = await fetch(`${redis.url}/__test/${reset ? 'reset-commands' : 'commands'}`, {
    method: reset ? 'POST' : 'GET',
    signal: AbortSignal.timeout(5_000),
  })
  if (!response.ok) throw new Error(`redis commands: HTTP ${response.status}`)
  return (await response.json()) as CommandStats
}

/** The value of `key` in Redis (through the REST API, as the Worker writes it), or null. */
async function redisGet(key: string): Promise<string | null> {
  if (!redis) throw new Error('beforeAll did not start Redis')
  const response = await fetch(redis.url, {
    method: 'POST',
    headers: { authorization: `Bearer ${redis.token}` },
    body: JSON.stringify(['get', key]),
    signal: AbortSignal.timeout(5_000),
  })
  const body = (await response.json()) as { result: string | null }
  return body.result
}

const { readProtected, expectHealthy, waitForExpiry } = protectedPageChecks({ login: LOGIN, ttlSeconds: TTL_SECONDS, waitMs: 20_000 })

interface StormAnswer {
  kind: 'page' | 'session'
  /** Which `wrangler dev` answered. */
  instance: 'A' | 'B'
  status: number
  ms: number
  body: string
}

/**
 * 10 page + 10 session requests at once, all with the same cookie header, from Node: half to each
 * `wrangler dev` (two workerd processes, two isolates that share only the Upstash store).
 */
async function storm(cookie: string): Promise<StormAnswer[]> {
  if (!workerB) throw new Error('beforeAll did not start the second wrangler dev')
  const origins = [origin(), `http://localhost:${workerB.port}`] as const
  const one = async (kind: StormAnswer['kind'], index: number): Promise<StormAnswer> => {
    const target = origins[Math.floor(index / 2) % 2]!
    const started = Date.now()
    const response = await fetch(kind === 'page' ? `${target}/protected` : `${target}${BASE_PATH}/session`, {
      headers:
        kind === 'page'
          ? { cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }
          : { cookie, accept: 'application/json', 'content-type': 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    })
    const body = await response.text()
    return { kind, instance: target === origins[0] ? 'A' : 'B', status: response.status, ms: Date.now() - started, body }
  }
  const kinds: StormAnswer['kind'][] = []
  for (let index = 0; index < STORM_EACH; index++) kinds.push('page', 'session')
  return Promise.all(kinds.map((kind, index) => one(kind, index)))
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

async function probe(query = ''): Promise<RuntimeProbe> {
  const response = await fetch(`${origin()}${RUNTIME_PROBE_PATH}${query}`, { signal: AbortSignal.timeout(20_000) })
  const text = await response.text()
  if (!response.ok) throw new Error(`runtime probe: HTTP ${response.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as RuntimeProbe
}

it('Auth.js v5 on Cloudflare Workers (OpenNext, workerd): sign-in, expiry, one refresh, a storm of 20 → 1 provider call, 0 reuse', async () => {
  if (!browser || !worker || !example) throw new Error('beforeAll did not finish')
  const context = await browser.newContext()
  try {
    context.setDefaultTimeout(20_000)
    const serverErrors: string[] = []
    context.on('response', (response) => {
      if (response.status() >= 500) serverErrors.push(`${response.status()} ${response.request().method()} ${response.url()}`)
    })
    const page = await context.newPage()

    // (a) Signed out: Auth.js's `authorized` gate sends the page to the app's sign-in page.
    await page.goto(`${origin()}/protected`)
    const landed = new URL(page.url())
    expect(landed.pathname, 'signed-out visit to /protected').toBe('/signin')

    // (b) Sign-in through the provider's login and consent pages.
    const signInStarted = Date.now()
    await page.getByTestId('sign-in').click()
    if (!provider) throw new Error('no provider')
    await loginAtProvider(page, provider.issuer, LOGIN)
    await page.waitForURL(`${origin()}/protected`, { timeout: 30_000 })
    const signInMs = Date.now() - signInStarted
    const first = await readProtected(page)
    expectHealthy(first, 'after sign-in')

    // (c) Expired: one navigation, exactly one refresh at the provider, through Upstash.
    await waitForExpiry(first.expiresAt)
    const beforeRefresh = await providerStats()
    await redisCommands(true)
    const navigationStarted = Date.now()
    await page.goto(`${origin()}/protected`)
    const refreshed = await readProtected(page)
    const navigationMs = Date.now() - navigationStarted
    const refreshDelta = providerStatsDelta(await providerStats(), beforeRefresh)
    const refreshRedis = await redisCommands()
    expectHealthy(refreshed, 'first navigation after the expiry')
    expect(refreshed.expiresAt).toBeGreaterThan(first.expiresAt)
    expect(refreshDelta, 'one navigation after the expiry').toEqual(ONE_REFRESH)
    expect(refreshRedis.byCommand.EVAL ?? 0, 'Redis EVAL calls: the Upstash store did the refresh').toBeGreaterThan(0)
    // Subrequests of that one navigation (middleware + page render): Upstash REST calls, the
    // provider's token call, the page's discovery + userinfo calls. Workers counts each.
    const refreshSubrequests = refreshRedis.requests + refreshDelta.refreshRequests + 2
    expect(refreshSubrequests, `subrequests of one refreshing navigation (Free plan limit ${FREE_PLAN_SUBREQUESTS})`).toBeLessThan(
      FREE_PLAN_SUBREQUESTS,
    )

    // (d) Expired again: 10 pages + 10 session requests at once with the browser's one expired cookie.
    await waitForExpiry(refreshed.expiresAt)
    const cookie = (await context.cookies(origin())).map(({ name, value }) => `${name}=${value}`).join('; ')
    const beforeStorm = await providerStats()
    await redisCommands(true)
    const stormStarted = Date.now()
    const answers = await storm(cookie)
    const stormMs = Date.now() - stormStarted
    const stormDelta = providerStatsDelta(await providerStats(), beforeStorm)
    const stormRedis = await redisCommands()
    const statuses: Record<string, number> = {}
    for (const answer of answers) statuses[answer.status] = (statuses[answer.status] ?? 0) + 1
    const latencies = answers.map((answer) => answer.ms).sort((a, b) => a - b)
    const accessTokens = new Set<unknown>()
    for (const answer of answers) {
      const label = `storm ${answer.kind} answer (HTTP ${answer.status})`
      expect(answer.status, `${label}: ${answer.body.slice(0, 300)}`).toBe(200)
      if (answer.kind === 'page') {
        expect(answer.body, label).toContain('data-userinfo-status="200"')
        expect(answer.body, label).toContain(`data-userinfo-sub="${LOGIN}"`)
        expect(answer.body, label).toContain('data-error=""')
      } else {
        const session = JSON.parse(answer.body) as Record<string, unknown>
        expect(session.error, label).toBeUndefined()
        expect(typeof session.accessToken, label).toBe('string')
        expect(session.expiresAt, label).toBeGreaterThan(refreshed.expiresAt)
        accessTokens.add(session.accessToken)
      }
    }
    expect(accessTokens.size, 'every session answer of the storm carries the same new access token').toBe(1)
    expect(stormDelta, `storm of ${answers.length} requests with one expired cookie, over 2 workerd`).toEqual(ONE_REFRESH)
    const perInstance = {
      A: answers.filter((answer) => answer.instance === 'A').length,
      B: answers.filter((answer) => answer.instance === 'B').length,
    }
    expect(perInstance, 'storm requests per wrangler dev').toEqual({ A: STORM_EACH, B: STORM_EACH })
    // Each isolate had to ask the store (its own memory knew nothing of the other's refresh).
    expect(stormRedis.byCommand.EVAL ?? 0, 'Upstash EVAL calls during the storm, from both isolates').toBeGreaterThanOrEqual(2)

    // (e) The browser still holds the pre-storm cookie: served the storm's tokens, no refresh.
    const beforeAfterStorm = await providerStats()
    await page.goto(`${origin()}/protected`)
    const afterStorm = await readProtected(page)
    expectHealthy(afterStorm, 'navigation after the storm')
    expect(providerStatsDelta(await providerStats(), beforeAfterStorm).refreshRequests, 'navigation right after the storm').toBe(0)

    const totals = await providerStats()
    expect(totals.reuseDetected, 'refresh-token reuse at the provider').toBe(0)
    expect(totals.refreshFailed).toBe(0)
    expect(serverErrors).toEqual([])
    const problems = [worker.output(), workerB?.output() ?? '']
      .join('\n')
      .split('\n')
      .filter((line) => /\[edge-refresh\] (unexpected failure|refresh failed)|\[auth\]\[error\]|✘ \[ERROR\]/.test(line))
    expect(problems, 'wrangler dev log').toEqual([])

    // (f) The runtime, as the app sees it in workerd.
    const probeA = await probe()
    const probeB = await probe()
    expect(probeA.userAgent, 'navigator.userAgent in workerd').toBe('Cloudflare-Workers')
    expect(probeA.webCryptoRoundTrip, 'Web Crypto AES-GCM and HMAC').toBe(true)
    expect(probeA.globals.cryptoSubtle).toBe('object')
    // workerd's own globals, which @edge-runtime/vm does not have.
    expect(probeA.globals.digestStream, 'crypto.DigestStream (workerd only)').toBe('function')
    expect(probeA.globals.webSocketPair, 'WebSocketPair (workerd only)').toBe('function')
    expect(probeA.globals.waitUntil, 'ctx.waitUntil').toBe('function')
    // OpenNext copies the Worker's variables (.dev.vars here, secrets in production) into process.env.
    expect(probeA.secretInWorkerEnv, 'AUTH_SECRET in the Worker env').toBe(true)
    expect(probeA.secretInProcessEnv, 'AUTH_SECRET in process.env (OpenNext fills it)').toBe(true)
    expect(probeA.fetchCacheNoStore, "fetch(…, { cache: 'no-store' })").toBe(true)
    // Module state survives between requests in one isolate (locally there is one; in production
    // each isolate keeps its own, for as long as Cloudflare keeps the isolate).
    expect(probeB.loadedAt, 'same module instance for consecutive requests').toBe(probeA.loadedAt)
    expect(probeB.hits, 'module state kept between requests').toBe(probeA.hits + 1)
    // Deployed Workers freeze Date.now() during synchronous work (it moves only on I/O, a Spectre
    // mitigation); workerd under wrangler dev does not: reported, not asserted either way.
    expect(Number.isFinite(probeA.clockAdvanceDuringBusyLoopMs), 'Date.now() readable in workerd').toBe(true)
    // ctx.waitUntil keeps work going after the response: the write lands 500 ms after the answer.
    const key = `workers-probe:${randomBytes(8).toString('hex')}`
    await probe(`?waitUntil=${encodeURIComponent(key)}`)
    expect(await redisGet(key), 'right after the response').toBeNull()
    let landedAfterMs = -1
    const waitStarted = Date.now()
    for (let attempt = 0; attempt < 50 && Date.now() - waitStarted < 5_000; attempt++) {
      if ((await redisGet(key)) !== null) {
        landedAfterMs = Date.now() - waitStarted
        break
      }
      await sleep(100)
    }
    expect(landedAfterMs, 'the write scheduled with ctx.waitUntil landed after the response').toBeGreaterThanOrEqual(0)

    console.log(
      `[cloudflare-workers] ${JSON.stringify({
        example: EXAMPLE,
        runtime: 'OpenNext + wrangler dev (workerd), storm over 2 instances',
        versions: example.versions,
        wranglerNode,
        buildMs,
        ttlSeconds: TTL_SECONDS,
        signInMs,
        refreshAfterExpiry: {
          navigationMs,
          provider: refreshDelta,
          upstashRequests: refreshRedis.requests,
          subrequests: refreshSubrequests,
        },
        storm: {
          requests: answers.length,
          providerCalls: stormDelta.refreshRequests,
          reuse: stormDelta.reuseDetected,
          durationMs: stormMs,
          p99LatencyMs: percentile(latencies, 99),
          maxLatencyMs: latencies[latencies.length - 1],
          medianLatencyMs: percentile(latencies, 50),
          statuses,
          perInstance,
          upstashRequests: stormRedis.requests,
          redisCommands: stormRedis.byCommand,
        },
        providerTotals: totals,
        runtime_probe: { ...probeA, waitUntilLandedAfterMs: landedAfterMs },
      })}`,
    )
  } finally {
    await context.close().catch(() => undefined)
  }
}, 150_000)
