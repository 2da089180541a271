/**
 * next-auth v4 configuration (Node runtime: route handlers, server components, server actions).
 *
 * Built lazily, on first use, because `next build` imports route modules while no deployment
 * variables may be present; the first request then fails with the EnvError from `env.ts` that names
 * every missing variable. `next.config.ts` runs the same check when `next dev` / `next start` boot.
 */
import PostgresAdapter from '@auth/pg-adapter'
import type { AuthOptions, Session } from 'next-auth'
import type { Adapter } from 'next-auth/adapters'
import type { OAuthConfig } from 'next-auth/providers/oauth'
import CognitoProvider from 'next-auth/providers/cognito'
import GoogleProvider from 'next-auth/providers/google'
import { GOOGLE_AUTHORIZATION_PARAMS, refreshCallbacks, type RefreshedSessionFields } from 'next-auth-edge-refresh'
import {
  createAccountRefresher,
  databaseSessionCallbacks,
  databaseSignInEvents,
  type AccountRefresher,
} from 'next-auth-edge-refresh/database'
import { Pool } from 'pg'
import { postgresAccounts } from './db/accounts'
import { appEnv, SESSION_MAX_AGE_SECONDS, type AppEnv, type ProviderEnv } from './env'
import { refreshOptions, SIGN_IN_PATH } from './refresh-options'

export { SIGN_IN_PATH }

/** The session `useSession()` / `getServerSession()` return: next-auth's, plus the refresh fields (and, with DATABASE_URL, the user id). */
export type AppSession = Session & RefreshedSessionFields & { userId?: string }

interface OidcProfile {
  sub: string
  name?: string
  preferred_username?: string
  email?: string
  picture?: string
}

function nextAuthProvider(provider: ProviderEnv) {
  switch (provider.id) {
    case 'cognito':
      return CognitoProvider({ clientId: provider.clientId, clientSecret: provider.clientSecret, issuer: provider.issuer })
    case 'google':
      // Without access_type=offline (and prompt=consent) Google issues no refresh token at all.
      return GoogleProvider({
        clientId: provider.clientId,
        clientSecret: provider.clientSecret,
        authorization: { params: { ...GOOGLE_AUTHORIZATION_PARAMS } },
      })
    case 'oidc': {
      const oidc: OAuthConfig<OidcProfile> = {
        id: 'oidc',
        name: provider.demo ? 'Local demo provider' : new URL(provider.issuer).host,
        type: 'oauth',
        wellKnown: `${provider.issuer}/.well-known/openid-configuration`,
        // offline_access asks for a refresh token; most providers grant it only with prompt=consent.
        authorization: { params: { scope: provider.scope, prompt: 'consent' } },
        clientId: provider.clientId,
        clientSecret: provider.clientSecret,
        checks: ['pkce', 'state'],
        idToken: true,
        profile: (profile) => ({
          id: profile.sub,
          name: profile.name ?? profile.preferred_username ?? profile.sub,
          email: profile.email ?? null,
          image: profile.picture ?? null,
        }),
      }
      return oidc
    }
  }
}

/** Builds next-auth's options from a validated environment. */
export function buildAuthOptions(env: AppEnv): AuthOptions {
  if (env.database) return buildDatabaseAuthOptions(env)
  return {
    secret: env.secret,
    providers: env.providers.map(nextAuthProvider),
    session: { strategy: 'jwt', maxAge: SESSION_MAX_AGE_SECONDS },
    // The app's own page: it explains a login that ended (RefreshTokenError) before asking again.
    pages: { signIn: SIGN_IN_PATH },
    // The callbacks' default skew is 0: they only refresh a token that has already expired. The
    // proxy (proxy.ts) refreshes every page, RSC, server action and /api/auth/session request before it
    // reaches this code; refreshing earlier here would race it, and a server component cannot save
    // what it refreshed.
    callbacks: { ...refreshCallbacks(refreshOptions(env)) },
  }
}

/**
 * The database strategy (DATABASE_URL): sessions, users and accounts in PostgreSQL through
 * @auth/pg-adapter; the provider tokens in the `accounts` row, refreshed by the `session` callback
 * (and by route handlers through {@link getAccountRefresher}) with the same single flight and store
 * as the proxy's. The proxy (proxy.ts) passes these sessions on: they are refreshed here.
 */
function buildDatabaseAuthOptions(env: AppEnv): AuthOptions {
  const refresher = getAccountRefresher()
  return {
    secret: env.secret,
    providers: env.providers.map(nextAuthProvider),
    // @auth/pg-adapter is typed against @auth/core's Adapter; next-auth v4 calls the same methods
    // with the same shapes (its own types differ only in optional fields), hence the cast.
    adapter: PostgresAdapter(databasePool(env)) as unknown as Adapter,
    session: { strategy: 'database', maxAge: SESSION_MAX_AGE_SECONDS },
    pages: { signIn: SIGN_IN_PATH },
    callbacks: {
      // The app's own addition: the user id, which the server-side helpers need to read the account.
      ...databaseSessionCallbacks(refresher, { session: ({ session, user }) => ({ ...session, userId: user.id }) }),
    },
    events: { ...databaseSignInEvents(refresher) },
  }
}

let pool: Pool | undefined

/** One PostgreSQL pool per server process. */
function databasePool(env: AppEnv): Pool {
  pool ??= new Pool({ connectionString: env.database!.url, max: 10 })
  return pool
}

let refresher: AccountRefresher | undefined

/**
 * The account refresher of the database mode, one per server process: the `session` callback and
 * the route handlers share it. Throws when DATABASE_URL is not set.
 */
export function getAccountRefresher(): AccountRefresher {
  const env = appEnv()
  if (!env.database) throw new Error('getAccountRefresher: DATABASE_URL is not set (the app uses JWT sessions)')
  refresher ??= createAccountRefresher({
    ...refreshOptions(env),
    ...(env.skewSeconds !== undefined ? { skewSeconds: env.skewSeconds } : {}),
    accounts: postgresAccounts(databasePool(env)),
  })
  return refresher
}

let cached: AuthOptions | undefined

/** next-auth's options, built once per server process. Throws EnvError for a bad environment. */
export function getAuthOptions(): AuthOptions {
  cached ??= buildAuthOptions(appEnv())
  return cached
}
