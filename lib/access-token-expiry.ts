import { decodeJwt } from 'jose/jwt/decode'

/**
 * The `exp` of an access token that is a JWT (Cognito's, Keycloak's, …), read without verifying it:
 * it is only used to schedule a refresh, never to trust the token.
 *
 * @returns Epoch seconds, or `undefined` for an opaque token or one without `exp`.
 */
export function accessTokenExpiry(accessToken: string): number | undefined {
  return numericClaim(accessToken, 'exp')
}

/**
 * The `iat` of an access token that is a JWT, read without verifying it (only used to learn the
 * token's lifetime).
 *
 * @returns Epoch seconds, or `undefined` for an opaque token or one without `iat`.
 */
export function accessTokenIssuedAt(accessToken: string): number | undefined {
  return numericClaim(accessToken, 'iat')
}

function numericClaim(accessToken: string, claim: 'exp' | 'iat'): number | undefined {
  if (accessToken.split('.').length !== 3) return undefined
  try {
    const value = decodeJwt(accessToken)[claim]
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined
  } catch {
    return undefined
  }
}
