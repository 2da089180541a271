import { refreshGrantProvider, type ClientAuthMethod } from './refresh-grant'
import type { RefreshProvider } from './provider'

/** Options of {@link oidc}. */
export interface OidcProviderOptions {
  /** Issuer identifier, e.g. `https://auth.example.com/realms/app`. Discovery is fetched once and cached. */
  issuer: string
  clientId: string
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
