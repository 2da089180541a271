'use client'

import { signIn, useSession } from 'next-auth/react'
import { useEffect, useState } from 'react'

/** The error value `refreshCallbacks` / the middleware put into the session when the login ended. */
const REFRESH_TOKEN_ERROR = 'RefreshTokenError'

/** Seconds the error stays on screen before the new sign-in starts. */
const SIGN_IN_DELAY_SECONDS = 3

/**
 * Reacts to `session.error === "RefreshTokenError"` (the provider no longer accepts this login):
 * shows the error first, then starts a new sign-in with the same provider (the Auth.js guide's
 * advice). The error comes from the server render (`serverError`, fresh on every navigation) or
 * from useSession() (refetched when the tab regains focus).
 */
export function SessionErrorWatcher({
  serverError,
  provider,
  callbackUrl,
}: {
  serverError?: string | undefined
  provider?: string | undefined
  callbackUrl: string
}) {
  const { data } = useSession()
  const clientError = (data as { error?: string } | null)?.error
  const error = serverError === REFRESH_TOKEN_ERROR || clientError === REFRESH_TOKEN_ERROR ? REFRESH_TOKEN_ERROR : undefined
  const [left, setLeft] = useState(SIGN_IN_DELAY_SECONDS)

  useEffect(() => {
    if (!error) return
    setLeft(SIGN_IN_DELAY_SECONDS)
    const started = Date.now()
    const timer = setInterval(() => {
      const remaining = SIGN_IN_DELAY_SECONDS - Math.floor((Date.now() - started) / 1000)
      setLeft(Math.max(remaining, 0))
      if (remaining <= 0) {
        clearInterval(timer)
        void signIn(provider, { callbackUrl })
      }
    }, 250)
    return () => clearInterval(timer)
  }, [error, provider, callbackUrl])

  if (!error) return null
  return (
    <div className="alert" role="alert" data-testid="session-error" data-error={error}>
      <strong>Your sign-in has ended ({error}).</strong> The provider no longer accepts this login, so the access token can no longer be
      refreshed. Signing you in again in {left} s…{' '}
      <button type="button" className="button primary" onClick={() => void signIn(provider, { callbackUrl })}>
        Sign in again now
      </button>
    </div>
  )
}
