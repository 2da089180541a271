'use client'

import { useRouter } from 'next/navigation'
import { useState } from 'react'

/** What the middleware said about one probe (`x-edge-refresh`: reason, and where a result came from). */
type Outcome = 'refreshed at the provider' | 'picked up the result' | 'passed' | 'other'

interface Row {
  index: number
  /** ms since the storm started, when the answer arrived. */
  atMs: number
  outcome: Outcome
  detail: string
}

interface Counters {
  refreshRequests: number
  reuseDetected: number
}

type Phase =
  | { kind: 'idle' }
  | { kind: 'waiting'; until: number }
  | { kind: 'storming' }
  | { kind: 'done'; rows: Row[]; calls?: number; reuse?: number; note?: string }
  | { kind: 'failed'; message: string }

const SIZES = [5, 10, 20, 50] as const

function outcomeOf(header: string | null): Outcome {
  if (header === 'refreshed/provider') return 'refreshed at the provider'
  if (header === 'refreshed/isolate' || header === 'refreshed/store') return 'picked up the result'
  if (header === null || header === 'passed') return 'passed'
  return 'other'
}

/** Every request of the panel gives up after this long, so a stalled server cannot freeze it. */
const REQUEST_TIMEOUT_MS = 15_000

/** The provider's counters (absent unless it is the local one) and the expiry of the token the request carried. */
async function readStats(): Promise<{ counters?: Counters; expiresAt?: number }> {
  const response = await fetch('/api/storm/stats', { cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  const body = (await response.json().catch(() => ({}))) as Partial<Counters> & { expiresAt?: number }
  return { counters: response.ok ? (body as Counters) : undefined, expiresAt: body.expiresAt }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The single flight, shown: waits until the access token has expired, sends N requests at once with
 * the same (old) cookie, and shows how many refresh calls the provider itself counted, and what the
 * middleware did with each request.
 */
export function StormPanel({ expiresAt }: { expiresAt: number }) {
  const router = useRouter()
  const [size, setSize] = useState<number>(20)
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' })

  async function storm() {
    // Read before the wait: any request after expiry, this one included, would refresh the token
    // itself, and the storm would carry the new cookie. Inside the refresh window this request
    // refreshes it anyway, so wait for the expiry it reports, not the one the page rendered.
    const before = await readStats()
    const until = (before.expiresAt ?? expiresAt) * 1000 + 300
    setPhase({ kind: 'waiting', until })
    if (until > Date.now()) await sleep(until - Date.now())
    setPhase({ kind: 'storming' })
    const started = performance.now()
    const rows = await Promise.all(
      Array.from({ length: size }, async (_, index): Promise<Row> => {
        const response = await fetch(`/api/storm/probe?i=${index}`, { cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
        const header = response.headers.get('x-edge-refresh')
        return { index: index + 1, atMs: Math.round(performance.now() - started), outcome: outcomeOf(header), detail: header ?? 'passed' }
      }),
    )
    const after = before.counters ? (await readStats()).counters : undefined
    rows.sort((a, b) => a.atMs - b.atMs)
    setPhase(
      before.counters && after
        ? {
            kind: 'done',
            rows,
            calls: after.refreshRequests - before.counters.refreshRequests,
            reuse: after.reuseDetected - before.counters.reuseDetected,
          }
        : { kind: 'done', rows, note: 'The provider counts refresh calls only when it is the local one (npm run dev).' },
    )
    // The page shows the new token: the browser holds the cookie the storm brought back.
    router.refresh()
  }

  function run() {
    storm().catch((error: unknown) => setPhase({ kind: 'failed', message: error instanceof Error ? error.message : String(error) }))
  }

  const busy = phase.kind === 'waiting' || phase.kind === 'storming'
  return (
    <section className="storm" data-testid="storm-panel" data-phase={phase.kind}>
      <h2>Storm: N requests at once, just after expiry</h2>
      <div className="storm-controls">
        <label>
          N{' '}
          <select value={size} onChange={(event) => setSize(Number(event.target.value))} disabled={busy} data-testid="storm-size">
            {SIZES.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="button primary" onClick={run} disabled={busy} data-testid="storm-run">
          Run the storm
        </button>
        {phase.kind === 'waiting' ? <span className="muted">waiting for the access token to expire…</span> : null}
        {phase.kind === 'storming' ? <span className="muted">{size} requests in flight…</span> : null}
        {phase.kind === 'failed' ? <span className="muted">The storm failed: {phase.message}</span> : null}
      </div>
      {phase.kind === 'done' ? (
        <>
          <p className="storm-summary">
            {phase.calls === undefined ? (
              <span className="muted">{phase.note}</span>
            ) : (
              <>
                The provider saw{' '}
                <strong data-testid="storm-refresh-calls" data-value={phase.calls}>
                  {phase.calls}
                </strong>{' '}
                refresh call{phase.calls === 1 ? '' : 's'} for {phase.rows.length} requests, reuse detected{' '}
                <strong data-testid="storm-reuse" data-value={phase.reuse}>
                  {phase.reuse}
                </strong>
                .
              </>
            )}
          </p>
          <table className="storm-history" data-testid="storm-history">
            <thead>
              <tr>
                <th>answered at</th>
                <th>request</th>
                <th>what the middleware did</th>
              </tr>
            </thead>
            <tbody>
              {phase.rows.map((row) => (
                <tr
                  key={row.index}
                  data-outcome={row.outcome}
                  className={row.outcome === 'refreshed at the provider' ? 'leader' : undefined}
                >
                  <td>+{row.atMs} ms</td>
                  <td>#{row.index}</td>
                  <td>
                    {row.outcome} <span className="muted">({row.detail})</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  )
}
