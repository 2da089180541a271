/**
 * Issue 8's fault matrix: every store and provider fault, each hit by a storm of 40 parallel
 * requests (10 per isolate, 4 isolates on one store) that carry ONE session cookie, in two
 * variants: (a) the access token already expired (foreground refresh), (b) still valid but inside
 * the skew window (expires in 30 s, skewSeconds 60: background refresh through `waitUntil`).
 *
 * Every cell runs in the DEFAULT configuration except for shortened timings (see TIMING), and
 * asserts: no reuse detected at the provider; the exact number of token requests (≤ 1); no
 * response ≥ 500; every request answered within `deadlineMs` + MARGIN_MS; and afterwards the
 * session's newest refresh token is still accepted by the provider, except for `invalid_grant`,
 * where the login must have ended cleanly instead.
 *
 * The real parts: the oidc-provider (rotation on every use, reuse detection: testkit/oidc-provider.ts)
 * and redis-server behind the Upstash REST stand-in. The injected parts are named per cell; see
 * testkit/fault-store.ts and testkit/fault-provider.ts.
 *
 * Each cell prints one JSON line ({fault, variant, providerCalls, reuse, maxLatencyMs, outcome,
 * delivered}); the file ends with a summary table.
 */
import type { NextFetchEvent } from 'next/server'
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest'
import { DEFAULTS } from '../lib/defaults'
import { createRefreshMiddleware, oidc, upstashStore, type RefreshMiddleware, type RefreshProvider, type UpstashLike } from '../lib'
import {
  FaultSwitch,
  garbageRedis,
  httpFaultRedis,
  installFaultFetch,
  lostLockRedis,
  lostResultRedis,
  nullRedis,
  realRedis,
  slowRedis,
  type HttpFault,
} from '../testkit/fault-store'
import { providerFetch, type TokenEndpointFault } from '../testkit/fault-provider'
import {
  COOKIE_NAMES,
  SECRET,
  decodeWith,
  encodeWith,
  localOidc,
  pageRequest,
  hooks,
  providerStats,
  quietLogger,
  refreshDirectly,
  sessionPayload,
  setCookies,
  signInAtProvider,
} from './support/sessions'

const NAME = COOKIE_NAMES['next-auth-v4'].plain

/**
 * Shortened timings that pass the engine's validation (resolveTiming): leaseMs (4000) ≥
 * 3 × storeTimeoutMs + 750 (3750); deadlineMs (2000) ≥ providerTimeoutMs + storeTimeoutMs (1400).
 * storeTimeoutMs stays at its default (1000): the "500 ms slow" store must be within budget and the
 * "5 s slow" one over it. A cell that sets `timing` runs with those options instead (`{}`: the defaults).
 */
const TIMING = { providerTimeoutMs: 400, storeTimeoutMs: 1000, leaseMs: 4000, deadlineMs: 2000 } as const satisfies CellTiming
/**
 * A request may spend `deadlineMs` in single flight, plus what comes around it: a publish
 * (storeTimeoutMs at most), decoding and encoding the cookie, and 40 requests sharing 2 cores.
 * Functional bound, kept generous.
 */
const MARGIN_MS = 1500
const ISOLATES = 4
const PER_ISOLATE = 10
/** No request of a storm may take longer than this at all: past it the cell fails as a hang. */
const HANG_BOUND_MS = 10_000
/** Bound on settling the `waitUntil` promises after a storm. */
const SETTLE_BOUND_MS = 8_000
/** Provider latency that makes the leader's call outlive providerTimeoutMs (and land before the 1500 ms hard limit). */
const PROVIDER_TIMEOUT_LATENCY_MS = 1000

type Variant = 'expired' | 'in-skew'
/** What the cell did to the login: refreshed once (rotation landed), kept as it was, or ended cleanly. */
type Outcome = 'refreshed' | 'kept' | 'login-ended'

interface Expected {
  /** Token requests the middleware sent (each counted once, whether the provider or a fault answered). */
  calls: number
  outcome: Outcome
  /** How many of the 40 responses carry the new tokens, where that is exact (foreground refreshes). */
  delivered?: number
  /** The same where only a floor is certain. */
  deliveredAtLeast?: number
}

interface CellContext {
  prefix: string
  faults: FaultSwitch
  url: string
  token: string
}

/** What a fault puts in place for one cell. */
interface Rig {
  /** Each isolate's view of the store (its own client, the one shared prefix). */
  redisFor: (isolate: number) => UpstashLike
  provider?: () => RefreshProvider
  /** A fault answered at the token endpoint by the middleware's `fetch`, without the provider. */
  tokenFault?: TokenEndpointFault
  onTokenRequest?: () => void
  before?: () => Promise<void>
  after?: () => Promise<void>
  /** Checks afterwards that the fault really was in the path. */
  verify?: () => void
  /** The isolate a follow-up request goes to (default: a new, healthy one). */
  followUpIsolate?: (isolates: RefreshMiddleware[]) => RefreshMiddleware | undefined
}

interface CellTiming {
  providerTimeoutMs?: number
  storeTimeoutMs?: number
  leaseMs?: number
  deadlineMs?: number
}

interface Cell {
  fault: string
  layer: 'store' | 'provider'
  expected: Record<Variant, Expected>
  rig(context: CellContext): Promise<Rig> | Rig
  /** The engine's timing options for this cell. Default {@link TIMING}. */
  timing?: CellTiming
  /** Bound on settling the `waitUntil` promises after the storm, ms. Default {@link SETTLE_BOUND_MS}. */
  settleBoundMs?: number
  /** A second wave of `count` requests (same cookie, spread over the isolates) sent `atMs` after the storm began. */
  lateWave?: { atMs: number; count: number }
}

interface CellReport {
  fault: string
  variant: Variant
  providerCalls: number
  reuse: number
  maxLatencyMs: number
  outcome: Outcome
  delivered: number
}

async function redisHook(path: 'redis-stop' | 'redis-start'): Promise<void> {
  const response = await fetch(`${inject('redisRestUrl')}/__test/${path}`, { method: 'POST' })
  if (!response.ok) throw new Error(`${path} failed: ${response.status}`)
}

/** A `waitUntil` collector; `settle()` waits for everything handed to it, also what was added while waiting. */
function collectingEvent(): NextFetchEvent & { settle(): Promise<void> } {
  const pending: Promise<unknown>[] = []
  return {
    waitUntil: (promise: Promise<unknown>) => void pending.push(promise),
    settle: async () => {
      for (let settled = 0, round = 0; settled < pending.length && round < 10; round++) {
        const batch = pending.length
        await Promise.allSettled(pending.slice(settled, batch))
        settled = batch
      }
    },
  } as unknown as NextFetchEvent & { settle(): Promise<void> }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer))
}

async function sessionOf(response: Response): Promise<Record<string, unknown> | null> {
  const cookie = setCookies(response).find((c) => c.name === NAME)
  return cookie ? decodeWith('next-auth-v4', NAME, cookie.value) : null
}

function isSignInRedirect(response: Response): boolean {
  return response.status === 307 && new URL(response.headers.get('location') ?? '', 'http://app.test').pathname === '/api/auth/signin'
}

/** The plain real store: each isolate gets its own client of the real REST server. */
const real = (context: CellContext) => () => realRedis(context.url, context.token)

const STORE_FAULTS: Cell[] = [
  {
    // Real: the REST server. Injected: redis-server stopped through the outage switch (every REST call answers 503).
    fault: 'store down',
    layer: 'store',
    expected: { expired: { calls: 0, outcome: 'kept' }, 'in-skew': { calls: 0, outcome: 'kept' } },
    rig: (context) => ({ redisFor: real(context), before: () => redisHook('redis-stop'), after: () => redisHook('redis-start') }),
  },
  {
    // Real: @upstash/redis and the network stack. Injected: the URL, a loopback port nothing listens on (ECONNREFUSED).
    fault: 'store refuses connections',
    layer: 'store',
    expected: { expired: { calls: 0, outcome: 'kept' }, 'in-skew': { calls: 0, outcome: 'kept' } },
    rig: async (context) => {
      const refused = await fetch('http://127.0.0.1:2/').then(
        () => 'answered',
        (error: unknown) => String((error as { cause?: { code?: string } }).cause?.code),
      )
      expect(refused).toBe('ECONNREFUSED')
      return { redisFor: () => realRedis('http://127.0.0.1:2', context.token) }
    },
  },
  ...(
    [
      // Real: @upstash/redis and its response parsing. Injected: the REST endpoint's answer.
      ['store answers 5xx', '5xx'],
      ['store answers an HTML 200', 'html-200'],
      ['store never settles', 'hang'],
    ] as const
  ).map(([fault, kind]: readonly [string, HttpFault]): Cell => ({
    fault,
    layer: 'store',
    expected: { expired: { calls: 0, outcome: 'kept' }, 'in-skew': { calls: 0, outcome: 'kept' } },
    rig: (context) => {
      const clients = Array.from({ length: ISOLATES }, () => httpFaultRedis(kind, context.faults, context.token))
      return {
        redisFor: (i) => clients[i]!.redis,
        verify: () => expect(clients.reduce((sum, client) => sum + client.requests(), 0)).toBeGreaterThan(0),
      }
    },
  })),
  {
    // Real: every command reaches redis-server. Injected: 500 ms before each command is sent (within the 1000 ms budget).
    fault: 'store 500 ms slow',
    layer: 'store',
    expected: { expired: { calls: 1, outcome: 'refreshed', delivered: 40 }, 'in-skew': { calls: 1, outcome: 'refreshed' } },
    rig: (context) => ({ redisFor: () => slowRedis(realRedis(context.url, context.token), 500, context.faults) }),
  },
  {
    // Real: redis-server, reached 5 s late if at all (the delay is released at the end of the cell). Injected: the delay, over budget.
    fault: 'store 5 s slow',
    layer: 'store',
    expected: { expired: { calls: 0, outcome: 'kept' }, 'in-skew': { calls: 0, outcome: 'kept' } },
    rig: (context) => ({ redisFor: () => slowRedis(realRedis(context.url, context.token), 5000, context.faults) }),
  },
  {
    // Real: the command runs on redis-server. Injected: its reply replaced with null.
    fault: 'store null replies',
    layer: 'store',
    expected: { expired: { calls: 0, outcome: 'kept' }, 'in-skew': { calls: 0, outcome: 'kept' } },
    rig: (context) => ({ redisFor: () => nullRedis(realRedis(context.url, context.token)) }),
  },
  {
    // Real: the command runs on redis-server. Injected: its reply replaced with values of the wrong type or shape.
    fault: 'store garbage replies',
    layer: 'store',
    expected: { expired: { calls: 0, outcome: 'kept' }, 'in-skew': { calls: 0, outcome: 'kept' } },
    rig: (context) => ({ redisFor: () => garbageRedis(realRedis(context.url, context.token)) }),
  },
  {
    // Real: claims, polls and the publish on redis-server. Injected: the leader's lock key deleted
    // 100 ms after its token request went out, while the provider (300 ms latency, below
    // providerTimeoutMs, so that the leader is in flight long enough) is still answering.
    fault: 'store loses the lock',
    layer: 'store',
    expected: { expired: { calls: 1, outcome: 'refreshed', delivered: 40 }, 'in-skew': { calls: 1, outcome: 'refreshed' } },
    rig: async (context) => {
      const raw = realRedis(context.url, context.token)
      const wrappers = Array.from({ length: ISOLATES }, () => lostLockRedis(realRedis(context.url, context.token), raw))
      let deleted: Promise<number> | undefined
      await hooks().latency(300)
      return {
        redisFor: (i) => wrappers[i]!.redis,
        onTokenRequest: () => {
          if (deleted) return
          const leader = wrappers.find((wrapper) => wrapper.leads() > 0)
          deleted = context.faults.delay(100).then(() => leader?.loseLock() ?? 0)
        },
        verify: () => expect(deleted).toBeDefined(),
        after: async () => {
          expect(await deleted?.catch(() => -1)).toBe(1)
          await hooks().latency(0)
        },
      }
    },
  },
  {
    // Real: the publish runs on redis-server. Injected: the result key deleted right after it,
    // before the leader hears back. The provider answers in 300 ms (below providerTimeoutMs) so
    // that every isolate has claimed, and waits, when the result is lost: a claim that only
    // arrives after the loss finds nothing at all and leads again with the spent refresh token
    // (a design limit, see the report), which a storm would otherwise hit or miss by timing.
    fault: 'store loses the result',
    layer: 'store',
    // (a): the leader's isolate delivers; the waiters of the other three wait for the lost result
    // until their deadline and pass their requests on untouched rather than lead again. A waiter
    // whose poll falls between the publish and the loss (a millisecond or two) delivers too.
    expected: { expired: { calls: 1, outcome: 'refreshed', deliveredAtLeast: 10 }, 'in-skew': { calls: 1, outcome: 'refreshed' } },
    rig: async (context) => {
      const raw = realRedis(context.url, context.token)
      const wrappers = Array.from({ length: ISOLATES }, () => lostResultRedis(realRedis(context.url, context.token), raw))
      await hooks().latency(300)
      return {
        redisFor: (i) => wrappers[i]!.redis,
        after: () => hooks().latency(0),
        verify: () => expect(wrappers.reduce((sum, wrapper) => sum + wrapper.lost(), 0)).toBeGreaterThan(0),
        // The rotated tokens now live only in the leader isolate's memory (see the report): the
        // next request is sent there. CURRENT BEHAVIOUR, a design limit: a store that loses an
        // acknowledged write leaves the other isolates with only the spent refresh token.
        followUpIsolate: (isolates) => isolates[wrappers.findIndex((wrapper) => wrapper.lost() > 0)],
      }
    },
  },
]

const PROVIDER_FAULTS: Cell[] = [
  {
    // Injected by the provider's own hook: 503 with a plain-text body, request not processed (the refresh token stays valid).
    fault: 'provider 5xx',
    layer: 'provider',
    expected: { expired: { calls: 1, outcome: 'kept' }, 'in-skew': { calls: 1, outcome: 'kept' } },
    rig: async (context) => {
      await hooks().fail(503, { count: 100 })
      return { redisFor: real(context), after: () => hooks().fail(503, { count: 0 }) }
    },
  },
  {
    // Injected by the middleware's fetch: 429 with Retry-After: 60; the provider never sees it.
    fault: 'provider 429 Retry-After',
    layer: 'provider',
    expected: { expired: { calls: 1, outcome: 'kept' }, 'in-skew': { calls: 1, outcome: 'kept' } },
    rig: (context) => ({ redisFor: real(context), tokenFault: '429' }),
  },
  {
    // Injected by the provider's own hook: 1000 ms before it handles the token request (over providerTimeoutMs 400, under the 1500 ms hard limit).
    fault: 'provider timeout',
    layer: 'provider',
    // (a): the leader's isolate stops waiting at providerTimeoutMs; the waiters of the other three
    // get the result when it lands (1000 ms, within their 2000 ms deadline).
    expected: { expired: { calls: 1, outcome: 'refreshed', delivered: 30 }, 'in-skew': { calls: 1, outcome: 'refreshed' } },
    rig: async (context) => {
      await hooks().latency(PROVIDER_TIMEOUT_LATENCY_MS)
      return { redisFor: real(context), after: () => hooks().latency(0) }
    },
  },
  {
    // Real: the provider handles the refresh at once and rotates the token. Injected by the
    // provider's own hook: its answer held back 11 s, past the default 10 s lease. DEFAULT timings:
    // the leader's request stops waiting at providerTimeoutMs (5 s), every other one at deadlineMs
    // (8 s) at the latest; the leader's lease is renewed while the call is open (and its attempt
    // mark outlives the lease), so a second wave sent after the lease (10.5 s) waits instead of
    // presenting the spent refresh token; the answer is published when it lands and that wave
    // (expired) gets it.
    fault: 'provider rotates, then answers after the lease',
    layer: 'provider',
    timing: {},
    settleBoundMs: 20_000,
    lateWave: { atMs: DEFAULTS.leaseMs + 500, count: 8 },
    expected: { expired: { calls: 1, outcome: 'refreshed', delivered: 8 }, 'in-skew': { calls: 1, outcome: 'refreshed', delivered: 0 } },
    rig: async (context) => {
      await hooks().answerDelay(DEFAULTS.leaseMs + 1000)
      return { redisFor: real(context), after: () => hooks().answerDelay(0) }
    },
  },
  {
    // Injected by the middleware's fetch: the token request rejects like a reset connection; the provider never sees it.
    fault: 'provider connection reset',
    layer: 'provider',
    expected: { expired: { calls: 1, outcome: 'kept' }, 'in-skew': { calls: 1, outcome: 'kept' } },
    rig: (context) => ({ redisFor: real(context), tokenFault: 'reset' }),
  },
  {
    // Injected by the middleware's fetch: 200 with an HTML body; the provider never sees it.
    // CURRENT BEHAVIOUR (a design question, see the report): treated as transient, with the shared
    // back-off; here the refresh token was not used, so the login survives. Were the 200 a real
    // rotation whose body got mangled on the way, the old refresh token would be spent and the
    // next attempt would present it again.
    fault: 'provider malformed 200',
    layer: 'provider',
    expected: { expired: { calls: 1, outcome: 'kept' }, 'in-skew': { calls: 1, outcome: 'kept' } },
    rig: (context) => ({ redisFor: real(context), tokenFault: 'html-200' }),
  },
  {
    // Injected by the provider's own hook: the grant revoked before the storm.
    fault: 'provider invalid_grant',
    layer: 'provider',
    expected: { expired: { calls: 1, outcome: 'login-ended' }, 'in-skew': { calls: 1, outcome: 'login-ended' } },
    rig: (context) => ({ redisFor: real(context) }),
  },
  {
    // Real: the provider rejects the client's authentication (401 invalid_client) before looking at the refresh token.
    fault: 'provider invalid_client',
    layer: 'provider',
    expected: { expired: { calls: 1, outcome: 'kept' }, 'in-skew': { calls: 1, outcome: 'kept' } },
    rig: (context) => ({
      redisFor: real(context),
      provider: () => oidc({ issuer: inject('issuer'), clientId: inject('clientId'), clientSecret: 'not-the-client-secret' }),
    }),
  },
]

const reports: CellReport[] = []
let uninstallFaultFetch: (() => void) | undefined

beforeAll(() => {
  uninstallFaultFetch = installFaultFetch()
})

afterAll(() => {
  uninstallFaultFetch?.()
  const header = '| fault | variant | outcome | provider calls | reuse | max latency (ms) | delivered |'
  const rows = reports.map(
    (r) => `| ${r.fault} | ${r.variant} | ${r.outcome} | ${r.providerCalls} | ${r.reuse} | ${r.maxLatencyMs} | ${r.delivered}/40 |`,
  )
  console.log(`fault-matrix summary (${reports.length} cells)\n${header}\n|---|---|---|---|---|---|---|\n${rows.join('\n')}`)
})

async function runCell(cell: Cell, variant: Variant): Promise<CellReport> {
  await hooks().reset()
  const prefix = `fault-matrix:${crypto.randomUUID()}:`
  const faults = new FaultSwitch()
  const context: CellContext = { prefix, faults, url: inject('redisRestUrl'), token: inject('redisRestToken') }
  const tokens = await signInAtProvider()
  if (cell.fault === 'provider invalid_grant') await hooks().revoke(tokens.refresh_token)
  const expiresAt = Math.floor(Date.now() / 1000) + (variant === 'expired' ? -5 : 30)
  const cookies = { [NAME]: await encodeWith('next-auth-v4', NAME, sessionPayload(tokens, { expires_at: expiresAt })) }
  const expected = cell.expected[variant]

  let responses: { response: Response; ms: number }[]
  let rig: Rig | undefined
  let calls: ReturnType<typeof providerFetch> | undefined
  let isolates: RefreshMiddleware[] = []
  try {
    rig = await cell.rig(context)
    calls = providerFetch(rig.tokenFault, rig.onTokenRequest)
    const { redisFor, provider } = rig
    isolates = Array.from({ length: ISOLATES }, (_, i) =>
      createRefreshMiddleware({
        secret: SECRET,
        providers: { oidc: provider ? provider() : localOidc() },
        store: upstashStore(redisFor(i), { prefix }),
        logger: quietLogger,
        fetch: calls!.fetch,
        skewSeconds: 60,
        ...(cell.timing ?? TIMING),
      }),
    )
    const event = collectingEvent()
    await rig.before?.()
    const send = (count: number, offset: number) =>
      Promise.all(
        Array.from({ length: count }, async (_, n) => {
          const i = offset + n
          const started = Date.now()
          const response = await within(isolates[i % ISOLATES]!(pageRequest(`/page/${i}`, cookies), event), HANG_BOUND_MS, `request ${i}`)
          return { response, ms: Date.now() - started }
        }),
      )
    try {
      const stormStarted = Date.now()
      responses = await send(ISOLATES * PER_ISOLATE, 0)
      if (cell.lateWave) {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, stormStarted + cell.lateWave!.atMs - Date.now())))
        responses.push(...(await send(cell.lateWave.count, ISOLATES * PER_ISOLATE)))
      }
      await within(event.settle(), cell.settleBoundMs ?? SETTLE_BOUND_MS, 'the waitUntil promises')
    } finally {
      await rig.after?.()
    }
    rig.verify?.()
  } finally {
    faults.dispose()
  }

  // Every request answered, none with a server error, each within its deadline plus the margin.
  const maxLatencyMs = Math.max(...responses.map((r) => r.ms))
  const deadlineMs = (cell.timing ?? TIMING).deadlineMs ?? DEFAULTS.deadlineMs
  for (const { response, ms } of responses) {
    expect(response.status).toBeLessThan(500)
    expect(ms).toBeLessThanOrEqual(deadlineMs + MARGIN_MS)
  }

  const sessions = await Promise.all(responses.map(({ response }) => sessionOf(response)))
  const refreshed = sessions.filter((s): s is Record<string, unknown> => s !== null && !s.error && s.access_token !== tokens.access_token)
  const ended = responses.filter(({ response }, i) => isSignInRedirect(response) && sessions[i]?.error === 'RefreshTokenError')
  // One rotation at most: every response that carries new tokens carries the same ones.
  expect(new Set(refreshed.map((s) => s.refresh_token)).size).toBeLessThanOrEqual(1)
  // A response is either untouched, refreshed, or (invalid_grant) the end of the login.
  for (const [i, { response }] of responses.entries()) {
    const session = sessions[i] ?? null
    if (session === null) expect(response.status).toBe(200)
    else if (session.error) expect(isSignInRedirect(response)).toBe(true)
  }

  const stats = await providerStats()
  const providerCalls = calls!.tokenRequests()
  expect(stats.reuseDetected).toBe(0)
  expect(providerCalls).toBe(expected.calls)
  // The provider saw exactly the token requests that were not answered on the way.
  expect(stats.refreshRequests).toBe(rig!.tokenFault ? 0 : providerCalls)

  // The next request: needed when the rotation landed (background refresh, or a call that outlived
  // providerTimeoutMs) but no response of the storm carried it, or when a background
  // invalid_grant was only published. It makes no provider call.
  let newest = refreshed[0]?.refresh_token as string | undefined
  let endedAfter = false
  const delivered = refreshed.length
  if ((!newest && stats.refreshSucceeded > 0) || (expected.outcome === 'login-ended' && ended.length === 0)) {
    const healthy = createRefreshMiddleware({
      secret: SECRET,
      providers: { oidc: localOidc() },
      store: upstashStore(realRedis(context.url, context.token), { prefix }),
      logger: quietLogger,
    })
    const next = rig!.followUpIsolate?.(isolates) ?? healthy
    const response = await within(next(pageRequest('/next', cookies)), HANG_BOUND_MS, 'the follow-up request')
    const session = await sessionOf(response)
    if (session && !session.error && session.access_token !== tokens.access_token) {
      newest = session.refresh_token as string
    }
    endedAfter = isSignInRedirect(response) && session?.error === 'RefreshTokenError'
    const after = await providerStats()
    expect(after.refreshRequests).toBe(stats.refreshRequests)
    expect(after.reuseDetected).toBe(0)
  }

  const outcome: Outcome = ended.length > 0 || endedAfter ? 'login-ended' : stats.refreshSucceeded > 0 ? 'refreshed' : 'kept'
  expect(outcome).toBe(expected.outcome)
  if (expected.delivered !== undefined) expect(refreshed.length).toBe(expected.delivered)
  if (expected.deliveredAtLeast !== undefined) expect(refreshed.length).toBeGreaterThanOrEqual(expected.deliveredAtLeast)
  if (outcome === 'login-ended') {
    // Ended cleanly: every navigation that learnt of it was sent to sign-in with the error in the cookie.
    if (variant === 'expired') expect(ended.length).toBe(ISOLATES * PER_ISOLATE)
    expect(refreshed.length).toBe(0)
    expect((await refreshDirectly(tokens.refresh_token)).status).not.toBe(200)
  } else {
    // The session's refresh token, the newest one, is still good at the provider.
    if (outcome === 'refreshed') expect(newest).toBeTypeOf('string')
    else expect(refreshed.length).toBe(0)
    expect((await refreshDirectly(newest ?? tokens.refresh_token)).status).toBe(200)
  }

  const report: CellReport = { fault: cell.fault, variant, providerCalls, reuse: stats.reuseDetected, maxLatencyMs, outcome, delivered }
  console.log(JSON.stringify(report))
  reports.push(report)
  return report
}

for (const [layer, cells] of [
  ['store', STORE_FAULTS],
  ['provider', PROVIDER_FAULTS],
] as const) {
  describe(`fault matrix: ${layer}`, () => {
    for (const cell of cells) {
      for (const variant of ['expired', 'in-skew'] as const) {
        const { calls, outcome } = cell.expected[variant]
        it(`${cell.fault}, ${variant}: ${outcome}, ${calls} provider call${calls === 1 ? '' : 's'}`, { timeout: 45_000 }, async () => {
          await runCell(cell, variant)
        })
      }
    }
  })
}

describe('regressions found by the fault matrix', () => {
  const url = () => inject('redisRestUrl')
  const token = () => inject('redisRestToken')

  async function expiredSession() {
    const tokens = await signInAtProvider()
    return {
      tokens,
      cookies: {
        [NAME]: await encodeWith('next-auth-v4', NAME, sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) - 5 })),
      },
    }
  }

  function isolateOn(redis: UpstashLike, prefix: string, fetchImpl?: ReturnType<typeof providerFetch>['fetch']) {
    return createRefreshMiddleware({
      secret: SECRET,
      providers: { oidc: localOidc() },
      store: upstashStore(redis, { prefix }),
      logger: quietLogger,
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
      ...TIMING,
    })
  }

  /** Waits (bounded) until `ready()` holds. */
  async function until(ready: () => boolean, what: string): Promise<void> {
    for (let waited = 0; !ready(); waited += 5) {
      if (waited > 2000) throw new Error(`${what} did not happen within 2 s`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  it('regression: a lock lost while its leader is in flight made a waiter in another isolate lead again: two provider calls with one refresh token, reuse detected, login lost', async () => {
    await hooks().reset()
    const prefix = `fault-matrix:${crypto.randomUUID()}:`
    const { tokens, cookies } = await expiredSession()
    const raw = realRedis(url(), token())
    const [a, b] = [lostLockRedis(realRedis(url(), token()), raw), lostLockRedis(realRedis(url(), token()), raw)]
    const faults = new FaultSwitch()
    let deleted: Promise<number> | undefined
    // The leader is in flight for 300 ms; its lock is deleted 100 ms into the call, while B waits.
    await hooks().latency(300)
    try {
      const calls = providerFetch(undefined, () => void (deleted ??= faults.delay(100).then(() => a.loseLock())))
      const first = isolateOn(a.redis, prefix, calls.fetch)(pageRequest('/a', cookies))
      await until(() => a.leads() === 1, 'A leading')
      const second = isolateOn(b.redis, prefix, calls.fetch)(pageRequest('/b', cookies))
      const [fromA, fromB] = await within(Promise.all([first, second]), HANG_BOUND_MS, 'the two requests')
      expect(await deleted).toBe(1)
      expect(calls.tokenRequests()).toBe(1)
      expect(b.leads()).toBe(0)
      const [sessionA, sessionB] = [await sessionOf(fromA), await sessionOf(fromB)]
      expect(sessionA?.access_token).not.toBe(tokens.access_token)
      // B waited the leader's result out instead of presenting the refresh token a second time.
      expect(sessionB?.access_token).toBe(sessionA?.access_token)
      expect((await providerStats()).reuseDetected).toBe(0)
      expect((await refreshDirectly(sessionA!.refresh_token as string)).status).toBe(200)
    } finally {
      faults.dispose()
      await hooks().latency(0)
    }
  })

  it('regression: a result lost right after it was published made the waiters lead again with the spent refresh token: reuse detected, login lost', async () => {
    await hooks().reset()
    const prefix = `fault-matrix:${crypto.randomUUID()}:`
    const { tokens, cookies } = await expiredSession()
    const raw = realRedis(url(), token())
    const [a, b] = [lostResultRedis(realRedis(url(), token()), raw), lostResultRedis(realRedis(url(), token()), raw)]
    // 200 ms at the provider, so that B is waiting when A publishes.
    await hooks().latency(200)
    try {
      const calls = providerFetch()
      const first = isolateOn(a.redis, prefix, calls.fetch)(pageRequest('/a', cookies))
      await until(() => calls.tokenRequests() === 1, "A's token request")
      const started = Date.now()
      const second = isolateOn(b.redis, prefix, calls.fetch)(pageRequest('/b', cookies))
      const [fromA, fromB] = await within(Promise.all([first, second]), HANG_BOUND_MS, 'the two requests')
      expect(a.lost()).toBe(1)
      expect(calls.tokenRequests()).toBe(1)
      const sessionA = await sessionOf(fromA)
      expect(sessionA?.access_token).not.toBe(tokens.access_token)
      // B gives up at its deadline and passes the request on as it is.
      expect(setCookies(fromB)).toEqual([])
      expect(fromB.status).toBe(200)
      expect(Date.now() - started).toBeLessThanOrEqual(TIMING.deadlineMs + MARGIN_MS)
      expect((await providerStats()).reuseDetected).toBe(0)
      expect((await refreshDirectly(sessionA!.refresh_token as string)).status).toBe(200)
    } finally {
      await hooks().latency(0)
    }
  })

  it('regression: a fast provider answer published to a slow store was taken for a slow provider: the leader went on without the tokens it had just obtained', async () => {
    await hooks().reset()
    const prefix = `fault-matrix:${crypto.randomUUID()}:`
    const { tokens, cookies } = await expiredSession()
    const faults = new FaultSwitch()
    const warnings: string[] = []
    try {
      // providerTimeoutMs 400 < one 500 ms publish (within the 1000 ms store budget).
      const handler = createRefreshMiddleware({
        secret: SECRET,
        providers: { oidc: localOidc() },
        store: upstashStore(slowRedis(realRedis(url(), token()), 500, faults), { prefix }),
        logger: { warn: (message: string) => void warnings.push(message), error: () => {} },
        ...TIMING,
      })
      const response = await within(handler(pageRequest('/', cookies)), HANG_BOUND_MS, 'the request')
      const session = await sessionOf(response)
      expect(session?.access_token).not.toBe(tokens.access_token)
      expect(session?.access_token).toBeTypeOf('string')
      expect(warnings.filter((warning) => warning.includes('provider slower'))).toEqual([])
      expect((await providerStats()).refreshRequests).toBe(1)
    } finally {
      faults.dispose()
    }
  })

  it('a leader that died mid-call leaves its refresh token in doubt: nobody presents it again, and once its attempt can no longer land the login ends cleanly', async () => {
    await hooks().reset()
    const prefix = `fault-matrix:${crypto.randomUUID()}:`
    const { tokens, cookies } = await expiredSession()
    const { createSealer } = await import('../lib/refresh/sealing')
    const sealer = createSealer([SECRET])
    const key = await sealer.keyFor(tokens.refresh_token)
    // A leader that took the lock for 600 ms, wrote its attempt mark, sent its request and died.
    const mark = { sealed: await sealer.seal(key, { kind: 'attempt', startedAt: Date.now() }), ttlMs: 60_000 }
    expect((await upstashStore(realRedis(url(), token()), { prefix }).claim(key, 600, mark)).kind).toBe('lead')
    // Its attempt could still land for providerCallLimitMs + leaseMs (400 + 4000 ms).
    const timing = { ...TIMING, providerCallLimitMs: 400 }
    const isolate = () =>
      createRefreshMiddleware({
        secret: SECRET,
        providers: { oidc: localOidc() },
        store: upstashStore(realRedis(url(), token()), { prefix }),
        logger: quietLogger,
        ...timing,
      })
    const during = await within(isolate()(pageRequest('/', cookies)), HANG_BOUND_MS, 'the request during the attempt')
    expect(during.status).toBe(200)
    expect(setCookies(during)).toEqual([])
    await new Promise((resolve) => setTimeout(resolve, 4_500))
    const after = await within(isolate()(pageRequest('/', cookies)), HANG_BOUND_MS, 'the request after the attempt')
    expect(isSignInRedirect(after)).toBe(true)
    expect((await sessionOf(after))?.error).toBe('RefreshTokenError')
    expect((await providerStats()).refreshRequests).toBe(0)
  })

  it('with inDoubt "retry" a lock whose leader died lapses with its lease and is taken over (the lost-lock rule does not apply to it)', async () => {
    await hooks().reset()
    const prefix = `fault-matrix:${crypto.randomUUID()}:`
    const { tokens, cookies } = await expiredSession()
    const { createSealer } = await import('../lib/refresh/sealing')
    const key = await createSealer([SECRET]).keyFor(tokens.refresh_token)
    // A leader that took the lock for 600 ms and died; with "retry" no attempt mark is written.
    expect((await upstashStore(realRedis(url(), token()), { prefix }).claim(key, 600)).kind).toBe('lead')
    const started = Date.now()
    const handler = createRefreshMiddleware({
      secret: SECRET,
      providers: { oidc: localOidc() },
      store: upstashStore(realRedis(url(), token()), { prefix }),
      logger: quietLogger,
      inDoubt: 'retry',
      ...TIMING,
    })
    const response = await within(handler(pageRequest('/', cookies)), HANG_BOUND_MS, 'the request')
    expect((await sessionOf(response))?.access_token).not.toBe(tokens.access_token)
    expect(Date.now() - started).toBeGreaterThanOrEqual(500)
    expect((await providerStats()).refreshRequests).toBe(1)
  })
})
