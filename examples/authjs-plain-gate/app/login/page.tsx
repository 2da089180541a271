import { signIn } from '@/auth'

/**
 * The app's sign-in page. Its gate (middleware.ts) and the refresh both send a signed-out
 * navigation here with `from`, the path to return to.
 */
export default async function LoginPage({ searchParams }: { searchParams: Promise<{ from?: string }> }) {
  const { from } = await searchParams
  // Same-origin paths only.
  const target = from?.startsWith('/') && !from.startsWith('//') ? from : '/protected'
  async function signInWithOidc() {
    'use server'
    await signIn('oidc', { redirectTo: target })
  }
  async function signUpWithOidc() {
    'use server'
    await signIn('oidc-signup', { redirectTo: target })
  }
  return (
    <main data-testid="login-page" data-from={target}>
      <h1>Sign in</h1>
      <form action={signInWithOidc}>
        <button type="submit" data-testid="sign-in">
          Sign in
        </button>
      </form>
      <form action={signUpWithOidc}>
        <button type="submit" data-testid="sign-up">
          Create an account
        </button>
      </form>
    </main>
  )
}
