/**
 * The fast path against a bare `getToken` middleware, and the memory a long run leaves behind.
 * Run by `bench/storm.ts` in a child process (`node --expose-gc --import tsx`), so that its heap
 * and its CPU are not shared with the servers of the storm; it can also be run alone the same way.
 *
 * Prints JSON lines:
 * - `fast_path`: per-request time of the refresh middleware on a hit (a fresh cookie already judged
 *   in this isolate) and on a miss (more distinct fresh sessions than the judged cache holds, so
 *   every request decrypts), each divided by the time of a bare middleware
 *   (`await getToken({ req, secret }); return NextResponse.next()`) on the same requests, measured in
 *   the same rounds: the figure is the median of the per-round ratios, which a busy machine shifts
 *   far less than any absolute time.
 * - `heap_growth`: heap (after a full GC) after N requests over S distinct sessions, minus the heap
 *   before, at checkpoints: bounded caches make it level off instead of growing with N.
 *
 * Everything runs in this Node process on `next/server`'s own `NextRequest` / `NextResponse`, the
 * same for both middlewares. Every loop is bounded in count and in time.
 */
import { encode, getToken } from 'next-auth/jwt'
import { NextRequest, NextResponse } from 'next/server.js'
import { createRefreshMiddleware, type RefreshMiddleware, type SessionCodec } from 'next-auth-edge-refresh'

const SECRET = 'bench-secret-with-enough-entropy-0123456789'
const NAME = 'next-auth.session-token'
/** Sessions on the hit path: well inside the judged cache (2 000 entries). */
const HIT_SESSIONS = 100
/** Sessions on the miss path: more than the judged cache holds, cycled in order, so each request misses. */
const MISS_SESSIONS = 3_000
const ROUNDS = 12
/** Per round: this many alternating pairs of blocks (bare, then the middleware; the order flips every pair). */
const PAIRS_PER_ROUND = 6
const BARE_BLOCK = 200
const HIT_BLOCK = 2_000
const MISS_BLOCK = 200
const HEAP_REQUESTS = 100_000
const HEAP_SESSIONS = 10_000
/** Whole-module time budget: rounds stop early past it (the figures then say how many ran). */
const BUDGET_MS = 60_000

interface Pair {
  bareUs: number
  us: number
  ratio: number
  cpuRatio: number
}
const emit = (line: Record<string, unknown>) => console.log(JSON.stringify(line))
const round2 = (value: number) => Math.round(value * 100) / 100
const round3 = (value: number) => Math.round(value * 1000) / 1000
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const exposedGc = (globalThis as { gc?: () => void }).gc
if (!exposedGc) throw new Error('run with node --expose-gc (bench/storm.ts does)')
const gc: () => void = exposedGc
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

/**
 * A session as an OIDC sign-in writes it: opaque access token (like the local provider's), refresh
 * token, an id_token of a usual size, valid for an hour; other cookies beside it.
 */
async function sessionCookieHeader(i: number): Promise<string> {
  const jwt = await encode({
    secret: SECRET,
    token: {
      sub: `user-${i}`,
      name: `User ${i}`,
      email: `user-${i}@example.test`,
      access_token: `at-${i}-${'a'.repeat(40)}`,
      refresh_token: `rt-${i}-${'r'.repeat(40)}`,
      id_token: `eyJ${'i'.repeat(900)}.${i}`,
      provider: 'oidc',
      expires_at: Math.floor(Date.now() / 1000) + 3600,
    },
  })
  return `theme=dark; _ga=GA1.2.${1000 + i}.1700000000; ${NAME}=${jwt}; locale=en`
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

/** The fast path: hit and miss against the bare getToken middleware. */
async function ratios(): Promise<void> {
  const hitHeaders = await Promise.all(Array.from({ length: HIT_SESSIONS }, (_, i) => sessionCookieHeader(i)))
  const missHeaders = await Promise.all(Array.from({ length: MISS_SESSIONS }, (_, i) => sessionCookieHeader(HIT_SESSIONS + i)))

  // Structural check that the miss path misses: a counting codec sees one decode per request.
  let decodes = 0
  const nextAuthJwt = await import('next-auth/jwt')
  const counting = refreshMiddleware({
    encode: (params) => nextAuthJwt.encode(params),
    decode: async (params) => ((decodes += 1), (await nextAuthJwt.decode(params)) ?? null),
  })
  for (let i = 0; i < 2 * MISS_SESSIONS; i++) await counting(requestFor(missHeaders[i % MISS_SESSIONS]!))
  const missDecodesPerRequest = decodes / (2 * MISS_SESSIONS)
  decodes = 0
  for (let i = 0; i < 3 * HIT_SESSIONS; i++) await counting(requestFor(hitHeaders[i % HIT_SESSIONS]!))
  const hitDecodes = decodes - HIT_SESSIONS // the first round decodes each once

  const hitMiddleware = refreshMiddleware()
  const missMiddleware = refreshMiddleware()
  // Warm-up: JIT for all three, the hit middleware's judged cache filled.
  await perRequestUs(bareMiddleware, hitHeaders, 1_000)
  await perRequestUs(hitMiddleware, hitHeaders, 2_000)
  await perRequestUs(missMiddleware, missHeaders, MISS_SESSIONS)

  const pairs = { hit: [] as Pair[], miss: [] as Pair[] }
  /**
   * Alternating blocks, bare and measured on the same sessions (each block its own new requests),
   * in flipping order so that neither always runs right after the other; one ratio per pair.
   */
  const pairedRound = async (
    into: Pair[],
    measured: RefreshMiddleware,
    headers: readonly string[],
    bareBlock: number,
    measuredBlock: number,
    offset: number,
  ) => {
    for (let pair = 0; pair < PAIRS_PER_ROUND; pair++) {
      const at = offset + pair * measuredBlock
      let bare: { wall: number; cpu: number }
      let mine: { wall: number; cpu: number }
      if (pair % 2 === 0) {
        bare = await perRequestUs(bareMiddleware, headers, bareBlock, at)
        mine = await perRequestUs(measured, headers, measuredBlock, at)
      } else {
        mine = await perRequestUs(measured, headers, measuredBlock, at)
        bare = await perRequestUs(bareMiddleware, headers, bareBlock, at)
      }
      into.push({ bareUs: bare.wall, us: mine.wall, ratio: mine.wall / bare.wall, cpuRatio: mine.cpu / bare.cpu })
    }
  }

  let missOffset = 0
  for (let round = 0; round < ROUNDS && !overBudget(); round++) {
    await pairedRound(pairs.hit, hitMiddleware, hitHeaders, BARE_BLOCK, HIT_BLOCK, 0)
    // The miss middleware's requests continue the cycle, so each one is again the oldest session.
    await pairedRound(pairs.miss, missMiddleware, missHeaders, MISS_BLOCK, MISS_BLOCK, missOffset)
    missOffset += PAIRS_PER_ROUND * MISS_BLOCK
  }
  const quartiles = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    return [round3(sorted[Math.floor(sorted.length / 4)]!), round3(sorted[Math.floor((3 * sorted.length) / 4)]!)]
  }
  const hitRatio = round3(median(pairs.hit.map((p) => p.ratio)))
  const missRatio = round3(median(pairs.miss.map((p) => p.ratio)))
  emit({
    bench: 'fast_path',
    pairs: pairs.hit.length + pairs.miss.length,
    bare_getToken_us: round2(median([...pairs.hit, ...pairs.miss].map((p) => p.bareUs))),
    hit_us: round2(median(pairs.hit.map((p) => p.us))),
    miss_us: round2(median(pairs.miss.map((p) => p.us))),
    // Wall-time ratios (what the targets apply to): the median over the pairs, and the middle half.
    hit_ratio: hitRatio,
    miss_ratio: missRatio,
    hit_ratio_iqr: quartiles(pairs.hit.map((p) => p.ratio)),
    miss_ratio_iqr: quartiles(pairs.miss.map((p) => p.ratio)),
    // The same in CPU time of this process (all its threads): free of what a busy host's scheduler adds to wall time.
    hit_ratio_cpu: round3(median(pairs.hit.map((p) => p.cpuRatio))),
    miss_ratio_cpu: round3(median(pairs.miss.map((p) => p.cpuRatio))),
    hit_sessions: HIT_SESSIONS,
    miss_sessions: MISS_SESSIONS,
    miss_decodes_per_request: missDecodesPerRequest,
    hit_decodes_after_first: hitDecodes,
    provider_calls: providerCalls,
    target_hit_at_most_0_12: hitRatio <= 0.12,
    target_miss_at_most_1_0: missRatio <= 1.0,
  })
}

/**
 * Heap growth: 100 000 requests over 10 000 sessions through one middleware, in a process of its
 * own. The cookie headers are made first and are part of the baseline; each request is built, sent
 * and dropped, as in an isolate serving many users. Sessions are taken in turn, so the judged cache
 * (2 000) and the decode memo (500) are full and churning the whole time: their bounds, not the
 * traffic, decide what stays.
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
    // Bounded: the second half of the run adds (almost) nothing: judged cache at most 8 MiB of keys,
    // decode memo at most 500 entries / 4 MiB, encode memo 500 entries.
    target_bounded: final.growth_mb - checkpoints[1]!.growth_mb < 2 && final.growth_mb < 32,
  })
}
