import { decodeJwt } from 'jose'

/**
 * The `exp` of an access token that is a JWT (Cognito's, Keycloak's, …), read without verifying it:
 * it is only used to schedule a refresh, never to trust the token.
 *
 * @returns Epoch seconds, or `undefined` for an opaque token or one without `exp`.
 */
export function accessTokenExpiry(accessToken: string): number | undefined {
  try {
    const exp = decodeJwt(accessToken).exp
    return typeof exp === 'number' ? exp : undefined
  } catch {
    return undefined
  }
}
