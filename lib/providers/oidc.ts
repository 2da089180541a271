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
}

/** Any OpenID Connect provider: discovery from the issuer, then the refresh-token grant. */
export function oidc(options: OidcProviderOptions): RefreshProvider {
  return refreshGrantProvider({ kind: 'oidc', ...options })
}
