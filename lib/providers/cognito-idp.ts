import { unverifiedClaims } from '../session/access-token-expiry.js'
import { describeError } from '../errors.js'
import type { RefreshOutcome } from '../types.js'
import type { ProviderContext, RefreshProvider, RefreshSession } from './provider.js'
import { expiryOf } from './refresh-grant.js'

/**
 * Refresh through Cognito's user-pool API (`cognito-idp`), not its OAuth token endpoint:
 * `InitiateAuth` with `REFRESH_TOKEN_AUTH`, or `GetTokensFromRefreshToken` for app clients with
 * refresh-token rotation. Both are unauthenticated operations of the AWS JSON 1.1 protocol (no
 * SigV4, no AWS credentials), so a `fetch` is all they need; no SDK is pulled into the edge bundle.
 * oauth4webapi does not apply: this is not OAuth.
 */
export interface CognitoIdpSettings {
  flow: 'initiate-auth' | 'get-tokens'
  /** `https://cognito-idp.{region}.amazonaws.com/` or an emulator's URL. */
  endpoint: URL
  clientId: string
  clientSecret?: string
  /** Lifetime assumed when the answer has no `ExpiresIn` and the access token no `exp`, seconds (`cognito()` passes `DEFAULTS.expiresInSeconds` unless told otherwise). */
  defaultExpiresInSeconds: number
}

/** A Cognito error whose message says the secret hash, not the refresh token, was refused. */
const SECRET_HASH_REFUSED = /secret hash/i
/** How long a refresh token rests after Cognito refused the app's own secret: a configuration error, not a login that ended. Seconds. */
const MISCONFIGURED_REST_SECONDS = 300

interface AuthenticationResult {
  AccessToken?: unknown
  IdToken?: unknown
  RefreshToken?: unknown
  ExpiresIn?: unknown
}

/** Builds a provider on `InitiateAuth` / `GetTokensFromRefreshToken` (see {@link CognitoIdpSettings}). */
export function cognitoIdpProvider(settings: CognitoIdpSettings): RefreshProvider {
  const operation = settings.flow === 'initiate-auth' ? 'InitiateAuth' : 'GetTokensFromRefreshToken'
  return {
    kind: 'cognito',
    async refresh(refreshToken, context, session): Promise<RefreshOutcome> {
      let body: Record<string, unknown>
      if (settings.flow === 'initiate-auth') {
        const parameters: Record<string, string> = { REFRESH_TOKEN: refreshToken }
        if (settings.clientSecret) {
          const username = cognitoUsername(session)
          if (!username)
            return {
              reason: 'transient',
              detail: 'cognito: no user name in the session (an id_token or a Cognito access token is needed for SECRET_HASH)',
            }
          parameters.SECRET_HASH = await secretHash(settings.clientSecret, username, settings.clientId)
        }
        body = { AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: settings.clientId, AuthParameters: parameters }
      } else {
        body = {
          RefreshToken: refreshToken,
          ClientId: settings.clientId,
          ...(settings.clientSecret ? { ClientSecret: settings.clientSecret } : {}),
        }
      }
      try {
        const response = await context.fetch(settings.endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AWSCognitoIdentityProviderService.${operation}` },
          body: JSON.stringify(body),
          signal: context.signal,
        })
        return await outcomeOf(response, refreshToken, context, settings.defaultExpiresInSeconds)
      } catch (error) {
        return { reason: 'transient', detail: `cognito ${operation}: ${describeError(error)}` }
      }
    },
  }
}

/** Maps Cognito's answer: tokens, the end of the login, or a transient failure. */
async function outcomeOf(
  response: Response,
  refreshToken: string,
  context: ProviderContext,
  defaultExpiresIn: number,
): Promise<RefreshOutcome> {
  let json: unknown
  try {
    json = await response.json()
  } catch {
    return { reason: 'transient', detail: `cognito: HTTP ${response.status} with a body that is not JSON` }
  }
  const record = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {}
  if (response.ok) {
    const result = (record.AuthenticationResult ?? {}) as AuthenticationResult
    if (typeof result.AccessToken !== 'string' || result.AccessToken.length === 0) {
      return { reason: 'transient', detail: `cognito: HTTP ${response.status} without an access token` }
    }
    return {
      reason: 'refreshed',
      tokens: {
        access_token: result.AccessToken,
        expires_at: expiryOf(
          result.AccessToken,
          typeof result.ExpiresIn === 'number' ? result.ExpiresIn : undefined,
          context.nowSeconds(),
          defaultExpiresIn,
        ),
        // REFRESH_TOKEN_AUTH returns none (keep the old one); GetTokensFromRefreshToken with rotation returns the new one.
        refresh_token: typeof result.RefreshToken === 'string' && result.RefreshToken ? result.RefreshToken : refreshToken,
        ...(typeof result.IdToken === 'string' && result.IdToken ? { id_token: result.IdToken } : {}),
      },
    }
  }
  // The error type is in `__type` (sometimes prefixed with a namespace and `#`) or the header.
  const type = String(record.__type ?? response.headers.get('x-amzn-errortype') ?? '')
    .split('#')
    .pop()!
    .split(':')[0]!
  const message = typeof record.message === 'string' ? record.message : ''
  if (type === 'NotAuthorizedException' && SECRET_HASH_REFUSED.test(message)) {
    // The app's client secret is wrong (or the user name it was hashed with): the login itself is
    // fine. Rest long rather than end it or retry every few seconds.
    return {
      reason: 'transient',
      detail: 'cognito refused SECRET_HASH: check clientSecret (NotAuthorizedException)',
      retryAfterSeconds: MISCONFIGURED_REST_SECONDS,
    }
  }
  if (type === 'NotAuthorizedException' || type === 'UserNotFoundException') return { reason: 'invalid_grant' }
  // Only the type is logged: the message is the service's free text.
  const known = /^[A-Za-z]+Exception$/.test(type) ? type : 'unrecognised error'
  return { reason: 'transient', detail: `cognito: ${known} (HTTP ${response.status})` }
}

/**
 * The user name `SECRET_HASH` is computed over: the ID token's `cognito:username`, else the
 * access token's `username` (Cognito's access tokens carry it), else either token's `sub`. Read
 * without verification: Cognito checks the hash itself.
 */
export function cognitoUsername(session: RefreshSession | undefined): string | undefined {
  if (!session) return undefined
  const claims = [session.idToken, session.accessToken].map(unverifiedClaims)
  const [id, access] = claims
  return stringClaim(id?.['cognito:username']) ?? stringClaim(access?.username) ?? stringClaim(id?.sub) ?? stringClaim(access?.sub)
}

/** `Base64(HMAC-SHA256(key = client secret, message = user name + client id))`, as Cognito defines it. */
export async function secretHash(clientSecret: string, username: string, clientId: string): Promise<string> {
  const encoder = new TextEncoder()
  const key = await crypto.subtle.importKey('raw', encoder.encode(clientSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(username + clientId)))
  // Standard Base64 with padding, not base64url.
  return btoa(String.fromCharCode(...mac))
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined
}
