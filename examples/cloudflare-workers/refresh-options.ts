/**
 * The environment, read on first use (a request), never at import: `opennextjs-cloudflare build`
 * (which runs `next build`) needs no secret and no provider settings. On Workers, OpenNext fills
 * `process.env` from the Worker's variables and secrets (wrangler.jsonc `vars`, `wrangler secret
 * put`, locally `.dev.vars`) before the app's code runs. What the refresh middleware and Auth.js's
 * callbacks share: the secret, the provider, the store.
 */
// The fetch-only entry of @upstash/redis, made for Workers.
import { Redis } from '@upstash/redis/cloudflare'
import { oidc, upstashStore, type RefreshOptions, type RefreshStore } from 'next-auth-edge-refresh'

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

/**
 * Upstash Redis, required: Cloudflare runs a Worker in many isolates at once, in many places, and
 * starts and drops them at will, so a memory store would let each isolate refresh the same token
 * on its own (and the provider revoke the login on the second use of a rotated refresh token).
 */
function store(): RefreshStore {
  const url = required('UPSTASH_REDIS_REST_URL', process.env.UPSTASH_REDIS_REST_URL)
  const token = required('UPSTASH_REDIS_REST_TOKEN', process.env.UPSTASH_REDIS_REST_TOKEN)
  // The package bounds each store call itself (storeTimeoutMs, then a store outage); the client's
  // own retries (seconds of back-off) would only delay that.
  return upstashStore(new Redis({ url, token, retry: false, enableTelemetry: false }), { prefix: 'example-workers:' })
}

let options: RefreshOptions | undefined

/** Called by the package on its first request (middleware, callbacks), not before. */
export function refreshOptions(): RefreshOptions {
  options ??= {
    // Auth.js's own secret (Auth.js reads AUTH_SECRET itself); the refresh layer uses the same one.
    secret: required('AUTH_SECRET', process.env.AUTH_SECRET),
    // Keyed by the next-auth provider id (`oidc` in auth.ts).
    providers: { oidc: oidc(oidcClient()) },
    store: store(),
  }
  return options
}
