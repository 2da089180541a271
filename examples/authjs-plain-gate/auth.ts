/**
 * Auth.js v5 with its defaults (basePath `/api/auth`, AUTH_SECRET read by Auth.js itself), one
 * OpenID client under two provider ids: `oidc` signs in, `oidc-signup` opens the provider's sign-up
 * screen. The configuration is a function (Auth.js's lazy form), so nothing reads the environment
 * at import: `next build` runs without it.
 */
import NextAuth, { type NextAuthConfig } from 'next-auth'
import type { OIDCConfig } from 'next-auth/providers'
import { refreshCallbacks, type RefreshedSessionFields } from 'next-auth-edge-refresh'
import { oidcClient, refreshOptions } from './refresh-options'

declare module 'next-auth' {
  /** `error` and `expiresAt` come from refreshCallbacks. */
  interface Session extends RefreshedSessionFields {
    accessToken?: string
  }
}

interface OidcProfile {
  sub: string
  name?: string
  email?: string
}

/**
 * Made once (module scope), with the options as a function: every request shares the same refresh
 * state, and the options are read on first use. Typed as Auth.js's callbacks, so the app's own
 * callbacks get Auth.js's parameter types.
 */
const callbacks: NextAuthConfig['callbacks'] = {
  ...refreshCallbacks(refreshOptions, {
    session({ session, token }) {
      // The session JWT's fields are `unknown` to Auth.js: narrow them, no cast.
      if (typeof token.access_token === 'string') session.accessToken = token.access_token
      return session
    },
  }),
}

function provider(id: string, name: string, params: Record<string, string>): OIDCConfig<OidcProfile> {
  const { issuer, clientId, clientSecret } = oidcClient()
  return {
    id,
    name,
    type: 'oidc',
    issuer,
    clientId,
    clientSecret,
    // offline_access asks for a refresh token; most providers grant it only with prompt=consent.
    authorization: { params: { scope: 'openid offline_access profile email', prompt: 'consent', ...params } },
    checks: ['pkce', 'state'],
  }
}

function config(): NextAuthConfig {
  return {
    trustHost: true,
    providers: [provider('oidc', 'Sign in', {}), provider('oidc-signup', 'Sign up', { screen_hint: 'signup' })],
    session: { strategy: 'jwt' },
    pages: { signIn: '/login' },
    callbacks,
  }
}

export const { handlers, auth, signIn } = NextAuth(config)
