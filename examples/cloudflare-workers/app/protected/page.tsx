import { auth } from '@/auth'
import { oidcClient } from '@/refresh-options'
import { fetchUserinfo } from './userinfo'

/**
 * Gated by `auth` in middleware.ts. The access token comes from the app's own session callback
 * (auth.ts); the middleware has refreshed it for this very request when it was due.
 */
export default async function ProtectedPage() {
  const session = await auth()
  const userinfo = session?.accessToken ? await fetchUserinfo(oidcClient().issuer, session.accessToken) : { status: 0, sub: '' }
  return (
    <main
      data-testid="protected"
      data-userinfo-status={userinfo.status}
      data-userinfo-sub={userinfo.sub}
      data-expires-at={session?.expiresAt ?? ''}
      data-error={session?.error ?? ''}
      data-has-id-token={session?.idToken ? 'true' : 'false'}
    >
      <h1>Protected page</h1>
      <p>
        Signed in as {session?.user?.name ?? 'unknown'}. The provider&apos;s userinfo endpoint answered HTTP {userinfo.status} to this
        session&apos;s access token, which expires at{' '}
        {session?.expiresAt ? new Date(session.expiresAt * 1000).toISOString() : 'an unknown time'}.
      </p>
    </main>
  )
}
