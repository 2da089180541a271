/**
 * The fast path against a bare `getToken` middleware, and the memory a long run leaves behind.
 * Run by `bench/storm.ts` in a child process (`node --expose-gc --import tsx`), so that its heap
 * and its CPU are not shared with the servers of the storm; it can also be run alone the same way.
 *
 * Sessions are Cognito-sized: access, id and refresh token of the sizes Cognito issues, a joined
 * session JWT of about 5.9 KB, so next-auth writes it as two chunks (`name.0`, `name.1`).
 *
 * Prints JSON lines:
 * - `fast_path`: per-request time of the refresh middleware divided by the time of a bare
 *   middleware (`await getToken({ req, secret }); return NextResponse.next()`) on the same
 *   requests, measured in the same rounds, for four workloads:
 *   - `hit`: 100 sessions, each already judged fresh in this isolate;
 *   - `cycled_1000` / `cycled_3000`: that many distinct sessions cycled in order through one
 *     middleware, as in a busy isolate: each session comes back after all the others, so it hits
 *     only if the judged cache holds them all;
 *   - `all_miss`: every request a session its middleware has not seen (a new middleware per block;
 *     the isolate's derived keys stay warm): every request decrypts.
 *   Each figure is the median of the per-pair ratios, which a busy machine shifts far less than any
 *   absolute time.
 * - `heap_growth`: heap (after a full GC) after N requests over S distinct sessions, minus the heap
 *   before, at checkpoints: bounded caches make it level off instead of growing with N.
 *
 * Everything runs in this Node process on `next/server`'s own `NextRequest` / `NextResponse`, the
 * same for both middlewares. Every loop is bounded in count and in time.
 */
import { getToken } from 'next-auth/jwt'
import { NextRequest, NextResponse } from 'next/server.js'
import { createRefreshMiddleware, type RefreshMiddleware, type SessionCodec } from 'next-auth-edge-refresh'
import {
  BARE_BLOCK,
  CYCLED,
  HIT_BLOCK,
  HIT_SESSIONS,
  MISS_BLOCK,
  PAIRS_PER_ROUND,
  ROUNDS,
  requireGc,
  SECRET,
  emit,
  joinedLength,
  median,
  pairFigures,
  round2,
  round3,
  sessionCookieHeader,
  type Pair,
} from './cognito-sessions'

const HEAP_REQUESTS = 100_000
const HEAP_SESSIONS = 10_000
/** Whole-module time budget: rounds stop early past it (the figures then say how many ran). */
const BUDGET_MS = 70_000

const gc = requireGc()
const started = performance.now()
const overBudget = () => performance.now() - started > BUDGET_MS

let providerCalls = 0
const noProvider = {
  kind: 'bench',
  refresh: async () => {
    providerCalls++
    return { reason: 'transient' as const, detail: 'bench: no provider' }
  },
}
const refreshMiddleware = (jwt?: SessionCodec) =>
  createRefreshMiddleware({
    secret: SECRET,
    providers: { oidc: noProvider },
    logger: { warn: () => {}, error: () => {} },
    ...(jwt ? { jwt } : {}),
  })
const bareMiddleware = async (request: NextRequest) => {
  await getToken({ req: request as never, secret: SECRET })
  return NextResponse.next()
}

const requestFor = (cookie: string, i = 0) =>
  new NextRequest(`http://app.test/page/${i}`, { headers: { cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate' } })

/**
 * Mean µs per request of `count` sequential requests, cycling through the cookie headers. The
 * requests are built first, untimed, and each is new: its cookie value is a string never hashed
 * before, as in production, where no two requests share one.
 */
async function perRequestUs(
  handler: (request: NextRequest) => Promise<NextResponse>,
  headers: readonly string[],
  count: number,
  offset = 0,
): Promise<{ wall: number; cpu: number }> {
  const requests = Array.from({ length: count }, (_, i) => requestFor(headers[(offset + i) % headers.length]!, i))
  // Their construction's garbage is collected now, not charged to the requests timed next.
  gc()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < count; i++) {
    const response = await handler(requests[i]!)
    if (response.status >= 500) throw new Error(`status ${response.status}`)
  }
  const wall = ((performance.now() - t0) * 1000) / count
  const cpu = process.cpuUsage(cpu0)
  return { wall, cpu: (cpu.user + cpu.system) / count }
}

const phase = process.argv[2]
if (phase === 'ratios') await ratios()
else if (phase === 'heap') await heapGrowth()
else throw new Error('usage: node --expose-gc --import tsx bench/fast-path.ts ratios|heap')

/** The fast path: hit, busy-isolate cycles and all-miss, against the bare getToken middleware. */
async function ratios(): Promise<void> {
  const hitHeaders = await Promise.all(Array.from({ length: HIT_SESSIONS }, (_, i) => sessionCookieHeader(i)))
  const poolSize = Math.max(...CYCLED)
  const pool = await Promise.all(Array.from({ length: poolSize }, (_, i) => sessionCookieHeader(HIT_SESSIONS + i)))
  const cycledHeaders = CYCLED.map((sessions) => pool.slice(0, sessions))

  // Structural checks, with a counting codec standing in for an app's custom `jwt` codec (always
  // called, and its cookies are judged by their whole value): decodes per request once each
  // workload's sessions have all been seen once.
  let decodes = 0
  const nextAuthJwt = await import('next-auth/jwt')
  const counting = () =>
    refreshMiddleware({
      encode: (params) => nextAuthJwt.encode(params),
      decode: async (params) => ((decodes += 1), (await nextAuthJwt.decode(params)) ?? null),
    })
  const decodesPerRequest = async (headers: readonly string[]) => {
    const middleware = counting()
    for (const header of headers) await middleware(requestFor(header))
    decodes = 0
    for (let i = 0; i < 2 * headers.length; i++) await middleware(requestFor(headers[i % headers.length]!))
    return round3(decodes / (2 * headers.length))
  }
  const checks = {
    custom_codec_hit_decodes_per_request: await decodesPerRequest(hitHeaders),
    custom_codec_cycled_1000_decodes_per_request: await decodesPerRequest(cycledHeaders[0]!),
    custom_codec_cycled_3000_decodes_per_request: await decodesPerRequest(cycledHeaders[1]!),
  }

  const hitMiddleware = refreshMiddleware()
  const cycledMiddlewares = CYCLED.map(() => refreshMiddleware())
  // Warm-up: JIT for all of them, the isolate's derived key, and each busy isolate's one pass
  // over its sessions (the hit middleware's judged cache filled).
  await perRequestUs(bareMiddleware, hitHeaders, 1_000)
  await perRequestUs(hitMiddleware, hitHeaders, 2_000)
  for (const [n, middleware] of cycledMiddlewares.entries()) await perRequestUs(middleware, cycledHeaders[n]!, cycledHeaders[n]!.length)
  await perRequestUs(refreshMiddleware(), pool, MISS_BLOCK)

  const pairs = { hit: [] as Pair[], cycled_1000: [] as Pair[], cycled_3000: [] as Pair[], all_miss: [] as Pair[] }
  /**
   * Alternating blocks, bare and measured on the same sessions (each block its own new requests),
   * in flipping order so that neither always runs right after the other; one ratio per pair.
   */
  const pairedRound = async (
    into: Pair[],
    measured: () => RefreshMiddleware,
    headers: readonly string[],
    measuredBlock: number,
    offset: number,
  ) => {
    for (let pair = 0; pair < PAIRS_PER_ROUND; pair++) {
      const at = offset + pair * measuredBlock
      const middleware = measured()
      let bare: { wall: number; cpu: number }
      let mine: { wall: number; cpu: number }
      if (pair % 2 === 0) {
        bare = await perRequestUs(bareMiddleware, headers, BARE_BLOCK, at)
        mine = await perRequestUs(middleware, headers, measuredBlock, at)
      } else {
        mine = await perRequestUs(middleware, headers, measuredBlock, at)
        bare = await perRequestUs(bareMiddleware, headers, BARE_BLOCK, at)
      }
      into.push({ bareUs: bare.wall, us: mine.wall, ratio: mine.wall / bare.wall, cpuRatio: mine.cpu / bare.cpu })
    }
  }

  // Each busy isolate's requests continue its cycle, so every session comes back after all the others.
  const cycleAt = [cycledHeaders[0]!.length, cycledHeaders[1]!.length]
  let freshAt = 0
  for (let round = 0; round < ROUNDS && !overBudget(); round++) {
    await pairedRound(pairs.hit, () => hitMiddleware, hitHeaders, HIT_BLOCK, 0)
    for (const [n, middleware] of cycledMiddlewares.entries()) {
      await pairedRound(n === 0 ? pairs.cycled_1000 : pairs.cycled_3000, () => middleware, cycledHeaders[n]!, MISS_BLOCK, cycleAt[n]!)
      cycleAt[n]! += PAIRS_PER_ROUND * MISS_BLOCK
    }
    // A new middleware per block: none of the block's sessions was judged by it.
    await pairedRound(pairs.all_miss, refreshMiddleware, pool, MISS_BLOCK, freshAt)
    freshAt += PAIRS_PER_ROUND * MISS_BLOCK
  }
  const figures = pairFigures(pairs)
  const ratio = (of: Pair[]) => round3(median(of.map((p) => p.ratio)))
  const all = Object.values(pairs).flat()
  emit({
    bench: 'fast_path',
    pairs: all.length,
    session_jwt_chars: joinedLength(pool[0]!),
    session_chunks: 2,
    bare_getToken_us: round2(median(all.map((p) => p.bareUs))),
    ...figures,
    ...checks,
    provider_calls: providerCalls,
    target_hit_at_most_0_12: ratio(pairs.hit) <= 0.12,
    target_cycled_1000_at_most_0_5: ratio(pairs.cycled_1000) <= 0.5,
    target_cycled_3000_at_most_0_6: ratio(pairs.cycled_3000) <= 0.6,
  })
}

/**
 * Heap growth: 100 000 requests over 10 000 Cognito-sized sessions through one middleware, in a
 * process of its own. The cookie headers are made first and are part of the baseline; each request
 * is built, sent and dropped, as in an isolate serving many users. Sessions are taken in turn, so
 * the judged cache and the decode memo are full and churning the whole time: their bounds, not
 * the traffic, decide what stays.
 */
async function heapGrowth(): Promise<void> {
  const headers: string[] = []
  for (let i = 0; i < HEAP_SESSIONS && !overBudget(); i++) headers.push(await sessionCookieHeader(1_000_000 + i))
  const heapMiddleware = refreshMiddleware()
  const heapMb = () => {
    gc()
    gc()
    return process.memoryUsage().heapUsed / (1024 * 1024)
  }
  const before = heapMb()
  const checkpoints: Array<{ requests: number; growth_mb: number }> = []
  let sent = 0
  const heapStarted = performance.now()
  for (const checkpoint of [HEAP_REQUESTS / 4, HEAP_REQUESTS / 2, HEAP_REQUESTS]) {
    for (; sent < checkpoint && !overBudget(); sent++) {
      const response = await heapMiddleware(requestFor(headers[sent % headers.length]!, sent))
      if (response.status >= 500) throw new Error(`status ${response.status}`)
    }
    checkpoints.push({ requests: sent, growth_mb: round2(heapMb() - before) })
  }
  const final = checkpoints.at(-1)!
  emit({
    bench: 'heap_growth',
    requests: sent,
    sessions: headers.length,
    heap_before_mb: round2(before),
    growth_mb: final.growth_mb,
    checkpoints,
    seconds: round2((performance.now() - heapStarted) / 1000),
    provider_calls: providerCalls,
    // Bounded: the second half of the run adds (almost) nothing (see the cache constants in
    // lib/next/middleware.ts for what each cache may hold).
    target_bounded: final.growth_mb - checkpoints[1]!.growth_mb < 2 && final.growth_mb < 32,
  })
}
