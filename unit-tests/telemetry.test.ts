/**
 * `openTelemetry()` (lib/otel.ts) on the OpenTelemetry SDK's in-memory exporters (testkit/otel.ts),
 * hook by hook: which span, attribute and metric each call of the core makes. The same hooks
 * driven by real requests: edge-tests/telemetry.test.ts.
 */
// @vitest-environment node
import { metrics, trace } from '@opentelemetry/api'
import { afterEach, describe, expect, it } from 'vitest'
import { openTelemetry } from '../lib/otel'
import { refreshCallbacks } from '../lib/next/callbacks'
import { inMemoryOtel, type InMemoryOtel } from '../testkit/otel'

const ERROR = 2 // SpanStatusCode.ERROR

let otel: InMemoryOtel | undefined
afterEach(async () => {
  await otel?.shutdown()
  otel = undefined
})

function recording(): { otel: InMemoryOtel; telemetry: ReturnType<typeof openTelemetry> } {
  otel = inMemoryOtel()
  return { otel, telemetry: openTelemetry({ tracer: otel.tracer, meter: otel.meter }) }
}

describe('openTelemetry()', () => {
  it('with no SDK registered: every hook is a no-op that does not throw', () => {
    const telemetry = openTelemetry()
    telemetry.fastPath('hit')
    telemetry.fastPath('miss')
    const refresh = telemetry.startRefresh('oidc')
    refresh.storeCall('claim')('ok')
    refresh.providerCall()('refreshed')
    refresh.waited(12, 'result')
    refresh.markedInDoubt()
    refresh.end('refreshed', 'provider')
  })

  it('made before the SDK is registered (module scope, before instrumentation.ts): records into it once registered', async () => {
    const telemetry = openTelemetry()
    otel = inMemoryOtel()
    otel.register()
    telemetry.fastPath('hit')
    telemetry.startRefresh('oidc').end('refreshed', 'store')
    expect(await otel.total('edge_refresh.fast_path', { result: 'hit' })).toBe(1)
    expect(await otel.total('edge_refresh.results.picked_up', { source: 'store' })).toBe(1)
    expect(otel.spans().map((span) => span.name)).toEqual(['edge-refresh.refresh'])
    await otel.shutdown()
    otel = undefined
    // Unregistered again: the API's no-op providers.
    expect(trace.getTracerProvider()).not.toBeUndefined()
    expect(metrics.getMeterProvider()).not.toBeUndefined()
  })

  it('fast path: a counter by result, and no span', async () => {
    const { otel, telemetry } = recording()
    telemetry.fastPath('hit')
    telemetry.fastPath('hit')
    telemetry.fastPath('miss')
    expect(await otel.total('edge_refresh.fast_path', { result: 'hit' })).toBe(2)
    expect(await otel.total('edge_refresh.fast_path', { result: 'miss' })).toBe(1)
    expect(otel.spans()).toEqual([])
  })

  it("a leader's refresh: the refresh span with its store and provider spans as children, and the counters", async () => {
    const { otel, telemetry } = recording()
    const refresh = telemetry.startRefresh('oidc')
    refresh.storeCall('claim')('ok')
    const called = refresh.providerCall()
    called('refreshed')
    refresh.storeCall('publish')('ok')
    refresh.end('refreshed', 'provider')

    const spans = otel.spans()
    expect(spans.map((span) => span.name)).toEqual([
      'edge-refresh.store.claim',
      'edge-refresh.provider.refresh',
      'edge-refresh.store.publish',
      'edge-refresh.refresh',
    ])
    const root = spans.at(-1)!
    expect(root.attributes).toEqual({
      'edge_refresh.provider': 'oidc',
      'edge_refresh.outcome': 'refreshed',
      'edge_refresh.source': 'provider',
    })
    expect(root.status.code).not.toBe(ERROR)
    for (const child of spans.slice(0, 3)) {
      expect(child.parentSpanId).toBe(root.spanId)
      expect(child.traceId).toBe(root.traceId)
    }
    expect(spans[0]!.attributes).toEqual({ 'edge_refresh.store.operation': 'claim', 'edge_refresh.store.outcome': 'ok' })
    expect(spans[1]!.attributes).toEqual({ 'edge_refresh.provider': 'oidc', 'edge_refresh.provider.outcome': 'refreshed' })

    expect(await otel.total('edge_refresh.refreshes', { outcome: 'refreshed', source: 'provider', provider: 'oidc' })).toBe(1)
    expect(await otel.total('edge_refresh.provider.calls', { outcome: 'refreshed', provider: 'oidc' })).toBe(1)
    expect(await otel.total('edge_refresh.provider.duration', { outcome: 'refreshed' })).toBe(1)
    expect(await otel.total('edge_refresh.store.duration', { operation: 'claim', outcome: 'ok' })).toBe(1)
    // A leader's own result is not a picked-up one.
    expect(await otel.total('edge_refresh.results.picked_up')).toBe(0)
    expect(await otel.total('edge_refresh.store.errors')).toBe(0)
  })

  it('a waiter: a wait event and the wait histogram, a picked-up result by source', async () => {
    const { otel, telemetry } = recording()
    const refresh = telemetry.startRefresh('cognito')
    refresh.storeCall('claim')('ok')
    refresh.storeCall('peek')('ok')
    refresh.waited(42, 'result')
    refresh.end('refreshed', 'store')
    telemetry.startRefresh('cognito').end('refreshed', 'isolate')

    const root = otel.spans().find((span) => span.name === 'edge-refresh.refresh' && span.attributes['edge_refresh.source'] === 'store')!
    expect(root.events).toEqual([
      { name: 'edge-refresh.waited', attributes: { 'edge_refresh.wait.ms': 42, 'edge_refresh.wait.ended': 'result' } },
    ])
    expect(await otel.total('edge_refresh.results.picked_up', { source: 'store' })).toBe(1)
    expect(await otel.total('edge_refresh.results.picked_up', { source: 'isolate' })).toBe(1)
    expect(await otel.total('edge_refresh.wait.duration', { ended: 'result' })).toBe(1)
    const wait = (await otel.points()).find((point) => point.metric === 'edge_refresh.wait.duration')!
    expect(wait.value).toMatchObject({ count: 1, sum: 42 })
  })

  it('store faults: store.errors by operation and outcome, the store span and a store-unavailable refresh marked as errors', async () => {
    const { otel, telemetry } = recording()
    const refresh = telemetry.startRefresh('oidc')
    refresh.storeCall('claim')('timeout')
    refresh.end('store-unavailable', undefined)
    const other = telemetry.startRefresh('oidc')
    other.storeCall('peek')('error')
    other.waited(5, 'outage')
    other.end('store-unavailable', undefined)

    expect(await otel.total('edge_refresh.store.errors', { operation: 'claim', outcome: 'timeout' })).toBe(1)
    expect(await otel.total('edge_refresh.store.errors', { operation: 'peek', outcome: 'error' })).toBe(1)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'store-unavailable' })).toBe(2)
    expect(await otel.total('edge_refresh.wait.duration', { ended: 'outage' })).toBe(1)
    const claim = otel.spans().find((span) => span.name === 'edge-refresh.store.claim')!
    expect(claim.status).toEqual({ code: ERROR, message: 'store claim: timeout' })
    const roots = otel.spans().filter((span) => span.name === 'edge-refresh.refresh')
    expect(roots.map((span) => span.status.code)).toEqual([ERROR, ERROR])
    expect(roots.every((span) => span.attributes['edge_refresh.source'] === undefined)).toBe(true)
  })

  it('provider faults: invalid_grant ends a login, unanswered marks the token in doubt, transient is an error span', async () => {
    const { otel, telemetry } = recording()
    const refused = telemetry.startRefresh('oidc')
    refused.providerCall()('invalid_grant')
    refused.end('invalid_grant', 'provider')
    telemetry.startRefresh('oidc').end('invalid_grant', 'store')

    const unanswered = telemetry.startRefresh('oidc')
    unanswered.providerCall()('unanswered')
    unanswered.markedInDoubt()
    unanswered.end('in-doubt', 'provider')

    const failed = telemetry.startRefresh('oidc')
    failed.providerCall()('transient')
    failed.end('transient', undefined)

    expect(await otel.total('edge_refresh.provider.calls', { outcome: 'invalid_grant' })).toBe(1)
    expect(await otel.total('edge_refresh.provider.calls', { outcome: 'unanswered' })).toBe(1)
    expect(await otel.total('edge_refresh.provider.calls', { outcome: 'transient' })).toBe(1)
    expect(await otel.total('edge_refresh.logins.ended', { reason: 'invalid_grant', source: 'provider' })).toBe(1)
    expect(await otel.total('edge_refresh.logins.ended', { reason: 'invalid_grant', source: 'store' })).toBe(1)
    expect(await otel.total('edge_refresh.logins.ended', { reason: 'in-doubt' })).toBe(1)
    expect(await otel.total('edge_refresh.in_doubt', { provider: 'oidc' })).toBe(1)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'transient' })).toBe(1)

    const calls = otel.spans().filter((span) => span.name === 'edge-refresh.provider.refresh')
    expect(calls.map((span) => [span.attributes['edge_refresh.provider.outcome'], span.status.code === ERROR])).toEqual([
      ['invalid_grant', false],
      ['unanswered', true],
      ['transient', true],
    ])
  })

  it('a session that names no provider is recorded as "(none)"', async () => {
    const { otel, telemetry } = recording()
    telemetry.startRefresh(undefined).end('unknown-provider', undefined)
    expect(await otel.total('edge_refresh.refreshes', { outcome: 'unknown-provider', provider: '(none)' })).toBe(1)
  })
})

describe('the engine traces a run only when it does work', () => {
  it('regression: refreshCallbacks made an edge-refresh.refresh span (outcome "passed") for every callback on a fresh session', async () => {
    const { otel, telemetry } = recording()
    const provider = { kind: 'test', refresh: () => Promise.resolve({ reason: 'invalid_grant' as const }) }
    const callbacks = refreshCallbacks({ secret: 'a-secret-of-enough-length-0123456789', providers: { oidc: provider }, telemetry })
    const fresh = { access_token: 'a', refresh_token: 'r', expires_at: Math.floor(Date.now() / 1000) + 3600, provider: 'oidc' }
    await callbacks.jwt({ token: fresh })
    expect(otel.spans().map((span) => span.name)).toEqual([])
    // A due session is traced once, with its provider call under it.
    await callbacks.jwt({ token: { ...fresh, expires_at: Math.floor(Date.now() / 1000) - 5 } })
    expect(
      otel
        .spans()
        .map((span) => span.name)
        .sort(),
    ).toEqual(['edge-refresh.provider.refresh', 'edge-refresh.refresh', 'edge-refresh.store.claim', 'edge-refresh.store.publish'])
  })
})
