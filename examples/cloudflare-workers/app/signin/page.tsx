import { signIn } from '@/auth'

/**
 * Auth.js's `authorized` gate and the refresh middleware both send a signed-out navigation here,
 * with `callbackUrl`; Auth.js's redirect callback keeps the final redirect on this origin.
 */
export default async function SignInPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string }> }) {
  const { callbackUrl = '/protected' } = await searchParams
  async function signInWithOidc() {
    'use server'
    await signIn('oidc', { redirectTo: callbackUrl })
  }
  return (
    <main data-testid="signin-page" data-callback-url={callbackUrl}>
      <h1>Sign in</h1>
      <form action={signInWithOidc}>
        <button type="submit" data-testid="sign-in">
          Sign in with OpenID Connect
        </button>
      </form>
    </main>
  )
}
