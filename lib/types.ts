/**
 * Shared types and constants. One home for them so each step of the flow
 * (session cookie → decision → single flight → provider → cookie writer)
 * speaks the same vocabulary.
 */

/** The value written to `token.error` / `session.error` when the login is over (Auth.js guide name). */
export const REFRESH_TOKEN_ERROR = 'RefreshTokenError' as const

/**
 * The provider tokens kept in the session JWT, with the Auth.js guide's field names.
 * `expires_at` is in epoch seconds, never milliseconds.
 */
export interface SessionTokens {
  /** The provider's access token. */
  access_token: string
  /** Access-token expiry, epoch seconds. */
  expires_at: number
  /** The provider's refresh token; absent when the provider issued none. */
  refresh_token?: string
  /** The OpenID Connect ID token, when the provider issues one. */
  id_token?: string
  /** next-auth provider id the user signed in with (`account.provider`). */
  provider?: string
  /** `"RefreshTokenError"` once the login has ended. */
  error?: typeof REFRESH_TOKEN_ERROR
  /** When the access token was issued, epoch seconds, when known (last refresh, or the token's own `iat`). */
  issued_at?: number
}

/** The tokens a successful refresh produced. `refresh_token` is always set: the old one is kept when the provider returns none. */
export interface RefreshedTokens {
  /** The new access token. */
  access_token: string
  /** Epoch seconds. */
  expires_at: number
  /** The rotated refresh token, or the presented one when the provider returned none. */
  refresh_token: string
  /** The new ID token, when the provider returned one. */
  id_token?: string
}

/**
 * What one refresh attempt at the provider came to. Hot-path code switches on `reason`;
 * nothing here is thrown.
 * - `refreshed`: new tokens.
 * - `invalid_grant`: the provider says the refresh token is dead; the login is over.
 * - `transient`: anything else (network, timeout, 5xx, 429, a body that is not a token response);
 *   `retryAfterSeconds` when the provider said how long to wait (`Retry-After`); `notSent` when
 *   the refresh token never left (discovery failed, or the call was aborted before the token
 *   request): the provider cannot have used it, so even an aborted call leaves nothing in doubt.
 */
export type RefreshOutcome =
  | { reason: 'refreshed'; tokens: RefreshedTokens }
  | { reason: 'invalid_grant' }
  | { reason: 'transient'; detail: string; retryAfterSeconds?: number; notSent?: true }

/** Where a request's cookies come from: `NextRequest.cookies` and `cookies()` from `next/headers` both fit. */
export interface CookieSource {
  getAll(): Array<{ name: string; value: string }>
}

/** A minimal logger; `console` fits. Messages never contain a token. */
export interface Logger {
  /** Something the app should look at: a failed refresh, a store outage, a misconfiguration. */
  warn(message: string, ...details: unknown[]): void
  /** An unexpected failure; the request went on untouched. */
  error(message: string, ...details: unknown[]): void
  /** Details of each decision, when the logger has this method. */
  debug?(message: string, ...details: unknown[]): void
}

/** The `fetch` signature the library calls; injectable for tests. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** A value or a promise of it: what next-auth accepts from a callback. */
export type Awaitable<T> = T | PromiseLike<T>

/** The subset of next-auth's `account` the sign-in branch reads. */
export interface SignInAccount {
  /** next-auth provider id (`account.provider`). */
  provider: string
  /** The provider's access token. */
  access_token?: string
  /** The provider's refresh token. */
  refresh_token?: string
  /** The OpenID Connect ID token. */
  id_token?: string
  /** Epoch seconds. */
  expires_at?: number
  /** Seconds from now. */
  expires_in?: number
}

/** The fields `refreshCallbacks` and `databaseSessionCallbacks` add to the client-visible session. */
export interface RefreshedSessionFields {
  /** `"RefreshTokenError"` once the login has ended; the client should call `signIn()`. */
  error?: typeof REFRESH_TOKEN_ERROR
  /** Access-token expiry, epoch seconds. */
  expiresAt?: number
  /** Only with `exposeAccessToken: true`. */
  accessToken?: string
}
