/**
 * What the edge middleware and next-auth's `session` callback share for database sessions: the
 * secret, the provider, and one Upstash Redis database that holds both the adapter's sessions and
 * accounts and the refresh's single-flight keys. The only place that reads the environment, and only
 * on first use (a request), never at import: `next build` needs none of it.
 */
import { Redis } from '@upstash/redis'
import { oidc, upstashStore } from 'next-auth-edge-refresh'
import { upstashAdapterAccounts, type DatabaseRefreshMiddlewareOptions } from 'next-auth-edge-refresh/database'

function required(name: string, value: string | undefined): string {
  if (!value) throw new Error(`${name} is not set`)
  return value
}

let client: Redis | undefined

/** The adapter's database (`UpstashRedisAdapter(redis())` in auth.ts): the edge reads sessions and accounts there. */
export function redis(): Redis {
  client ??= new Redis({
    url: required('UPSTASH_REDIS_REST_URL', process.env.UPSTASH_REDIS_REST_URL),
    token: required('UPSTASH_REDIS_REST_TOKEN', process.env.UPSTASH_REDIS_REST_TOKEN),
    // The package bounds each store call itself (storeTimeoutMs); the client's retries would only delay that.
    retry: false,
    enableTelemetry: false,
  })
  return client
}

let options: DatabaseRefreshMiddlewareOptions | undefined

/** Called by the package on first use (middleware, refresher), not before. */
export function refreshOptions(): DatabaseRefreshMiddlewareOptions {
  options ??= {
    secret: required('NEXTAUTH_SECRET', process.env.NEXTAUTH_SECRET),
    // Keyed by the next-auth provider id (`account.provider`).
    providers: {
      oidc: oidc({
        issuer: required('OIDC_ISSUER', process.env.OIDC_ISSUER),
        clientId: required('OIDC_CLIENT_ID', process.env.OIDC_CLIENT_ID),
        clientSecret: required('OIDC_CLIENT_SECRET', process.env.OIDC_CLIENT_SECRET),
      }),
    },
    store: upstashStore(redis()),
    // The same key prefixes as the adapter (its defaults here).
    accounts: upstashAdapterAccounts(redis()),
  }
  return options
}
