import type { FetchLike, RefreshOutcome } from '../types.js'

/** What the middleware hands a provider for one refresh. */
export interface ProviderContext {
  /** The `fetch` to use (injectable for tests). */
  fetch: FetchLike
  /** Current time, epoch seconds. */
  nowSeconds: () => number
  /**
   * Aborted when the refresh layer can no longer vouch that nobody else presents this refresh token
   * (the call reached its hard limit, or the store lock could not be kept). Pass it to every request
   * that carries the refresh token. A call aborted after it was sent has an unknown outcome: the
   * refresh layer marks the token as in doubt instead of presenting it again.
   */
  signal: AbortSignal
  /** Current time, epoch milliseconds: the clock to use for anything time-based (`Retry-After` dates). */
  nowMs: () => number
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
  /**
   * Trades `refreshToken` for new tokens. Must honour `context.signal` (abort the request) and
   * report every failure as an outcome: `invalid_grant` only when the provider said the token is
   * dead, `transient` for anything that may work later.
   */
  refresh(refreshToken: string, context: ProviderContext, session?: RefreshSession): Promise<RefreshOutcome>
}
