/**
 * `next-auth-edge-refresh/otel`: the refresh's traces and metrics on OpenTelemetry. Pass
 * `telemetry: openTelemetry()` with the other options; the app registers its SDK as usual
 * (`instrumentation.ts`, e.g. `registerOTel()` of `@vercel/otel`). Without a registered SDK the
 * API's no-op tracer and meter are used, which cost next to nothing.
 *
 * Needs `@opentelemetry/api` (1.x), an optional peer dependency: only this entry imports it.
 *
 * What is recorded never holds a token, a cookie value, a store key or a user id: only outcomes,
 * the next-auth provider id (`oidc`, `cognito`), store operation names and durations. The metric
 * names and what each means for an alert: docs/08-operations.md.
 *
 * @module next-auth-edge-refresh/otel
 */
import { context, metrics, SpanStatusCode, trace, type Attributes, type Meter, type Span, type Tracer } from '@opentelemetry/api'
import type { RefreshTelemetry, RefreshTrace } from './observe/telemetry.js'

export type { RefreshTelemetry, RefreshTrace, StoreOperation, StoreCallOutcome, ProviderCallOutcome } from './observe/telemetry.js'

/** Options of {@link openTelemetry}. */
export interface OpenTelemetryOptions {
  /** The tracer to use. Default `trace.getTracer('next-auth-edge-refresh')` of the global API. */
  tracer?: Tracer
  /** The meter to use. Default `metrics.getMeter('next-auth-edge-refresh')` of the global API. */
  meter?: Meter
}

/** The instrumentation scope name of every span and metric. */
export const INSTRUMENTATION_NAME = 'next-auth-edge-refresh'

/** Reasons whose requests end a login (the user signs in again). */
const ENDS_LOGIN = new Set(['invalid_grant', 'in-doubt'])
/** Refresh outcomes that mean this layer could not do its job for the request. */
const FAILED = new Set(['transient', 'store-unavailable', 'error'])

/**
 * A {@link RefreshTelemetry} on `@opentelemetry/api`.
 *
 * Spans (only for requests that did work; a session judged fresh on the fast path makes none):
 * - `edge-refresh.refresh`: one per refresh decision that did work. Attributes
 *   `edge_refresh.provider`, `edge_refresh.outcome` (the reason), `edge_refresh.source`
 *   (`provider`, `isolate`, `store`; absent when nothing came back).
 * - `edge-refresh.store.<operation>` (claim, peek, publish, extend, shorten): each store round trip,
 *   with `edge_refresh.store.outcome` (`ok`, `timeout`, `error`).
 * - `edge-refresh.provider.refresh`: the leader's provider call, with `edge_refresh.provider.outcome`.
 *
 * Metrics (counters unless said; durations in ms):
 * - `edge_refresh.fast_path` {`result`: hit | miss}
 * - `edge_refresh.refreshes` {`outcome`, `source`, `provider`}: requests that did work, by how they ended
 * - `edge_refresh.provider.calls` {`outcome`, `provider`}, and histogram `edge_refresh.provider.duration`
 * - `edge_refresh.results.picked_up` {`source`: isolate | store}: refreshed results a request took from another
 * - histogram `edge_refresh.wait.duration` {`ended`: result | lapsed | outage}: waits for another's result
 * - `edge_refresh.store.errors` {`operation`, `outcome`: timeout | error}, and histogram `edge_refresh.store.duration`
 * - `edge_refresh.logins.ended` {`reason`: invalid_grant | in-doubt, `source`}
 * - `edge_refresh.in_doubt` {`provider`}: refresh tokens marked in doubt (a call sent and never answered)
 */
export function openTelemetry(options: OpenTelemetryOptions = {}): RefreshTelemetry {
  // The API's tracer is a proxy that follows an SDK registered later; its meter is not: a meter
  // taken before registration (openTelemetry() at module scope, evaluated before
  // instrumentation.ts's register()) would stay a no-op for good. So the global meter and its
  // instruments are taken on first use, when the app has registered its SDK.
  const tracer = options.tracer ?? trace.getTracer(INSTRUMENTATION_NAME)
  let made: Instruments | undefined
  const instruments = (): Instruments => (made ??= createInstruments(options.meter ?? metrics.getMeter(INSTRUMENTATION_NAME)))
  const hit = { result: 'hit' }
  const miss = { result: 'miss' }

  return {
    fastPath(result) {
      instruments().fastPath.add(1, result === 'hit' ? hit : miss)
    },
    startRefresh(providerId) {
      const provider = providerId ?? '(none)'
      const span = tracer.startSpan('edge-refresh.refresh', { attributes: { 'edge_refresh.provider': provider } })
      const parent = trace.setSpan(context.active(), span)
      const child = (name: string, attributes: Attributes): Span => tracer.startSpan(name, { attributes }, parent)
      const refreshTrace: RefreshTrace = {
        storeCall(operation) {
          const started = performance.now()
          const storeSpan = child(`edge-refresh.store.${operation}`, { 'edge_refresh.store.operation': operation })
          return (outcome) => {
            instruments().storeDuration.record(performance.now() - started, { operation, outcome })
            if (outcome !== 'ok') {
              instruments().storeErrors.add(1, { operation, outcome })
              storeSpan.setStatus({ code: SpanStatusCode.ERROR, message: `store ${operation}: ${outcome}` })
            }
            storeSpan.setAttribute('edge_refresh.store.outcome', outcome)
            storeSpan.end()
          }
        },
        providerCall() {
          const started = performance.now()
          const callSpan = child('edge-refresh.provider.refresh', { 'edge_refresh.provider': provider })
          return (outcome) => {
            instruments().providerCalls.add(1, { outcome, provider })
            instruments().providerDuration.record(performance.now() - started, { outcome, provider })
            callSpan.setAttribute('edge_refresh.provider.outcome', outcome)
            if (outcome === 'transient' || outcome === 'unanswered') callSpan.setStatus({ code: SpanStatusCode.ERROR, message: outcome })
            callSpan.end()
          }
        },
        waited(ms, ended) {
          instruments().waits.record(ms, { ended })
          span.addEvent('edge-refresh.waited', { 'edge_refresh.wait.ms': ms, 'edge_refresh.wait.ended': ended })
        },
        markedInDoubt() {
          instruments().inDoubt.add(1, { provider })
        },
        end(reason, source) {
          const attributes: Attributes = { outcome: reason, provider, ...(source ? { source } : {}) }
          instruments().refreshes.add(1, attributes)
          if (reason === 'refreshed' && source && source !== 'provider') instruments().pickedUp.add(1, { source })
          if (ENDS_LOGIN.has(reason)) instruments().loginsEnded.add(1, { reason, ...(source ? { source } : {}) })
          span.setAttribute('edge_refresh.outcome', reason)
          if (source) span.setAttribute('edge_refresh.source', source)
          if (FAILED.has(reason)) span.setStatus({ code: SpanStatusCode.ERROR, message: reason })
          span.end()
        },
      }
      return refreshTrace
    },
  }
}

type Instruments = ReturnType<typeof createInstruments>

/** The counters and histograms of {@link openTelemetry}, on `meter`. */
function createInstruments(meter: Meter) {
  const fastPath = meter.createCounter('edge_refresh.fast_path', {
    description: 'Requests with a session cookie, by whether the fast path answered (hit) or the cookie was decoded (miss)',
  })
  const refreshes = meter.createCounter('edge_refresh.refreshes', {
    description: 'Requests whose session was due, by outcome and where the result came from',
  })
  const providerCalls = meter.createCounter('edge_refresh.provider.calls', {
    description: 'Refresh requests sent to the provider, by outcome',
  })
  const providerDuration = meter.createHistogram('edge_refresh.provider.duration', { unit: 'ms', description: 'Provider refresh calls' })
  const pickedUp = meter.createCounter('edge_refresh.results.picked_up', {
    description: "Refreshed results a request took from another request's refresh",
  })
  const waits = meter.createHistogram('edge_refresh.wait.duration', { unit: 'ms', description: "Waits for another request's refresh" })
  const storeErrors = meter.createCounter('edge_refresh.store.errors', {
    description: 'Store round trips that failed or took longer than storeTimeoutMs',
  })
  const storeDuration = meter.createHistogram('edge_refresh.store.duration', { unit: 'ms', description: 'Store round trips' })
  const loginsEnded = meter.createCounter('edge_refresh.logins.ended', {
    description: 'Requests that ended a login: the provider refused the refresh token, or it is in doubt',
  })
  const inDoubt = meter.createCounter('edge_refresh.in_doubt', {
    description: 'Refresh tokens marked in doubt: a provider call was sent and never answered',
  })
  return { fastPath, refreshes, providerCalls, providerDuration, pickedUp, waits, storeErrors, storeDuration, loginsEnded, inDoubt }
}
