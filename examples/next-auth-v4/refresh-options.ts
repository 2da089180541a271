/**
 * The environment, read on first use (a request), never at import: `next build` needs no secret
 * and no provider settings. What the refresh middleware (Edge runtime) and next-auth's callbacks
 * (Node runtime) share: the secret, the provider, the store. With the other root files (auth.ts,
 * middleware.ts), the only place that reads the environment; variables are named literally, as
 * the Edge runtime wants.
 */
// The fetch-only entry of @upstash/redis: Next 15's Edge check flags the default (Node) entry's
// `process.version`, though it is guarded. Next 16 does not; there the default entry is fine.
import { Redis } from '@upstash/redis/cloudflare'
import { memoryStore, oidc, upstashStore, type RefreshOptions, type RefreshStore } from 'next-auth-edge-refresh'

function required(name: string, value: string | undefined): string {
  if (!value) throw new Error(`${name} is not set (see README.md)`)
  return value
}

/** The confidential client at the OpenID provider. */
export interface OidcClient {
  issuer: string
  clientId: string
  clientSecret: string
}

let client: OidcClient | undefined

export function oidcClient(): OidcClient {
  client ??= {
    issuer: required('OIDC_ISSUER', process.env.OIDC_ISSUER),
    clientId: required('OIDC_CLIENT_ID', process.env.OIDC_CLIENT_ID),
    clientSecret: required('OIDC_CLIENT_SECRET', process.env.OIDC_CLIENT_SECRET),
  }
  return client
}

/** Upstash Redis when configured (shared by every isolate and server), else one isolate's memory. */
function store(): RefreshStore {
  const url = process.env.UPSTASH_REDIS_REST_URL
  const token = process.env.UPSTASH_REDIS_REST_TOKEN
  // The package bounds each store call itself (storeTimeoutMs, then a store outage); the client's
  // own retries (seconds of back-off) would only delay that.
  return url && token
    ? upstashStore(new Redis({ url, token, retry: false, enableTelemetry: false }), { prefix: 'example-v4:' })
    : memoryStore()
}

let options: RefreshOptions | undefined

/** Called by the package on its first request (middleware, callbacks), not before. */
export function refreshOptions(): RefreshOptions {
  options ??= {
    // next-auth's own secret (next-auth and withAuth read NEXTAUTH_SECRET themselves); the refresh
    // layer uses the same one.
    secret: required('NEXTAUTH_SECRET', process.env.NEXTAUTH_SECRET),
    // Keyed by the next-auth provider id (`oidc` in auth.ts).
    providers: { oidc: oidc(oidcClient()) },
    store: store(),
  }
  return options
}
