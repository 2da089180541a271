/**
 * The fast path against a bare `getToken` middleware inside the edge runtime (`@edge-runtime/vm`'s
 * `EdgeVM`, where `EdgeRuntime` is defined, as in Next.js middleware). There, and only there, the
 * session codec derives next-auth v4's key once per isolate (lib/session/session-codec.ts);
 * bench/fast-path.ts measures the same four workloads in plain Node, where v4's own codec is used.
 * Run by `bench/storm.ts` in a child process (`node --expose-gc --import tsx`), or alone:
 * `npm run build:lib && node --expose-gc --import tsx bench/fast-path-edge.ts`.
 *
 * testkit/fast-path-edge-entry.ts is bundled with esbuild for the edge (as testkit/isolates.ts
 * bundles its entry, and as Next.js builds middleware): the built package's `createRefreshMiddleware`
 * and next-auth v4's `getToken` with `next/server`, all on their edge builds (Web Crypto). Both
 * middlewares run in one EdgeVM and are timed inside it (`performance.now`).
 *
 * Sessions are those of bench/fast-path.ts: Cognito-sized, a session JWT of about 5.9 KB in two
 * chunks. Prints one JSON line, `fast_path_edge`, with the field names of `fast_path`:
 * - `hit`, `cycled_1000`, `cycled_3000`, `all_miss`: as in bench/fast-path.ts, each the median of
 *   the per-pair ratios of alternating blocks (bare, then the middleware; the order flips every
 *   pair), with the middle half and the ratio in this process's CPU time;
 * - `*_subtle_calls_per_request`: Web Crypto calls per request by method, counted in a second VM
 *   of its own (so the wrappers cost the timed VM nothing): whether the fast path was taken shows
 *   there (the bare `getToken` derives the key with HKDF on every request, the fast path never).
 * Every loop is bounded in count and in time.
 */
import { fileURLToPath } from 'node:url'
import { EdgeVM } from '@edge-runtime/vm'
import { build } from 'esbuild'
import { encode } from 'next-auth/jwt'
import type { FastPathEdge } from '../testkit/fast-path-edge-entry'

const SECRET = 'bench-secret-with-enough-entropy-0123456789'
const NAME = 'next-auth.session-token'
/** next-auth v4 splits a session JWT above this many characters into `name.0`, `name.1`, … */
const V4_CHUNK_SIZE = 3933
/** Sessions on the hit path: well inside the judged cache. */
const HIT_SESSIONS = 100
/** The two busy-isolate workloads of issue 15. */
const CYCLED = [1_000, 3_000] as const
const ROUNDS = 8
/** Per round and workload: this many alternating pairs of blocks (bare, then the middleware; the order flips every pair). */
const PAIRS_PER_ROUND = 4
const BARE_BLOCK = 200
const HIT_BLOCK = 2_000
const MISS_BLOCK = 200
/** Requests per workload in the Web Crypto count. */
const COUNTED_REQUESTS = 50
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

/** `n` random base64url characters: token bodies that compress as little as real ones. */
const randomChars = (n: number) => {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil((n * 3) / 4)))
  return Buffer.from(bytes).toString('base64url').slice(0, n)
}

/** A Cognito-sized session, valid for an hour, chunked as next-auth chunks it (as in bench/fast-path.ts). */
async function sessionCookieHeader(i: number): Promise<string> {
  const jwt = await encode({
    secret: SECRET,
    token: {
      name: `User ${i}`,
      email: `user-${i}@example.test`,
      sub: `3f6c2a1e-${String(i).padStart(4, '0')}-4c8e-9a7b-${randomChars(12)}`,
      access_token: `eyJ${randomChars(1_070)}`,
      id_token: `eyJ${randomChars(1_160)}`,
      refresh_token: `eyJ${randomChars(1_780)}`,
      provider: 'cognito',
      expires_at: Math.floor(Date.now() / 1000) + 3600,
    },
  })
  const chunks: string[] = []
  for (let at = 0; at < jwt.length; at += V4_CHUNK_SIZE) chunks.push(jwt.slice(at, at + V4_CHUNK_SIZE))
  if (chunks.length !== 2) throw new Error(`expected a Cognito-sized session in 2 chunks, got ${jwt.length} characters`)
  return `theme=dark; _ga=GA1.2.${1000 + i}.1700000000; ${chunks.map((chunk, n) => `${NAME}.${n}=${chunk}`).join('; ')}; locale=en`
}
/** Characters of the joined session JWT in a cookie header made by {@link sessionCookieHeader}. */
const joinedLength = (header: string) =>
  header
    .split('; ')
    .filter((cookie) => cookie.startsWith(`${NAME}.`))
    .reduce((sum, cookie) => sum + cookie.length - cookie.indexOf('=') - 1, 0)

/** The entry bundled as testkit/isolates.ts bundles its own: edge conditions, as Next.js builds middleware. */
async function edgeBundle(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('../testkit/fast-path-edge-entry.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    conditions: ['edge-light', 'worker', 'browser'],
    write: false,
    logLevel: 'error',
    // next/server's bundled ua-parser reads __dirname at load; the Next.js edge sandbox defines it too.
    define: { 'process.env.NODE_ENV': '"production"', __dirname: '"/"' },
  })
  return result.outputFiles[0]!.text
}
/** A new EdgeVM with `code` evaluated; Next.js gives edge code a `process.env`, nothing else from Node. */
function edgeVM(code: string): FastPathEdge {
  const vm = new EdgeVM({ extend: (context) => Object.assign(context, { process: { env: { NODE_ENV: 'production' } } }) })
  vm.evaluate(code)
  const api = vm.context.__fastPathEdge as FastPathEdge
  api.configure(SECRET)
  return api
}

const code = await edgeBundle()
const hitHeaders = await Promise.all(Array.from({ length: HIT_SESSIONS }, (_, i) => sessionCookieHeader(i)))
const poolSize = Math.max(...CYCLED)
const pool = await Promise.all(Array.from({ length: poolSize }, (_, i) => sessionCookieHeader(HIT_SESSIONS + i)))

/**
 * Web Crypto calls per request, by method (only those made), in a VM of its own: all-miss (a new
 * middleware, the isolate's key already derived), then the same sessions again (hits), then the
 * bare `getToken` on them.
 */
async function subtleCallsPerRequest() {
  const api = edgeVM(code)
  api.countSubtleCalls()
  api.addSessions('warm', hitHeaders.slice(0, 1))
  api.addSessions('counted', pool.slice(0, COUNTED_REQUESTS))
  // The isolate's one key derivation and self-check, and next/server's first request, untimed and uncounted.
  await runBlock(api, api.newMiddleware(), 'warm', 1, 0)
  await runBlock(api, 'bare', 'warm', 1, 0)
  // A new middleware for the counted sessions; one request of another session first, so that its
  // own start-up (the sealing keys of lib/refresh/sealing.ts) is not counted as per-request work.
  const middleware = api.newMiddleware()
  await runBlock(api, middleware, 'warm', 1, 0)
  const counted = async (handler: 'bare' | number) => {
    const before = api.subtleCalls()
    await runBlock(api, handler, 'counted', COUNTED_REQUESTS, 0)
    const after = api.subtleCalls()
    return Object.fromEntries(
      Object.entries(after)
        .map(([method, count]) => [method, round2((count - before[method as keyof typeof before]) / COUNTED_REQUESTS)] as const)
        .filter(([, perRequest]) => perRequest > 0),
    )
  }
  const allMiss = await counted(middleware)
  const hit = await counted(middleware)
  const bare = await counted('bare')
  return { allMiss, hit, bare, providerCalls: api.providerCalls() }
}

/**
 * Mean µs per request of `count` sequential requests through `handler`, timed inside the VM, and
 * this process's CPU µs per request. The requests are built first, untimed, and each is new.
 */
async function runBlock(api: FastPathEdge, handler: 'bare' | number, sessions: string, count: number, offset: number) {
  api.prepare(sessions, count, offset)
  // Their construction's garbage is collected now, not charged to the requests timed next.
  gc()
  const cpu0 = process.cpuUsage()
  const wall = await api.run(handler)
  const cpu = process.cpuUsage(cpu0)
  return { wall, cpu: (cpu.user + cpu.system) / count }
}

const checks = await subtleCallsPerRequest()

const api = edgeVM(code)
api.addSessions('hit', hitHeaders)
api.addSessions('pool', pool)
const cycledNames = CYCLED.map((sessions) => {
  api.addSessions(`cycled_${sessions}`, pool.slice(0, sessions))
  return `cycled_${sessions}`
})
const hitMiddleware = api.newMiddleware()
const cycledMiddlewares = CYCLED.map(() => api.newMiddleware())
// Warm-up: JIT for all of them, the isolate's derived key, and each busy isolate's one pass over
// its sessions (the hit middleware's judged cache filled).
await runBlock(api, 'bare', 'hit', 1_000, 0)
await runBlock(api, hitMiddleware, 'hit', 2_000, 0)
for (const [n, middleware] of cycledMiddlewares.entries()) await runBlock(api, middleware, cycledNames[n]!, CYCLED[n]!, 0)
const warmMiss = api.newMiddleware()
await runBlock(api, warmMiss, 'pool', MISS_BLOCK, 0)
api.dropMiddleware(warmMiss)

const pairs = { hit: [] as Pair[], cycled_1000: [] as Pair[], cycled_3000: [] as Pair[], all_miss: [] as Pair[] }
/** Alternating blocks, bare and measured on the same sessions, in flipping order; one ratio per pair. */
const pairedRound = async (
  into: Pair[],
  measured: () => number,
  sessions: string,
  measuredBlock: number,
  offset: number,
  fresh: boolean,
) => {
  for (let pair = 0; pair < PAIRS_PER_ROUND; pair++) {
    const at = offset + pair * measuredBlock
    const middleware = measured()
    let bare: { wall: number; cpu: number }
    let mine: { wall: number; cpu: number }
    if (pair % 2 === 0) {
      bare = await runBlock(api, 'bare', sessions, BARE_BLOCK, at)
      mine = await runBlock(api, middleware, sessions, measuredBlock, at)
    } else {
      mine = await runBlock(api, middleware, sessions, measuredBlock, at)
      bare = await runBlock(api, 'bare', sessions, BARE_BLOCK, at)
    }
    if (fresh) api.dropMiddleware(middleware)
    into.push({ bareUs: bare.wall, us: mine.wall, ratio: mine.wall / bare.wall, cpuRatio: mine.cpu / bare.cpu })
  }
}

// Each busy isolate's requests continue its cycle, so every session comes back after all the others.
const cycleAt: number[] = [...CYCLED]
let freshAt = 0
let rounds = 0
for (; rounds < ROUNDS && !overBudget(); rounds++) {
  await pairedRound(pairs.hit, () => hitMiddleware, 'hit', HIT_BLOCK, 0, false)
  for (const [n, middleware] of cycledMiddlewares.entries()) {
    await pairedRound(n === 0 ? pairs.cycled_1000 : pairs.cycled_3000, () => middleware, cycledNames[n]!, MISS_BLOCK, cycleAt[n]!, false)
    cycleAt[n]! += PAIRS_PER_ROUND * MISS_BLOCK
  }
  // A new middleware per block: none of the block's sessions was judged by it.
  await pairedRound(pairs.all_miss, () => api.newMiddleware(), 'pool', MISS_BLOCK, freshAt, true)
  freshAt += PAIRS_PER_ROUND * MISS_BLOCK
}

const quartiles = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return [round3(sorted[Math.floor(sorted.length / 4)]!), round3(sorted[Math.floor((3 * sorted.length) / 4)]!)]
}
const ratio = (of: Pair[]) => round3(median(of.map((p) => p.ratio)))
const figures = Object.fromEntries(
  Object.entries(pairs).flatMap(([name, of]) => [
    [`${name}_us`, round2(median(of.map((p) => p.us)))],
    // Wall-time ratio, timed in the VM (what the targets apply to): the median over the pairs, and the middle half.
    [`${name}_ratio`, ratio(of)],
    [`${name}_ratio_iqr`, quartiles(of.map((p) => p.ratio))],
    // The same in CPU time of this process (all its threads, Web Crypto's pool included).
    [`${name}_ratio_cpu`, round3(median(of.map((p) => p.cpuRatio)))],
  ]),
)
const all = Object.values(pairs).flat()
emit({
  bench: 'fast_path_edge',
  runtime: `EdgeVM (EdgeRuntime=${api.edgeRuntime()})`,
  rounds,
  pairs: all.length,
  session_jwt_chars: joinedLength(pool[0]!),
  session_chunks: 2,
  bare_getToken_us: round2(median(all.map((p) => p.bareUs))),
  ...figures,
  all_miss_subtle_calls_per_request: checks.allMiss,
  hit_subtle_calls_per_request: checks.hit,
  bare_subtle_calls_per_request: checks.bare,
  // next-auth v4's decode derives its key (HKDF: deriveBits) on every call; the fast path never does.
  v4_fast_path_taken: !checks.allMiss.deriveBits && (checks.bare.deriveBits ?? 0) >= 1,
  provider_calls: checks.providerCalls + api.providerCalls(),
  seconds: round2((performance.now() - started) / 1000),
  target_hit_at_most_0_12: ratio(pairs.hit) <= 0.12,
  target_cycled_1000_at_most_0_5: ratio(pairs.cycled_1000) <= 0.5,
  target_cycled_3000_at_most_0_6: ratio(pairs.cycled_3000) <= 0.6,
})
