/**
 * next-auth v4 with the database strategy and the Upstash Redis adapter (Node runtime). The
 * `session` callback refreshes what the middleware did not see (the same single flight and store),
 * and the `signIn` event saves a new sign-in's tokens, which next-auth itself writes only once.
 * Nothing here reads the environment at import (next-auth reads NEXTAUTH_SECRET itself).
 */
import { UpstashRedisAdapter } from '@next-auth/upstash-redis-adapter'
import type { AuthOptions } from 'next-auth'
import { createAccountRefresher, databaseSessionCallbacks, databaseSignInEvents } from 'next-auth-edge-refresh/database'
import { redis, refreshOptions } from './refresh-options'

/** One per server process: route handlers and server actions call `refresher.refresh(userId)` before they use the access token. */
export const refresher = createAccountRefresher(refreshOptions)

let options: AuthOptions | undefined

/** next-auth's options, made on the first call (the route handler's or getServerSession's). */
export function authOptions(): AuthOptions {
  options ??= {
    adapter: UpstashRedisAdapter(redis()),
    session: { strategy: 'database' },
    providers: [
      {
        id: 'oidc',
        name: 'OpenID Connect',
        type: 'oauth',
        wellKnown: `${process.env.OIDC_ISSUER}/.well-known/openid-configuration`,
        authorization: { params: { scope: 'openid profile email offline_access', prompt: 'consent' } },
        clientId: process.env.OIDC_CLIENT_ID,
        clientSecret: process.env.OIDC_CLIENT_SECRET,
        checks: ['pkce', 'state'],
        idToken: true,
        profile: (profile: { sub: string; name?: string; email?: string }) => ({
          id: profile.sub,
          name: profile.name ?? profile.sub,
          email: profile.email ?? null,
        }),
      },
    ],
    callbacks: { ...databaseSessionCallbacks(refresher) },
    events: { ...databaseSignInEvents(refresher) },
  }
  return options
}
