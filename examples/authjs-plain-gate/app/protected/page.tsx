import { auth } from '@/auth'

/** Gated by the app's own function in middleware.ts; the refresh ran before it. */
export default async function ProtectedPage() {
  const session = await auth()
  return (
    <main
      data-testid="protected"
      data-expires-at={session?.expiresAt ?? ''}
      data-error={session?.error ?? ''}
      data-has-access-token={session?.accessToken ? 'true' : 'false'}
    >
      <h1>Protected page</h1>
      <p>
        Signed in as {session?.user?.name ?? 'unknown'}; the access token expires at{' '}
        {session?.expiresAt ? new Date(session.expiresAt * 1000).toISOString() : 'an unknown time'}.
      </p>
    </main>
  )
}
