import { SignInButton } from './sign-in-button'

/** withAuth and the refresh middleware both send a signed-out navigation here, with `callbackUrl`. */
export default async function SignInPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string }> }) {
  const { callbackUrl } = await searchParams
  // Same-origin paths only.
  const target = callbackUrl?.startsWith('/') && !callbackUrl.startsWith('//') ? callbackUrl : '/protected'
  return (
    <main data-testid="signin-page" data-callback-url={target}>
      <h1>Sign in</h1>
      <SignInButton callbackUrl={target} />
    </main>
  )
}
