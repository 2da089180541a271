'use client'

import { useActionState, useState } from 'react'
import { userinfoAction, type UserinfoActionResult } from '@/app/protected/actions'

/** A form whose submit runs the `userinfoAction` server action. */
export function ServerActionButton() {
  const [result, run, pending] = useActionState<UserinfoActionResult | null>(() => userinfoAction(), null)
  return (
    <div className="probe">
      <form action={run}>
        <button type="submit" className="button" data-testid="run-action" disabled={pending}>
          {pending ? 'Calling…' : 'Call userinfo from a server action'}
        </button>
      </form>
      <ProbeResult testId="action-result" result={result} />
    </div>
  )
}

/** Fetches the `/api/me` route handler, which calls userinfo with the session's token. */
export function ApiMeButton() {
  const [result, setResult] = useState<UserinfoActionResult | null>(null)
  const [pending, setPending] = useState(false)
  const call = async () => {
    setPending(true)
    try {
      const response = await fetch('/api/me', { cache: 'no-store' })
      const body = (await response.json()) as Partial<UserinfoActionResult> & { userinfoStatus?: number | null }
      setResult({
        status: body.userinfoStatus ?? null,
        sub: body.sub,
        fingerprint: body.fingerprint,
        error: response.ok ? body.error : (body.error ?? `HTTP ${response.status}`),
        at: Date.now(),
      })
    } catch (error) {
      setResult({ status: null, error: error instanceof Error ? error.message : String(error), at: Date.now() })
    } finally {
      setPending(false)
    }
  }
  return (
    <div className="probe">
      <button type="button" className="button" data-testid="call-api-me" disabled={pending} onClick={() => void call()}>
        {pending ? 'Calling…' : 'Call userinfo through /api/me'}
      </button>
      <ProbeResult testId="api-me-result" result={result} />
    </div>
  )
}

function ProbeResult({ testId, result }: { testId: string; result: UserinfoActionResult | null }) {
  if (!result)
    return (
      <p className="muted" data-testid={testId} data-state="idle">
        Not called yet.
      </p>
    )
  const ok = result.status === 200
  return (
    <p
      className={ok ? 'result ok' : 'result fail'}
      data-testid={testId}
      data-state="done"
      data-status={result.status ?? ''}
      data-sub={result.sub ?? ''}
      data-fingerprint={result.fingerprint ?? ''}
      data-at={result.at}
    >
      {ok ? `userinfo ${result.status}, sub ${result.sub ?? '?'}` : `failed: ${result.error ?? `HTTP ${result.status ?? '?'}`}`}
      {result.fingerprint ? <span className="muted"> · token {result.fingerprint}</span> : null}
    </p>
  )
}
