'use client'

import { useEffect, useState } from 'react'

/** Seconds until the access token expires, live. The server rendered the same moment, so no layout shift. */
export function Countdown({ expiresAt }: { expiresAt: number }) {
  const [now, setNow] = useState(() => Math.floor(Date.now() / 1000))
  useEffect(() => {
    setNow(Math.floor(Date.now() / 1000))
    const timer = setInterval(() => setNow(Math.floor(Date.now() / 1000)), 1000)
    return () => clearInterval(timer)
  }, [expiresAt])
  const remaining = expiresAt - now
  return (
    <span
      className={remaining > 0 ? 'countdown' : 'countdown expired'}
      data-testid="expires-countdown"
      data-remaining={remaining}
      suppressHydrationWarning
    >
      {remaining > 0 ? `${remaining} s left` : `expired ${-remaining} s ago: the next request refreshes it`}
    </span>
  )
}

/** An epoch-seconds instant as local wall-clock time. */
export function Clock({ at, testId }: { at: number; testId?: string }) {
  return (
    <time dateTime={new Date(at * 1000).toISOString()} data-testid={testId} data-value={at} suppressHydrationWarning>
      {new Date(at * 1000).toLocaleTimeString()}
    </time>
  )
}
