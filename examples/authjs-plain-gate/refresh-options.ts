/**
 * The environment, read on first use (a request), never at import: `next build` needs no secret
 * and no provider settings. What the refresh middleware (Edge runtime) and Auth.js's callbacks
 * (Node runtime) share: the secret, the provider, the store. Variables are named literally, as the
 * Edge runtime wants.
 */
import { memoryStore, oidc, type RefreshOptions } from 'next-auth-edge-refresh'

function required(name: string, value: string | undefined): string {
  if (!value) throw new Error(`${name} is not set (see README.md)`)
  return value
}

/** The one OpenID client behind both provider ids (`oidc` and `oidc-signup` in auth.ts). */
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

let options: RefreshOptions | undefined

/** Called by the package on its first request (middleware, callbacks), not before. */
export function refreshOptions(): RefreshOptions {
  if (!options) {
    // One refresh provider for one client: both next-auth provider ids sign in to the same pool,
    // so a session from either refreshes the same way.
    const provider = oidc(oidcClient())
    options = {
      // Auth.js's own secret (it reads AUTH_SECRET itself); the refresh layer uses the same one.
      secret: required('AUTH_SECRET', process.env.AUTH_SECRET),
      providers: { oidc: provider, 'oidc-signup': provider },
      store: memoryStore(),
    }
  }
  return options
}
