import Link from 'next/link'
import { getServerSession } from 'next-auth'
import { getAuthOptions, type AppSession } from '@/auth'
import { appEnv } from '@/env'
import { SignInButton } from './_components/auth-buttons'

export default async function HomePage() {
  const session = (await getServerSession(getAuthOptions())) as AppSession | null
  const env = appEnv()
  const onlyProvider = env.providers.length === 1 ? env.providers[0]?.id : undefined

  return (
    <section className="panel" data-testid="home" data-signed-in={session ? 'true' : 'false'}>
      <h1>Keep the access token fresh, at the edge</h1>
      <p>
        Sign in, then open the protected pages. Each one calls the provider&apos;s userinfo endpoint with the access token from the session.
        The token lives {env.demo ? 'about 30 seconds with the local demo provider' : 'as long as your provider says'}; the middleware
        refreshes it on the way in, once per refresh token, however many tabs and requests race for it.
      </p>
      {env.demo ? (
        <p className="note" data-testid="demo-note">
          Demo mode: no provider is configured, so the app uses the local OpenID provider that <code>npm run dev</code> starts on{' '}
          <code>127.0.0.1:9400</code>. Any login name works.
        </p>
      ) : null}
      {session ? (
        <div className="row">
          <p data-testid="signed-in-as">
            Signed in as <strong>{session.user?.name ?? session.user?.email ?? 'unknown'}</strong>
          </p>
          <Link href="/protected" className="button primary" data-testid="go-protected">
            Open the protected page
          </Link>
        </div>
      ) : (
        <div className="row">
          <p>You are signed out.</p>
          <SignInButton providerId={onlyProvider} />
        </div>
      )}
    </section>
  )
}
