/**
 * Auth.js v5: a generic OpenID Connect provider, tokens kept by refreshCallbacks. The configuration
 * is a function (Auth.js's lazy form) and has no `secret` (Auth.js reads AUTH_SECRET itself), so
 * nothing reads the environment at import: `next build` runs without it.
 */
import NextAuth, { type NextAuthConfig } from 'next-auth'
import { refreshCallbacks, type RefreshedSessionFields } from 'next-auth-edge-refresh'
import { oidcClient, refreshOptions } from './refresh-options'

declare module 'next-auth' {
  /** `error` and `expiresAt` come from refreshCallbacks; `accessToken` and the rest from the session callback below. */
  interface Session extends RefreshedSessionFields {
    idToken?: string
    signedInAt?: number
  }
}

/**
 * Made once (module scope), with the options as a function: every request shares the same refresh
 * state, and the options are read on first use. Typed as Auth.js's callbacks, so the app's own
 * callbacks get Auth.js's parameter types.
 */
const callbacks: NextAuthConfig['callbacks'] = {
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
  authorized({ auth, request }) {
    // The session endpoint answers signed-out visitors itself (with null).
    return !!auth || request.nextUrl.pathname === '/auth/session'
  },
}

function config(): NextAuthConfig {
  const { issuer, clientId, clientSecret } = oidcClient()
  return {
    basePath: '/auth',
    trustHost: true,
    providers: [
      {
        id: 'oidc',
        name: 'OpenID Connect',
        type: 'oidc',
        issuer,
        clientId,
        clientSecret,
        // offline_access asks for a refresh token; most providers grant it only with prompt=consent.
        authorization: { params: { scope: 'openid offline_access profile email', prompt: 'consent' } },
        checks: ['pkce', 'state'],
      },
    ],
    session: { strategy: 'jwt' },
    pages: { signIn: '/signin' },
    callbacks,
  }
}

export const { handlers, auth, signIn } = NextAuth(config)
