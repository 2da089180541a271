import { readTokenSession } from '@/app/_server/session'
import { appEnv } from '@/env'
import { SignInButton } from '@/app/_components/auth-buttons'

export const metadata = { title: 'Sign in · edge refresh demo' }

/**
 * Only a same-origin path may be a callback (next-auth would refuse another origin anyway); the
 * sign-in page itself is no destination. Anything else falls back to the protected page.
 */
function safeCallback(value: string | string[] | undefined): string {
  const path = Array.isArray(value) ? value[0] : value
  const sameOrigin = path !== undefined && path.startsWith('/') && !path.startsWith('//') && !path.startsWith('/\\')
  return sameOrigin && !/^\/signin(?:[/?#]|$)/.test(path) ? path : '/protected'
}

/**
 * The sign-in page (next-auth `pages.signIn`, and the middleware's `signInPath`). When the
 * middleware sent the user here because the provider ended the login, the session cookie carries
 * `error: "RefreshTokenError"`: say so before asking to sign in again.
 */
export default async function SignInPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams
  const callbackUrl = safeCallback(params.callbackUrl)
  const session = await readTokenSession()
  const providers = appEnv().providers

  return (
    <section className="panel" data-testid="signin-page" data-callback-url={callbackUrl}>
      <h1>Sign in</h1>
      {session?.error ? (
        <div className="alert" role="alert" data-testid="signin-error" data-error={session.error}>
          <strong>Your sign-in has ended ({session.error}).</strong> The provider no longer accepts this login (it was revoked, or it
          expired), so the access token could not be refreshed. Sign in again to continue.
        </div>
      ) : null}
      {typeof params.error === 'string' ? (
        <div className="alert" role="alert" data-testid="signin-error" data-error={params.error}>
          Sign-in failed ({params.error}). Try again.
        </div>
      ) : null}
      <p>
        You will come back to <code>{callbackUrl}</code>.
      </p>
      <div className="row">
        {providers.map((provider) => (
          <SignInButton
            key={provider.id}
            providerId={provider.id}
            callbackUrl={callbackUrl}
            label={`Sign in with ${providerLabel(provider.id, provider.id === 'oidc' && provider.demo)}`}
          />
        ))}
      </div>
    </section>
  )
}

function providerLabel(id: string, demo: boolean): string {
  if (demo) return 'the local demo provider'
  return id === 'cognito' ? 'Amazon Cognito' : id === 'google' ? 'Google' : 'OpenID Connect'
}
