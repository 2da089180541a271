/**
 * Issue 18: what `openTelemetry()` of `next-auth-edge-refresh/otel` records, read back from the
 * OpenTelemetry SDK's own in-memory exporters (testkit/otel.ts), with the real parts of the other
 * integration tests: the local oidc-provider (rotation on every refresh) and redis-server behind
 * the Upstash REST stand-in, several middleware instances ("isolates") sharing one `upstashStore`.
 *
 * - A storm: one expired session, 20 requests over 4 isolates: exactly 1 provider-call span,
 *   19 picked-up results, the provider-call counter equal to the provider's own count, and no
 *   token, cookie value, store key or user identifier in any exported attribute.
 * - The fast path: a session judged fresh records a hit and makes no span.
 * - Each store and provider fault shows up in the metric docs/08-operations.md names for it.
 *
 * Every test prints what it recorded (`[telemetry] ...`), the figures of the docs' alert table.
 */
import { Redis } from '@upstash/redis'
import type { NextFetchEvent } from 'next/server'
import { openTelemetry } from 'next-auth-edge-refresh/otel'
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest'
import { createRefreshMiddleware, upstashStore, type RefreshMiddlewareOptions, type UpstashLike } from '../lib'
import { FaultSwitch, realRedis, slowRedis } from '../testkit/fault-store'
import { inMemoryOtel, scanForSecrets, type InMemoryOtel, type Point } from '../testkit/otel'
import {
  COOKIE_NAMES,
  SECRET,
  decodeWith,
  encodeWith,
  hooks,
  localOidc,
  pageRequest,
  providerStats,
  quietLogger,
  sessionPayload,
  setCookies,
  signInAtProvider,
} from './support/sessions'

const NAME = COOKIE_NAMES['next-auth-v4'].plain

function redis(): Redis {
  return new Redis({ url: inject('redisRestUrl'), token: inject('redisRestToken'), retry: false })
}

async function redisHook(path: 'redis-stop' | 'redis-start'): Promise<void> {
  const response = await fetch(`${inject('redisRestUrl')}/__test/${path}`, { method: 'POST' })
  if (!response.ok) throw new Error(`${path} failed: ${response.status}`)
}

let prefix = ''
let otel: InMemoryOtel
let faults: FaultSwitch
beforeEach(async () => {
  prefix = `telemetry:${crypto.randomUUID()}:`
  otel = inMemoryOtel()
  faults = new FaultSwitch()
  await hooks().reset()
})
afterEach(async () => {
  faults.dispose()
  await otel.shutdown()
})

/** A middleware as one edge isolate builds it: its own memory, the shared Redis, telemetry into the in-memory SDK. */
function isolate(overrides: Partial<RefreshMiddlewareOptions> & { redis?: UpstashLike } = {}) {
  const { redis: client = redis(), ...options } = overrides
  return createRefreshMiddleware({
    secret: SECRET,
    providers: { oidc: localOidc() },
    store: upstashStore(client, { prefix }),
    logger: quietLogger,
    telemetry: openTelemetry({ tracer: otel.tracer, meter: otel.meter }),
    ...options,
  })
}

/** A session of a user of its own (login, sub, email all unique), expiring in `expiresInSeconds`. */
async function session(expiresInSeconds: number) {
  const login = `tel-${crypto.randomUUID().slice(0, 8)}`
  const tokens = await signInAtProvider(login)
  const user = { sub: `sub-${crypto.randomUUID()}`, email: `${login}@example.test`, name: `User ${login}` }
  const jwt = await encodeWith(
    'next-auth-v4',
    NAME,
    sessionPayload(tokens, { ...user, expires_at: Math.floor(Date.now() / 1000) + expiresInSeconds }),
  )
  return { login, tokens, user, jwt, cookies: { [NAME]: jwt } }
}

function collectingEvent(): NextFetchEvent & { settle(): Promise<void> } {
  const pending: Promise<unknown>[] = []
  return {
    waitUntil: (promise: Promise<unknown>) => void pending.push(promise),
    settle: async () => void (await Promise.all(pending)),
  } as unknown as NextFetchEvent & { settle(): Promise<void> }
}

/** The counters and histogram counts, one line each, for the test output (and the docs' "normal" column). */
function summary(points: Point[]): string[] {
  return points
    .map((point) => {
      const attributes = Object.entries(point.attributes)
        .map(([key, value]) => `${key}=${String(value)}`)
        .join(',')
      const value =
        typeof point.value === 'number' ? String(point.value) : `count=${point.value.count} max=${Math.round(point.value.max ?? 0)}ms`
      return `${point.metric}{${attributes}} ${value}`
    })
    .sort()
}

function print(title: string, points: Point[]): void {
  const spans = otel.spans()
  const byName = new Map<string, number>()
  for (const span of spans) byName.set(span.name, (byName.get(span.name) ?? 0) + 1)
  console.log(
    [
      `[telemetry] ${title}`,
      `  spans: ${[...byName].map(([name, count]) => `${name} ×${count}`).join(', ') || 'none'}`,
      ...summary(points).map((line) => `  ${line}`),
    ].join('\n'),
  )
}

describe('a storm with OpenTelemetry recording (in-memory SDK)', () => {
  it('20 requests with one expired session over 4 isolates: 1 provider-call span, 19 picked-up results, counters equal to the provider count, no secret in any attribute', async () => {
    const { login, tokens, user, jwt, cookies } = await session(-5)
    const isolates = Array.from({ length: 4 }, () => isolate())
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => isolates[i % 4]!(pageRequest(`/p/${i}`, cookies))))

    const newCookies = responses.map((response) => setCookies(response).find((cookie) => cookie.name === NAME)?.value)
    expect(newCookies.every((value) => typeof value === 'string')).toBe(true)
    const refreshed = (await decodeWith('next-auth-v4', NAME, newCookies[0]!))!
    const accessTokens = new Set(
      await Promise.all(newCookies.map(async (value) => (await decodeWith('next-auth-v4', NAME, value!))?.access_token)),
    )
    expect(accessTokens.size).toBe(1)
    expect(refreshed.access_token).not.toBe(tokens.access_token)

    const providerCount = (await providerStats(login)).refreshRequests
    expect(providerCount).toBe(1)

    const spans = otel.spans()
    const points = await otel.points()
    print('storm: 20 requests, 4 isolates, 1 expired session', points)

    // Spans: one refresh span per request, one provider call in all, under the leader's refresh span.
    const providerSpans = spans.filter((span) => span.name === 'edge-refresh.provider.refresh')
    expect(providerSpans).toHaveLength(1)
    expect(providerSpans[0]!.attributes).toEqual({ 'edge_refresh.provider': 'oidc', 'edge_refresh.provider.outcome': 'refreshed' })
    const refreshSpans = spans.filter((span) => span.name === 'edge-refresh.refresh')
    expect(refreshSpans).toHaveLength(20)
    const leaderSpan = refreshSpans.find((span) => span.spanId === providerSpans[0]!.parentSpanId)
    expect(leaderSpan?.attributes['edge_refresh.source']).toBe('provider')
    const sources = refreshSpans.map((span) => span.attributes['edge_refresh.source'])
    expect(sources.filter((source) => source === 'provider')).toHaveLength(1)
    expect(sources.filter((source) => source === 'isolate' || source === 'store')).toHaveLength(19)
    expect(refreshSpans.every((span) => span.attributes['edge_refresh.outcome'] === 'refreshed')).toBe(true)
    // Every store span is a child of a refresh span of this storm, and none failed.
    const refreshIds = new Set(refreshSpans.map((span) => span.spanId))
    const storeSpans = spans.filter((span) => span.name.startsWith('edge-refresh.store.'))
    expect(storeSpans.length).toBeGreaterThanOrEqual(4 + 1) // a claim per isolate, the leader's publish
    expect(storeSpans.every((span) => refreshIds.has(span.parentSpanId!) && span.attributes['edge_refresh.store.outcome'] === 'ok')).toBe(
      true,
    )

    // Metrics: they agree with the spans and with the provider's own count.
    expect(await otel.total('edge_refresh.provider.calls')).toBe(providerCount)
    expect(await otel.total('edge_refresh.provider.calls', { outcome: 'refreshed', provider: 'oidc' })).toBe(1)
    expect(await otel.total('edge_refresh.provider.duration')).toBe(1)
    expect(await otel.total('edge_refresh.results.picked_up')).toBe(19)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'refreshed' })).toBe(20)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'refreshed', source: 'provider' })).toBe(1)
    expect(await otel.total('edge_refresh.fast_path', { result: 'miss' })).toBe(20)
    expect(await otel.total('edge_refresh.fast_path', { result: 'hit' })).toBe(0)
    expect(await otel.total('edge_refresh.store.errors')).toBe(0)
    expect(await otel.total('edge_refresh.logins.ended')).toBe(0)
    expect(await otel.total('edge_refresh.in_doubt')).toBe(0)
    expect(await otel.total('edge_refresh.store.duration')).toBe(storeSpans.length)

    // Nothing that identifies the user or bears their session, anywhere in what was exported.
    const { createSealer } = await import('../lib/refresh/sealing')
    const storeKey = await createSealer([SECRET]).keyFor(tokens.refresh_token)
    const secrets = [
      tokens.access_token,
      tokens.refresh_token,
      tokens.id_token,
      refreshed.access_token as string,
      refreshed.refresh_token as string,
      refreshed.id_token as string,
      jwt,
      ...new Set(newCookies as string[]),
      user.sub,
      user.email,
      login,
      storeKey,
      prefix,
    ]
    expect(secrets.every((secret) => typeof secret === 'string' && secret.length > 8)).toBe(true)
    const { leaks, scanned } = scanForSecrets(spans, points, secrets)
    console.log(`[telemetry] storm scan: ${scanned} exported names and attribute values checked against ${secrets.length} secrets`)
    expect(scanned).toBeGreaterThan(100)
    expect(leaks).toEqual([])
  })

  it('a session judged fresh: the first request is a fast-path miss, the second a hit, and neither makes a span', async () => {
    const { cookies } = await session(3600)
    const handler = isolate()
    for (let i = 0; i < 2; i++) {
      const response = await handler(pageRequest(`/f/${i}`, cookies))
      expect(response.status).toBe(200)
      expect(setCookies(response)).toEqual([])
    }
    const points = await otel.points()
    print('fresh session, twice in one isolate', points)
    expect(await otel.total('edge_refresh.fast_path', { result: 'miss' })).toBe(1)
    expect(await otel.total('edge_refresh.fast_path', { result: 'hit' })).toBe(1)
    expect(otel.spans()).toEqual([])
    expect(await otel.total('edge_refresh.refreshes')).toBe(0)
  })
})

describe('faults, each in the metric the docs name for it', () => {
  it('store slower than storeTimeoutMs: edge_refresh.store.errors{operation=claim,outcome=timeout}, refreshes{outcome=store-unavailable}, no provider call', async () => {
    const { login, cookies } = await session(-5)
    const handler = isolate({
      redis: slowRedis(realRedis(inject('redisRestUrl'), inject('redisRestToken')), 1_000, faults),
      storeTimeoutMs: 300,
    })
    const response = await handler(pageRequest('/', cookies))
    expect(response.status).toBe(200)
    expect(setCookies(response)).toEqual([])
    const points = await otel.points()
    print('store slower than storeTimeoutMs (300 ms)', points)
    expect(await otel.total('edge_refresh.store.errors', { operation: 'claim', outcome: 'timeout' })).toBe(1)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'store-unavailable' })).toBe(1)
    expect(await otel.total('edge_refresh.provider.calls')).toBe(0)
    expect((await providerStats(login)).refreshRequests).toBe(0)
    const claim = otel.spans().find((span) => span.name === 'edge-refresh.store.claim')
    expect(claim?.attributes['edge_refresh.store.outcome']).toBe('timeout')
    expect(claim?.status.code).toBe(2) // SpanStatusCode.ERROR
    const refresh = otel.spans().find((span) => span.name === 'edge-refresh.refresh')
    expect(refresh?.attributes['edge_refresh.outcome']).toBe('store-unavailable')
    expect(refresh?.status.code).toBe(2)
  })

  it('store down (Redis stopped): edge_refresh.store.errors{outcome=error}, refreshes{outcome=store-unavailable}, no provider call', async () => {
    const { login, cookies } = await session(-5)
    const isolates = [isolate({ storeTimeoutMs: 300 }), isolate({ storeTimeoutMs: 300 })]
    await redisHook('redis-stop')
    try {
      const responses = await Promise.all(Array.from({ length: 4 }, (_, i) => isolates[i % 2]!(pageRequest(`/d/${i}`, cookies))))
      for (const response of responses) {
        expect(response.status).toBe(200)
        expect(setCookies(response)).toEqual([])
      }
    } finally {
      await redisHook('redis-start')
    }
    const points = await otel.points()
    print('store down (redis-server stopped), 4 requests over 2 isolates', points)
    // One claim per isolate reaches the store (the other request of each isolate joins it).
    expect(await otel.total('edge_refresh.store.errors', { operation: 'claim', outcome: 'error' })).toBe(2)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'store-unavailable' })).toBe(4)
    expect(await otel.total('edge_refresh.provider.calls')).toBe(0)
    expect((await providerStats(login)).refreshRequests).toBe(0)
  })

  it('provider answers invalid_grant: provider.calls{outcome=invalid_grant}, logins.ended{reason=invalid_grant} from the provider, then from the store', async () => {
    const { login, tokens, cookies } = await session(-5)
    await hooks().revoke(tokens.refresh_token)
    const first = await isolate()(pageRequest('/', cookies))
    expect(first.status).toBe(307)
    const second = await isolate()(pageRequest('/', cookies))
    expect(second.status).toBe(307)
    const points = await otel.points()
    print('refresh token revoked at the provider, 2 isolates', points)
    expect((await providerStats(login)).refreshRequests).toBe(1)
    expect(await otel.total('edge_refresh.provider.calls', { outcome: 'invalid_grant', provider: 'oidc' })).toBe(1)
    expect(await otel.total('edge_refresh.provider.calls')).toBe(1)
    expect(await otel.total('edge_refresh.logins.ended', { reason: 'invalid_grant', source: 'provider' })).toBe(1)
    expect(await otel.total('edge_refresh.logins.ended', { reason: 'invalid_grant', source: 'store' })).toBe(1)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'invalid_grant' })).toBe(2)
    const call = otel.spans().find((span) => span.name === 'edge-refresh.provider.refresh')
    expect(call?.attributes['edge_refresh.provider.outcome']).toBe('invalid_grant')
  })

  it('provider slower than providerCallLimitMs: provider.calls{outcome=unanswered}, in_doubt 1, then logins.ended{reason=in-doubt}', async () => {
    const { login, cookies } = await session(-5)
    await hooks().latency(2_000, login)
    const timing = { providerTimeoutMs: 400, providerCallLimitMs: 800 }
    const event = collectingEvent()
    const first = await isolate(timing)(pageRequest('/', cookies), event)
    // The request stops waiting at providerTimeoutMs; the call goes on in waitUntil until its limit.
    expect(first.status).toBe(200)
    expect(setCookies(first)).toEqual([])
    await event.settle()
    const second = await isolate(timing)(pageRequest('/', cookies))
    expect(second.status).toBe(307)
    const points = await otel.points()
    print('provider 2 s late, providerTimeoutMs 400, providerCallLimitMs 800', points)
    expect(await otel.total('edge_refresh.provider.calls', { outcome: 'unanswered' })).toBe(1)
    expect(await otel.total('edge_refresh.provider.calls')).toBe(1)
    expect(await otel.total('edge_refresh.in_doubt', { provider: 'oidc' })).toBe(1)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'transient' })).toBe(1)
    expect(await otel.total('edge_refresh.logins.ended', { reason: 'in-doubt' })).toBe(1)
    const call = otel.spans().find((span) => span.name === 'edge-refresh.provider.refresh')
    expect(call?.attributes['edge_refresh.provider.outcome']).toBe('unanswered')
    expect(call?.status.code).toBe(2)
  })

  it('provider answers 5xx: provider.calls{outcome=transient}, refreshes{outcome=transient}, then a back-off without a call', async () => {
    const { login, cookies } = await session(-5)
    await hooks().fail(503, { count: 5, login })
    const first = await isolate()(pageRequest('/', cookies))
    expect(first.status).toBe(200)
    expect(setCookies(first)).toEqual([])
    const second = await isolate()(pageRequest('/', cookies))
    expect(second.status).toBe(200)
    const points = await otel.points()
    print('provider answers 503, 2 isolates', points)
    expect(await otel.total('edge_refresh.provider.calls', { outcome: 'transient', provider: 'oidc' })).toBe(1)
    expect(await otel.total('edge_refresh.provider.calls')).toBe(1)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'transient' })).toBe(1)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'backoff' })).toBe(1)
    expect(await otel.total('edge_refresh.logins.ended')).toBe(0)
    const call = otel.spans().find((span) => span.name === 'edge-refresh.provider.refresh')
    expect(call?.attributes['edge_refresh.provider.outcome']).toBe('transient')
  })
})
