/**
 * What both fast-path benchmarks (bench/fast-path.ts in Node, bench/fast-path-edge.ts in EdgeVM)
 * measure with and report in: Cognito-sized next-auth v4 sessions, and the pair statistics.
 */
import { encode } from 'next-auth/jwt'

export const SECRET = 'bench-secret-with-enough-entropy-0123456789'
export const NAME = 'next-auth.session-token'
/** next-auth v4 splits a session JWT above this many characters into `name.0`, `name.1`, … */
const V4_CHUNK_SIZE = 3933

/** Sessions on the hit path: well inside the judged cache. */
export const HIT_SESSIONS = 100
/** The two busy-isolate workloads of issue 15: this many distinct sessions cycled through one isolate. */
export const CYCLED = [1_000, 3_000] as const
/** Rounds of every workload; each round runs this many alternating pairs of blocks (bare, then the middleware; the order flips every pair). */
export const ROUNDS = 8
export const PAIRS_PER_ROUND = 4
/** Requests per block. */
export const BARE_BLOCK = 200
export const HIT_BLOCK = 2_000
export const MISS_BLOCK = 200

/** `global.gc`, which both benchmarks need between rounds; they run under `node --expose-gc` (bench/storm.ts does). */
export function requireGc(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (!exposed) throw new Error('run with node --expose-gc (bench/storm.ts does)')
  return exposed
}

/** One pair of blocks: the bare middleware's and ours, µs per request, and their ratios (wall and CPU). */
export interface Pair {
  bareUs: number
  us: number
  ratio: number
  cpuRatio: number
}
export const emit = (line: Record<string, unknown>) => console.log(JSON.stringify(line))
export const round2 = (value: number) => Math.round(value * 100) / 100
export const round3 = (value: number) => Math.round(value * 1000) / 1000
export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** `n` random base64url characters: token bodies that compress as little as real ones. */
const randomChars = (n: number) => {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil((n * 3) / 4)))
  return Buffer.from(bytes).toString('base64url').slice(0, n)
}

/**
 * A session as a Cognito sign-in writes it (token sizes as Cognito issues them: access token about
 * 1.1 KB, id token 1.2 KB, refresh token, a JWE, 1.8 KB), valid for an hour, chunked as next-auth
 * chunks it; other cookies beside it. Returns the whole `cookie` header.
 */
export async function sessionCookieHeader(i: number): Promise<string> {
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
export const joinedLength = (header: string) =>
  header
    .split('; ')
    .filter((cookie) => cookie.startsWith(`${NAME}.`))
    .reduce((sum, cookie) => sum + cookie.length - cookie.indexOf('=') - 1, 0)

/**
 * The figures of each workload's pairs, as both fast-path lines print them: µs per request, the
 * wall-time ratio (median over the pairs, what the targets apply to) with its middle half, and the
 * ratio in this process's CPU time (all its threads), which a busy host's scheduler shifts less.
 */
export function pairFigures(pairs: Record<string, Pair[]>): Record<string, number | number[]> {
  const quartiles = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    return [round3(sorted[Math.floor(sorted.length / 4)]!), round3(sorted[Math.floor((3 * sorted.length) / 4)]!)]
  }
  return Object.fromEntries(
    Object.entries(pairs).flatMap(([name, of]) => [
      [`${name}_us`, round2(median(of.map((p) => p.us)))],
      [`${name}_ratio`, round3(median(of.map((p) => p.ratio)))],
      [`${name}_ratio_iqr`, quartiles(of.map((p) => p.ratio))],
      [`${name}_ratio_cpu`, round3(median(of.map((p) => p.cpuRatio)))],
    ]),
  )
}
