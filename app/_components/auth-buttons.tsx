'use client'

import { signIn, signOut } from 'next-auth/react'

/** Signs in with the one configured provider, or opens next-auth's provider list when there are several. */
export function SignInButton({
  providerId,
  callbackUrl = '/protected',
  label = 'Sign in',
}: {
  providerId?: string | undefined
  callbackUrl?: string
  label?: string
}) {
  return (
    <button
      type="button"
      className="button primary"
      data-testid="sign-in"
      data-provider={providerId ?? ''}
      onClick={() => void signIn(providerId, { callbackUrl })}
    >
      {label}
    </button>
  )
}

export function SignOutButton() {
  return (
    <button type="button" className="button" data-testid="sign-out" onClick={() => void signOut({ callbackUrl: '/' })}>
      Sign out
    </button>
  )
}
