/**
 * next-auth v4 options: a generic OpenID Connect provider, tokens kept by refreshCallbacks. Made on
 * first use (a request), not at import, and without `secret` (next-auth reads NEXTAUTH_SECRET
 * itself): `next build` runs without the environment.
 */
import type { AuthOptions } from 'next-auth'
import type { OAuthConfig } from 'next-auth/providers/oauth'
import { refreshCallbacks, type RefreshedSessionFields } from 'next-auth-edge-refresh'
import { oidcClient, refreshOptions } from './refresh-options'

declare module 'next-auth' {
  /** `error` and `expiresAt` come from refreshCallbacks; `accessToken` and the rest from the session callback below. */
  interface Session extends RefreshedSessionFields {
    idToken?: string
    signedInAt?: number
  }
}

interface OidcProfile {
  sub: string
  name?: string
  email?: string
}

function provider(): OAuthConfig<OidcProfile> {
  const { issuer, clientId, clientSecret } = oidcClient()
  return {
    id: 'oidc',
    name: 'OpenID Connect',
    type: 'oauth',
    wellKnown: `${issuer}/.well-known/openid-configuration`,
    // offline_access asks for a refresh token; most providers grant it only with prompt=consent.
    authorization: { params: { scope: 'openid offline_access profile email', prompt: 'consent' } },
    clientId,
    clientSecret,
    checks: ['pkce', 'state'],
    idToken: true,
    profile: (profile) => ({ id: profile.sub, name: profile.name ?? profile.sub, email: profile.email ?? null }),
  }
}

let options: AuthOptions | undefined

/** next-auth's options, made on the first call (the route handler's or getServerSession's). */
export function authOptions(): AuthOptions {
  options ??= {
    providers: [provider()],
    session: { strategy: 'jwt' },
    pages: { signIn: '/signin' },
    callbacks: {
      ...refreshCallbacks(refreshOptions, {
        // The app's own callbacks run after the refresh's: `token` already holds fresh tokens.
        jwt({ token, account }) {
          if (account) token.signed_in_at = Math.floor(Date.now() / 1000)
          return token
        },
        session({ session, token }) {
          // The session JWT's fields are `unknown` to next-auth: narrow them, no cast.
          if (typeof token.access_token === 'string') session.accessToken = token.access_token
          if (typeof token.id_token === 'string') session.idToken = token.id_token
          if (typeof token.signed_in_at === 'number') session.signedInAt = token.signed_in_at
          return session
        },
      }),
    },
  }
  return options
}
