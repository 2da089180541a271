/**
 * Storms of requests at the demo's storm probe (`GET /api/storm/probe`, behind `proxy.ts`) on one
 * or more running `next start` servers, with one session cookie, timed per request. Node only.
 */

/** The demo's probe: the route does nothing, the proxy in front says what it did in `x-edge-refresh`. */
export const PROBE_PATH = '/api/storm/probe'
/** One probe may take this long before it counts as failed (ms): far above any store or provider budget. */
const PROBE_TIMEOUT_MS = 15_000

/** One probe's answer. */
export interface ProbeAnswer {
  /** The server it went to. */
  server: string
  status: number
  /** Time to the response headers, ms. */
  ms: number
  /** `x-edge-refresh`: what the proxy did (`refreshed/provider`, `refreshed/store`, `passed`, …). */
  refresh: string
  /** `x-edge-refresh-runtime`: where the proxy ran and what it was given (`nodejs; waitUntil=function`). */
  runtime: string
  /** The `Set-Cookie` values of this answer, by cookie name. */
  setCookies: Record<string, string>
}

/** Sends one probe with these cookies (`name=value; …`) and times it. */
export async function probe(server: string, cookieHeader: string): Promise<ProbeAnswer> {
  const started = performance.now()
  const response = await fetch(`${server}${PROBE_PATH}`, {
    headers: { cookie: cookieHeader, accept: 'application/json' },
    redirect: 'manual',
    signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
  })
  const ms = performance.now() - started
  await response.arrayBuffer()
  const setCookies: Record<string, string> = {}
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';', 1)[0] ?? ''
    const eq = pair.indexOf('=')
    if (eq > 0) setCookies[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return {
    server,
    status: response.status,
    ms,
    refresh: response.headers.get('x-edge-refresh') ?? '',
    runtime: response.headers.get('x-edge-refresh-runtime') ?? '',
    setCookies,
  }
}

/** Options of {@link probeStorm}. */
export interface StormOptions {
  /** How many requests in all. */
  count: number
  /** Milliseconds between two launches (0: all at once). Default 0. */
  spacingMs?: number
  /** Called (not awaited) when request `atIndex` has been launched: the fault to inject mid-storm. */
  fault?: { atIndex: number; run: () => Promise<void> | void }
}

/**
 * `count` probes with one cookie, spread round-robin over `servers`, launched at once or every
 * `spacingMs`. Resolves with every answer (in launch order) once all have come back and the fault,
 * if any, has finished; a probe that fails outright rejects the storm.
 */
export async function probeStorm(servers: readonly string[], cookieHeader: string, options: StormOptions): Promise<ProbeAnswer[]> {
  const answers: Array<Promise<ProbeAnswer>> = []
  let fault: Promise<void> | undefined
  for (let index = 0; index < options.count; index++) {
    answers.push(probe(servers[index % servers.length]!, cookieHeader))
    if (options.fault?.atIndex === index) fault = Promise.resolve(options.fault.run())
    if (options.spacingMs && index < options.count - 1) await new Promise((resolve) => setTimeout(resolve, options.spacingMs))
  }
  const [settled] = await Promise.all([Promise.allSettled(answers), fault])
  const failed = settled.find((result) => result.status === 'rejected')
  if (failed) throw new Error(`a probe failed: ${String(failed.reason)}`)
  return settled.map((result) => (result as PromiseFulfilledResult<ProbeAnswer>).value)
}

/** Latency figures of a storm, ms (nearest-rank percentiles). */
export function latencySummary(answers: readonly ProbeAnswer[]): { p50: number; p99: number; max: number } {
  const sorted = answers.map((answer) => answer.ms).sort((a, b) => a - b)
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
  const round = (value: number) => Math.round(value * 10) / 10
  return { p50: round(rank(50)), p99: round(rank(99)), max: round(sorted.at(-1) ?? Number.NaN) }
}
