import { RefreshConfigError } from '../errors.js'
import { cognitoIdpProvider } from './cognito-idp.js'
import { absoluteUrl, expiresInSetting, refreshGrantProvider } from './refresh-grant.js'
import type { RefreshProvider } from './provider.js'

/** Options shared by every {@link cognito} flow. */
export interface CognitoCommonOptions {
  /** The app client's id. */
  clientId: string
  /** The app client's secret, when it has one. */
  clientSecret?: string
  /**
   * Access-token lifetime assumed when Cognito's answer has no `ExpiresIn` / `expires_in` and the
   * access token no `exp`, seconds. Default `DEFAULTS.expiresInSeconds` (3600, Cognito's own default lifetime).
   */
  defaultExpiresInSeconds?: number
}

/**
 * The OAuth token endpoint of the user pool's domain (`grant_type=refresh_token`), for apps that
 * sign in through the hosted UI (next-auth's `CognitoProvider`).
 */
export interface CognitoTokenEndpointOptions extends CognitoCommonOptions {
  /** Default. */
  flow?: 'token-endpoint'
  /** `https://cognito-idp.{region}.amazonaws.com/{userPoolId}` (next-auth's `issuer`). */
  issuer: string
  /**
   * The token endpoint, when discovery does not give one (an emulator, a proxy). Default: from
   * discovery (`{issuer}/.well-known/openid-configuration`).
   */
  tokenEndpoint?: string
  /** The hosted-UI domain (`auth.example.com` or `name.auth.{region}.amazoncognito.com`): the token endpoint is `https://{domain}/oauth2/token`. */
  domain?: string
}

/**
 * The user-pool API: `InitiateAuth` with `REFRESH_TOKEN_AUTH` (`initiate-auth`, the flow of apps
 * that sign users in with `USER_PASSWORD_AUTH` or SRP, without a hosted-UI domain), or
 * `GetTokensFromRefreshToken` (`get-tokens`, for app clients with refresh-token rotation on: each
 * refresh returns a new refresh token and the old one stops working).
 */
export interface CognitoIdpOptions extends CognitoCommonOptions {
  /** `initiate-auth` (`InitiateAuth` with `REFRESH_TOKEN_AUTH`) or `get-tokens` (`GetTokensFromRefreshToken`, rotation on). */
  flow: 'initiate-auth' | 'get-tokens'
  /** The pool's region, e.g. `eu-west-1`; the API is `https://cognito-idp.{region}.amazonaws.com/`. Default: the prefix of `userPoolId`. */
  region?: string
  /** The pool id, e.g. `eu-west-1_AbCdEf123`: its prefix is the region. */
  userPoolId?: string
  /** The API's URL instead of the region's (an emulator such as cognito-local, a VPC endpoint). */
  endpoint?: string
}

/** Options of {@link cognito}. */
export type CognitoProviderOptions = CognitoTokenEndpointOptions | CognitoIdpOptions

/**
 * Amazon Cognito user pools, in the three ways an app refreshes against them (see
 * {@link CognitoProviderOptions}). With a client secret:
 * - `token-endpoint` authenticates with HTTP Basic and also sends `client_id` in the body, as
 *   Cognito's `/oauth2/token` documents it;
 * - `initiate-auth` sends `SECRET_HASH` = Base64(HMAC-SHA256(secret, user name + client id)),
 *   with the user name read from the session's ID token (`cognito:username`) or access token;
 * - `get-tokens` sends the secret as `ClientSecret`.
 * Cognito returns no new refresh token unless rotation is on; the old one is kept then.
 *
 * @throws {RefreshConfigError} for a missing or malformed option.
 */
export function cognito(options: CognitoProviderOptions): RefreshProvider {
  if (!options.clientId) throw new RefreshConfigError('CONFIG_PROVIDER_INVALID', 'cognito: clientId is required')
  const defaultExpiresInSeconds = expiresInSetting('cognito', options.defaultExpiresInSeconds)
  switch (options.flow) {
    case undefined:
    case 'token-endpoint':
      return refreshGrantProvider({
        kind: 'cognito',
        issuer: options.issuer,
        clientId: options.clientId,
        ...(options.clientSecret
          ? { clientSecret: options.clientSecret, clientAuth: 'client_secret_basic' as const }
          : { clientAuth: 'none' as const }),
        ...(options.tokenEndpoint
          ? { tokenEndpoint: options.tokenEndpoint }
          : options.domain
            ? { tokenEndpoint: `https://${options.domain.replace(/^https?:\/\//, '').replace(/\/+$/, '')}/oauth2/token` }
            : {}),
        clientIdInBody: true,
        defaultExpiresInSeconds,
      })
    case 'initiate-auth':
    case 'get-tokens':
      return cognitoIdpProvider({
        flow: options.flow,
        endpoint: idpEndpoint(options),
        clientId: options.clientId,
        ...(options.clientSecret ? { clientSecret: options.clientSecret } : {}),
        defaultExpiresInSeconds,
      })
    default:
      throw new RefreshConfigError(
        'CONFIG_PROVIDER_INVALID',
        `cognito: flow "${String((options as { flow: unknown }).flow)}" is not one of "token-endpoint", "initiate-auth", "get-tokens"`,
      )
  }
}

function idpEndpoint(options: CognitoIdpOptions): URL {
  if (options.endpoint) return absoluteUrl('cognito', 'endpoint', options.endpoint)
  const region = options.region ?? options.userPoolId?.split('_')[0]
  if (!region || !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new RefreshConfigError(
      'CONFIG_PROVIDER_INVALID',
      `cognito: flow "${options.flow}" needs region, userPoolId (its prefix is the region) or endpoint`,
    )
  }
  return new URL(`https://cognito-idp.${region}.amazonaws.com/`)
}
