import { accessTokenExpiry, accessTokenIssuedAt } from './access-token-expiry.js'
import { DEFAULTS } from '../defaults.js'
import { REFRESH_TOKEN_ERROR, type RefreshedTokens, type SessionTokens, type SignInAccount } from '../types.js'

/** A decoded session JWT payload, as next-auth's `jwt` callback returns it. */
export type SessionPayload = Record<string, unknown>

/**
 * No provider issues access tokens that live this long, so an expiry further out is a bug in the
 * recipe that wrote it (a published Cognito recipe stored `Date.now() + expires_at * 1000`, about 56 years
 * ahead). Such a session is treated as if its expiry were unknown. Seconds.
 */
const IMPLAUSIBLE_LIFETIME_SECONDS = 366 * 24 * 60 * 60

/** Above this, a timestamp is in milliseconds (1e11 s is the year 5138; 1e11 ms is 1973). */
const MILLISECONDS_THRESHOLD = 1e11

/**
 * Whether an epoch timestamp is in milliseconds rather than seconds. Older recipes stored
 * `accessTokenExpires` in ms, and some adapters' rows hold `expires_at` in ms; no expiry in seconds
 * reaches 1e11 (the year 5138), and none in ms falls below it (1973).
 *
 * @param value An epoch timestamp, ms or s.
 */
export function isEpochMilliseconds(value: number): boolean {
  return value > MILLISECONDS_THRESHOLD
}

/**
 * An epoch timestamp in whole seconds, from one in milliseconds or seconds (see
 * {@link isEpochMilliseconds}); rounded down.
 *
 * @param value An epoch timestamp, ms or s.
 * @returns Epoch seconds.
 */
export function toEpochSeconds(value: number): number {
  return Math.floor(isEpochMilliseconds(value) ? value / 1000 : value)
}

/**
 * When the tokens next-auth hands over at sign-in expire, epoch seconds (whole): the `account`'s
 * `expires_at`, else now + its `expires_in`, else now + `DEFAULTS.expiresInSeconds` (3600). A
 * value that is not a finite number counts as absent.
 *
 * @param account next-auth's `account` at sign-in.
 * @param nowSeconds Current time, epoch seconds.
 */
export function signInExpiresAt(account: Pick<SignInAccount, 'expires_at' | 'expires_in'>, nowSeconds: number): number {
  const expiresAt = numberField(account.expires_at)
  if (expiresAt !== undefined) return Math.floor(expiresAt)
  return Math.floor(nowSeconds + (numberField(account.expires_in) ?? DEFAULTS.expiresInSeconds))
}

/**
 * Reads the provider tokens from a session payload, in the Auth.js names
 * (`access_token`, `expires_at` in epoch seconds, …) or the older recipes' names
 * (`accessToken`, `refreshToken`, `accessTokenExpires` in ms or s).
 *
 * @param payload The decoded session JWT.
 * @param nowSeconds Current time, epoch seconds.
 * @returns The tokens, or `null` when the session carries no access token (nothing to keep fresh).
 */
export function readSessionTokens(payload: SessionPayload, nowSeconds: number): SessionTokens | null {
  const accessToken = stringField(payload.access_token) ?? stringField(payload.accessToken)
  if (!accessToken) return null
  const refreshToken = stringField(payload.refresh_token) ?? stringField(payload.refreshToken)
  const idToken = stringField(payload.id_token) ?? stringField(payload.idToken)
  const provider = stringField(payload.provider)
  const tokens: SessionTokens = {
    access_token: accessToken,
    expires_at: readExpiry(payload, accessToken, nowSeconds),
  }
  if (refreshToken) tokens.refresh_token = refreshToken
  if (idToken) tokens.id_token = idToken
  if (provider) tokens.provider = provider
  if (payload.error === REFRESH_TOKEN_ERROR || payload.error === 'RefreshAccessTokenError') {
    tokens.error = REFRESH_TOKEN_ERROR
  }
  const issuedAt = numberField(payload.refreshed_at) ?? accessTokenIssuedAt(accessToken)
  if (issuedAt !== undefined && issuedAt < tokens.expires_at) tokens.issued_at = issuedAt
  return tokens
}

function readExpiry(payload: SessionPayload, accessToken: string, nowSeconds: number): number {
  const current = numberField(payload.expires_at)
  const legacy = numberField(payload.accessTokenExpires)
  const raw = current ?? (legacy === undefined ? undefined : toEpochSeconds(legacy))
  if (raw !== undefined && raw - nowSeconds <= IMPLAUSIBLE_LIFETIME_SECONDS) return Math.floor(raw)
  // Unknown or implausible: trust the access token's own `exp` when it is a JWT (Cognito's are),
  // otherwise call it expired so that the next request refreshes it once and stores a sane value.
  return accessTokenExpiry(accessToken) ?? nowSeconds
}

/**
 * Returns a new payload holding `tokens`, with any previous `error` removed and `refreshed_at` set.
 * Other claims (`sub`, `name`, `email`, …) are kept. The tokens go under the Auth.js field names;
 * a session that has only the older recipes' names (`accessToken`, `refreshToken`, `idToken`,
 * `accessTokenExpires`) keeps only those, and wherever those names are present they get the new
 * values in their own units: an app's own callbacks that read them keep working, and no spent
 * refresh token is left behind in the cookie.
 *
 * @param payload The decoded session JWT.
 * @param tokens The refreshed tokens.
 * @param nowSeconds When the refresh was applied, epoch seconds: stored as `refreshed_at`, so an
 * app can show when its token was last renewed.
 */
export function withRefreshedTokens(payload: SessionPayload, tokens: RefreshedTokens, nowSeconds: number): SessionPayload {
  const next: SessionPayload = { ...payload }
  delete next.error
  next.refreshed_at = nowSeconds
  if (!('access_token' in next) && 'accessToken' in next) {
    // A session of an older recipe only: its own names, updated in place. Writing the Auth.js names
    // beside them would hold every token twice (Cognito's alone then need a second cookie chunk).
    next.accessToken = tokens.access_token
    next.refreshToken = tokens.refresh_token
    if ('idToken' in next && tokens.id_token) next.idToken = tokens.id_token
    next.accessTokenExpires = legacyExpiry(next.accessTokenExpires, tokens.expires_at)
    return next
  }
  next.access_token = tokens.access_token
  next.expires_at = tokens.expires_at
  next.refresh_token = tokens.refresh_token
  if (tokens.id_token) next.id_token = tokens.id_token
  if ('accessToken' in next) next.accessToken = tokens.access_token
  if ('refreshToken' in next) next.refreshToken = tokens.refresh_token
  if ('idToken' in next && tokens.id_token) next.idToken = tokens.id_token
  if ('accessTokenExpires' in next) next.accessTokenExpires = legacyExpiry(next.accessTokenExpires, tokens.expires_at)
  return next
}

/** `expiresAt` (epoch seconds) in the unit an older recipe stored its `accessTokenExpires` in. */
function legacyExpiry(previous: unknown, expiresAt: number): number {
  const legacy = numberField(previous)
  return legacy !== undefined && isEpochMilliseconds(legacy) ? expiresAt * 1000 : expiresAt
}

/**
 * Returns a new payload that records the end of the login: `error: "RefreshTokenError"` and no
 * refresh token (it is dead, so nobody may present it again). The access token stays for as long as
 * it is valid, so that the app can still show who was signed in.
 *
 * @param payload The decoded session JWT.
 */
export function withLoginEnded(payload: SessionPayload): SessionPayload {
  const next: SessionPayload = { ...payload }
  delete next.refresh_token
  delete next.refreshToken
  next.error = REFRESH_TOKEN_ERROR
  return next
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

function numberField(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}
