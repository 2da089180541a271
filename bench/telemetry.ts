/**
 * What `telemetry: openTelemetry()` costs per request (issue 18), in µs and as a ratio to the same
 * middleware without the option, measured in the same rounds:
 *
 * - `none`: no `telemetry` option (nothing is called at all);
 * - `otel_no_sdk`: `openTelemetry()` and no SDK registered: the API's no-op tracer and meter;
 * - `otel_sdk`: `openTelemetry()` with an SDK registered as the global one (testkit/otel.ts: a
 *   `BasicTracerProvider` with `SimpleSpanProcessor` → `InMemorySpanExporter`, a `MeterProvider`
 *   with a collecting reader), so every span and data point is really recorded.
 *
 * Three workloads, on the Cognito-sized sessions of bench/fast-path.ts (bench/cognito-sessions.ts):
 * - `hit`: 100 sessions already judged fresh in this isolate (one counter add per request);
 * - `miss`: every request a session its middleware has not seen (a new middleware per block): the
 *   cookie is decoded and judged fresh (one counter add, no span);
 * - `refresh`: every request an expired session of its own, refreshed by a stub provider that
 *   answers at once, with the memory store: the only path that makes spans (the refresh, the
 *   claim, the provider call, the publish: 4 spans, 6 data points).
 *
 * The no-SDK rounds run first and the SDK is registered after them (the metrics API has no proxy:
 * once registered it cannot be un-registered for instruments already made). Each figure is the
 * median over alternating pairs of blocks (`none` first, then the variant, the order flipping each
 * pair), which a busy machine shifts far less than an absolute time.
 *
 * Prints a table and one JSON line (`bench: "telemetry"`). Run by `npm run bench` (bench/storm.ts
 * calls {@link telemetryBench}, which runs this file in a child process under `node --expose-gc`);
 * alone: `npm run build:lib && npx tsx bench/telemetry.ts`.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { encode } from 'next-auth/jwt'
import { NextRequest, type NextResponse } from 'next/server.js'
import { createRefreshMiddleware, type RefreshMiddleware, type RefreshTelemetry } from 'next-auth-edge-refresh'
import { openTelemetry } from 'next-auth-edge-refresh/otel'
import { inMemoryOtel } from '../testkit/otel'
import {
  HIT_BLOCK,
  HIT_SESSIONS,
  MISS_BLOCK,
  NAME,
  SECRET,
  emit,
  median,
  requireGc,
  round2,
  round3,
  sessionCookieHeader,
} from './cognito-sessions'

/** Pairs per workload and variant. */
const PAIRS = 16
const REFRESH_BLOCK = 100
/** The child is stopped past this (bench/storm.ts). */
const CHILD_TIMEOUT_MS = 120_000
/** Whole-measurement budget: pairs stop early past it (the figures then say how many ran). */
const BUDGET_MS = 80_000

/**
 * Runs this file's measurement in a child process (`node --expose-gc --import tsx`) and passes its
 * output on: the table and the JSON line. What `npm run bench` calls.
 */
export async function telemetryBench(): Promise<void> {
  const script = fileURLToPath(import.meta.url)
  await new Promise<void>((resolve) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', script, 'measure'],
      { timeout: CHILD_TIMEOUT_MS, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        process.stdout.write(stdout)
        if (error)
          emit({
            bench: 'telemetry',
            error: error.killed ? `timed out after ${CHILD_TIMEOUT_MS} ms` : String(stderr || error.message).slice(0, 500),
          })
        resolve()
      },
    )
  })
}

const isEntry = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (isEntry) {
  if (process.argv[2] === 'measure') await measure()
  else await telemetryBench()
}

type Workload = 'hit' | 'miss' | 'refresh'
type Variant = 'otel_no_sdk' | 'otel_sdk'
interface Pair {
  noneUs: number
  us: number
  ratio: number
}

async function measure(): Promise<void> {
  const gc = requireGc()
  const started = performance.now()
  const overBudget = () => performance.now() - started > BUDGET_MS

  let refreshes = 0
  const stubProvider = {
    kind: 'bench',
    refresh: async () => {
      refreshes++
      return {
        reason: 'refreshed' as const,
        tokens: {
          access_token: `at-${refreshes}-${crypto.randomUUID()}`,
          refresh_token: `rt-${refreshes}-${crypto.randomUUID()}`,
          expires_at: Math.floor(Date.now() / 1000) + 3600,
        },
      }
    },
  }
  const middleware = (telemetry?: RefreshTelemetry): RefreshMiddleware =>
    createRefreshMiddleware({
      secret: SECRET,
      providers: { oidc: stubProvider, cognito: stubProvider },
      logger: { warn: () => {}, error: () => {} },
      ...(telemetry ? { telemetry } : {}),
    })
  const requestFor = (cookie: string, i: number) =>
    new NextRequest(`http://app.test/page/${i}`, { headers: { cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate' } })

  /** Mean µs per request of `count` sequential requests over `headers` from `offset`, each request new. */
  const perRequestUs = async (
    handler: (request: NextRequest) => Promise<NextResponse>,
    headers: readonly string[],
    count: number,
    offset: number,
  ) => {
    const requests = Array.from({ length: count }, (_, i) => requestFor(headers[(offset + i) % headers.length]!, i))
    gc()
    const t0 = performance.now()
    for (const request of requests) {
      const response = await handler(request)
      if (response.status >= 500) throw new Error(`status ${response.status}`)
    }
    return ((performance.now() - t0) * 1000) / count
  }

  // Sessions: 100 for the hits, a pool for the misses, an expired one per refresh request.
  const hitHeaders = await Promise.all(Array.from({ length: HIT_SESSIONS }, (_, i) => sessionCookieHeader(i)))
  const missPool = await Promise.all(Array.from({ length: 2 * PAIRS * MISS_BLOCK }, (_, i) => sessionCookieHeader(HIT_SESSIONS + i)))
  const expired = async (i: number) => {
    const jwt = await encode({
      secret: SECRET,
      token: {
        sub: `user-${i}`,
        email: `user-${i}@example.test`,
        access_token: `eyJ${crypto.randomUUID()}${crypto.randomUUID()}`,
        refresh_token: `rt-${i}-${crypto.randomUUID()}`,
        provider: 'oidc',
        expires_at: Math.floor(Date.now() / 1000) - 5,
      },
    })
    return `${NAME}=${jwt}`
  }
  // Each refresh request needs a session never refreshed before: 2 blocks per pair, per phase, plus warm-up.
  const refreshPool = await Promise.all(Array.from({ length: (4 * PAIRS + 2) * REFRESH_BLOCK }, (_, i) => expired(i)))
  let refreshAt = 0
  let missAt = 0

  const noneHit = middleware()
  const block = {
    hit: (handler: RefreshMiddleware) => perRequestUs(handler, hitHeaders, HIT_BLOCK, 0),
    miss: async (make: () => RefreshMiddleware) => {
      const at = missAt
      missAt += MISS_BLOCK
      return perRequestUs(make(), missPool, MISS_BLOCK, at)
    },
    refresh: async (handler: RefreshMiddleware) => {
      const at = refreshAt
      refreshAt += REFRESH_BLOCK
      return perRequestUs(handler, refreshPool, REFRESH_BLOCK, at)
    },
  }

  const pairs: Record<Variant, Record<Workload, Pair[]>> = {
    otel_no_sdk: { hit: [], miss: [], refresh: [] },
    otel_sdk: { hit: [], miss: [], refresh: [] },
  }
  /** One variant's rounds: each workload in pairs of blocks against `none`, the order flipping each pair. */
  const rounds = async (variant: Variant, telemetry: () => RefreshTelemetry) => {
    // One openTelemetry() per isolate, as an app makes it with its options; the miss blocks' new
    // middlewares share it.
    const shared = telemetry()
    const hitHandler = middleware(shared)
    const refreshHandler = middleware(shared)
    const noneRefresh = middleware()
    // Warm-up: JIT, derived keys, the hit handlers' judged caches.
    await perRequestUs(noneHit, hitHeaders, 1_000, 0)
    await perRequestUs(hitHandler, hitHeaders, 1_000, 0)
    await block.refresh(noneRefresh)
    await block.refresh(refreshHandler)
    for (let pair = 0; pair < PAIRS && !overBudget(); pair++) {
      const run = async (none: () => Promise<number>, mine: () => Promise<number>) => {
        const [noneUs, us] = pair % 2 === 0 ? [await none(), await mine()] : ([await mine(), await none()].reverse() as [number, number])
        return { noneUs, us, ratio: us / noneUs }
      }
      pairs[variant].hit.push(
        await run(
          () => block.hit(noneHit),
          () => block.hit(hitHandler),
        ),
      )
      pairs[variant].miss.push(
        await run(
          () => block.miss(() => middleware()),
          () => block.miss(() => middleware(shared)),
        ),
      )
      pairs[variant].refresh.push(
        await run(
          () => block.refresh(noneRefresh),
          () => block.refresh(refreshHandler),
        ),
      )
    }
  }

  // No SDK registered: openTelemetry() gets the API's no-op tracer and meter.
  await rounds('otel_no_sdk', () => openTelemetry())
  // Then an SDK, registered globally as an app's instrumentation.ts would.
  const otel = inMemoryOtel()
  otel.register()
  const spansBefore = otel.spans().length
  await rounds('otel_sdk', () => openTelemetry())
  const spansRecorded = otel.spans().length - spansBefore
  const pointsRecorded = (await otel.points()).length
  const fastPathRecorded = await otel.total('edge_refresh.fast_path')
  await otel.shutdown()

  const figure = (of: Pair[]) => ({
    none_us: round2(median(of.map((p) => p.noneUs))),
    us: round2(median(of.map((p) => p.us))),
    ratio: round3(median(of.map((p) => p.ratio))),
  })
  const figures = Object.fromEntries(
    (['otel_no_sdk', 'otel_sdk'] as const).flatMap((variant) =>
      (['hit', 'miss', 'refresh'] as const).map((workload) => [`${workload}_${variant}`, figure(pairs[variant][workload])]),
    ),
  ) as Record<string, { none_us: number; us: number; ratio: number }>

  const rows = [
    ['workload', 'none µs', 'otel, no SDK µs', 'ratio', 'none µs', 'otel + SDK µs', 'ratio'],
    ...(['hit', 'miss', 'refresh'] as const).map((workload) => {
      const noSdk = figures[`${workload}_otel_no_sdk`]!
      const sdk = figures[`${workload}_otel_sdk`]!
      return [workload, noSdk.none_us, noSdk.us, noSdk.ratio, sdk.none_us, sdk.us, sdk.ratio].map(String)
    }),
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`
  console.log(
    [
      '',
      `telemetry cost per request (median of ${pairs.otel_sdk.hit.length} pairs; each ratio against "none" in the same pairs)`,
      line(rows[0]!),
      line(widths.map((width) => '-'.repeat(width))),
      ...rows.slice(1).map(line),
      '',
    ].join('\n'),
  )
  emit({
    bench: 'telemetry',
    pairs: pairs.otel_sdk.hit.length + pairs.otel_no_sdk.hit.length,
    ...Object.fromEntries(
      Object.entries(figures).flatMap(([name, value]) => [
        [`${name}_us`, value.us],
        [`${name}_none_us`, value.none_us],
        [`${name}_ratio`, value.ratio],
      ]),
    ),
    sdk: 'BasicTracerProvider + SimpleSpanProcessor + InMemorySpanExporter; MeterProvider + collecting reader',
    sdk_spans_recorded: spansRecorded,
    sdk_metric_points: pointsRecorded,
    sdk_fast_path_recorded: fastPathRecorded,
    stub_provider_calls: refreshes,
    // "No measurable cost without an SDK": the no-op API within 5 % of no telemetry on the fast path.
    target_no_sdk_hit_within_5_percent: figures.hit_otel_no_sdk!.ratio <= 1.05,
    target_no_sdk_miss_within_5_percent: figures.miss_otel_no_sdk!.ratio <= 1.05,
    seconds: round2((performance.now() - started) / 1000),
  })
}
