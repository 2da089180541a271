/**
 * The three ways to refresh against an Amazon Cognito user pool (README "Amazon Cognito"). Not
 * wired into this app, which signs in with a generic OpenID provider: put the one that fits your
 * app client into `providers` in refresh-options.ts, keyed `cognito`.
 */
import { cognito, type RefreshProvider } from 'next-auth-edge-refresh'

export function cognitoProviders(
  clientId: string,
  clientSecret: string,
): Record<'hostedUi' | 'initiateAuth' | 'getTokens', RefreshProvider> {
  return {
    // Hosted UI sign-in (next-auth's CognitoProvider): the pool domain's /oauth2/token.
    hostedUi: cognito({ issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123', clientId, clientSecret }),
    // USER_PASSWORD_AUTH or SRP sign-in: InitiateAuth with REFRESH_TOKEN_AUTH and SECRET_HASH.
    initiateAuth: cognito({ flow: 'initiate-auth', userPoolId: 'eu-west-1_AbC123', clientId, clientSecret }),
    // Refresh-token rotation on the app client: GetTokensFromRefreshToken.
    getTokens: cognito({ flow: 'get-tokens', userPoolId: 'eu-west-1_AbC123', clientId, clientSecret }),
  }
}
