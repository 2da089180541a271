import { RefreshConfigError } from '../errors'
import { refreshGrantProvider } from './refresh-grant'
import type { RefreshProvider } from './provider'

/** Options of {@link cognito}. */
export interface CognitoProviderOptions {
  /** `https://cognito-idp.{region}.amazonaws.com/{userPoolId}` (the seeds' `COGNITO_ISSUER`). */
  issuer: string
  clientId: string
  /** The app client's secret, when it has one: sent with HTTP Basic, as Cognito's token endpoint requires. */
  clientSecret?: string
  /**
   * `token-endpoint` (default): discovery from the issuer, then `grant_type=refresh_token` at the
   * user-pool domain's `/oauth2/token` (the second seed's flow). `initiate-auth` (the first seed's
   * `REFRESH_TOKEN_AUTH`) is not offered yet: it needs the user name for `SECRET_HASH` and SigV4-free
   * calls to the IdP API, and the token endpoint covers every app client with a domain.
   */
  flow?: 'token-endpoint'
}

/**
 * Amazon Cognito user pools. Cognito returns no new refresh token unless rotation is on for the app
 * client; the old one is kept then.
 */
export function cognito(options: CognitoProviderOptions): RefreshProvider {
  if (options.flow !== undefined && options.flow !== 'token-endpoint') {
    throw new RefreshConfigError('CONFIG_PROVIDER_INVALID', `cognito: flow "${String(options.flow)}" is not supported; use "token-endpoint"`)
  }
  return refreshGrantProvider({
    kind: 'cognito',
    issuer: options.issuer,
    clientId: options.clientId,
    ...(options.clientSecret ? { clientSecret: options.clientSecret, clientAuth: 'client_secret_basic' as const } : { clientAuth: 'none' as const }),
  })
}
