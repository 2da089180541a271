import { refreshGrantProvider } from './refresh-grant.js'
import type { RefreshProvider } from './provider.js'

/** Options of {@link google}. */
export interface GoogleProviderOptions {
  /** The OAuth client id (`AUTH_GOOGLE_ID`), the same as next-auth's Google provider's. */
  clientId: string
  /** The OAuth client secret (`AUTH_GOOGLE_SECRET`); Google's token endpoint requires it. */
  clientSecret: string
  /** Default `https://accounts.google.com`; another issuer only for tests against a local provider. */
  issuer?: string
}

/**
 * Google. Sign-in must ask for `access_type=offline` (and `prompt=consent`) to receive a refresh
 * token at all; Google does not rotate it, so the old one is kept after each refresh.
 */
export function google(options: GoogleProviderOptions): RefreshProvider {
  return refreshGrantProvider({
    kind: 'google',
    issuer: options.issuer ?? 'https://accounts.google.com',
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    // In the body, as Google's guide and the Auth.js guide send them: with HTTP Basic, the client
    // id's `-` and `.` would be form-encoded first, and Google documents the body form.
    clientAuth: 'client_secret_post',
  })
}

/** The `authorization.params` next-auth's Google provider needs for a refresh token. */
export const GOOGLE_AUTHORIZATION_PARAMS = { access_type: 'offline', prompt: 'consent', response_type: 'code' } as const
