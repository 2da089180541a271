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
  const value = unverifiedClaims(accessToken)?.[claim]
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/**
 * The claims of a token that is a JWT, read without verifying it: for scheduling and naming only,
 * never to trust the token.
 *
 * @returns The claims, or `undefined` for an opaque or malformed token.
 */
export function unverifiedClaims(token: string | undefined): Record<string, unknown> | undefined {
  if (!token || token.split('.').length !== 3) return undefined
  try {
    return decodeJwt(token)
  } catch {
    return undefined
  }
}
