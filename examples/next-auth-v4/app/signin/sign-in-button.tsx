'use client'

import { signIn } from 'next-auth/react'

export function SignInButton({ callbackUrl }: { callbackUrl: string }) {
  return (
    <button type="button" data-testid="sign-in" onClick={() => void signIn('oidc', { callbackUrl })}>
      Sign in with OpenID Connect
    </button>
  )
}
