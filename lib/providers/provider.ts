import type { FetchLike, RefreshOutcome } from '../types'

/** What the middleware hands a provider for one refresh. */
export interface ProviderContext {
  /** The `fetch` to use (injectable for tests). */
  fetch: FetchLike
  /** Current time, epoch seconds. */
  nowSeconds: () => number
  /** Abort the token request after this long, ms. */
  timeoutMs: number
}

/**
 * What the session holds besides the refresh token, for providers that need it: Cognito's
 * `InitiateAuth` computes `SECRET_HASH` over the user name, which it reads from these tokens.
 */
export interface RefreshSession {
  /** The session's current access token. */
  accessToken: string
  /** The session's ID token, when it keeps one. */
  idToken?: string
}

/**
 * A provider that can trade a refresh token for new tokens. `refresh` never throws: every failure
 * is an outcome with a `reason` (see {@link RefreshOutcome}).
 */
export interface RefreshProvider {
  /** For logs: `oidc`, `cognito`, `google`. */
  readonly kind: string
  refresh(refreshToken: string, context: ProviderContext, session?: RefreshSession): Promise<RefreshOutcome>
}
