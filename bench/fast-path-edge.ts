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
import type { FastPathEdge } from '../testkit/fast-path-edge-entry'
import { bundleForEdge, edgeVM as newEdgeVM } from '../testkit/isolates'
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

/** Requests per workload in the Web Crypto count. */
const COUNTED_REQUESTS = 50
/** Whole-module time budget: rounds stop early past it (the figures then say how many ran). */
const BUDGET_MS = 60_000

const gc = requireGc()
const started = performance.now()
const overBudget = () => performance.now() - started > BUDGET_MS

/** A new EdgeVM with the entry evaluated, as testkit/isolates.ts makes its isolates. */
function edgeVM(code: string): FastPathEdge {
  const api = newEdgeVM(code, {}).context.__fastPathEdge as FastPathEdge
  api.configure(SECRET)
  return api
}

const code = await bundleForEdge('./fast-path-edge-entry.ts')
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

const figures = pairFigures(pairs)
const ratio = (of: Pair[]) => round3(median(of.map((p) => p.ratio)))
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
