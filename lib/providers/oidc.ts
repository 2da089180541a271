import { refreshGrantProvider, type ClientAuthMethod } from './refresh-grant.js'
import type { RefreshProvider } from './provider.js'

/** Options of {@link oidc}. */
export interface OidcProviderOptions {
  /** Issuer identifier, e.g. `https://auth.example.com/realms/app`. Discovery is fetched once and cached. */
  issuer: string
  /** The OAuth client id, the same as next-auth's provider's. */
  clientId: string
  /** The client secret; omit it for a public client (PKCE only), which then authenticates with `none`. */
  clientSecret?: string
  /** Default: `client_secret_basic` with a secret, `none` (public client) without. */
  clientAuth?: ClientAuthMethod
  /**
   * Access-token lifetime assumed when the token response has no `expires_in` and the access token
   * is not a JWT with an `exp`, seconds. Default `DEFAULTS.expiresInSeconds` (3600).
   */
  defaultExpiresInSeconds?: number
}

/**
 * Any OpenID Connect provider: discovery from the issuer, then the refresh-token grant.
 *
 * @throws {RefreshConfigError} for a missing or malformed option.
 */
export function oidc(options: OidcProviderOptions): RefreshProvider {
  // Named fields rather than a spread: an app's stray `kind` (or any other setting) cannot slip through.
  return refreshGrantProvider({
    kind: 'oidc',
    issuer: options.issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    clientAuth: options.clientAuth,
    defaultExpiresInSeconds: options.defaultExpiresInSeconds,
  })
}
