/**
 * The provider tokens of a database session live in the adapter's account row, not in the cookie.
 * These types are the part of that row the refresh reads and writes, in the adapter's own field
 * names (`access_token`, `expires_at` in epoch seconds, `refresh_token`, `id_token`), so a row from
 * any next-auth / Auth.js adapter maps onto them without renaming.
 */
import { toEpochSeconds } from '../session/session-fields.js'
import type { SessionTokens } from '../types.js'

/** One account row as the adapter stores it: the user it belongs to, the provider, and its tokens. */
export interface StoredAccount {
  /** The adapter's user id (`account.userId`). */
  userId: string
  /** next-auth provider id (`account.provider`). */
  provider: string
  /** The user's id at the provider (`account.providerAccountId`). */
  providerAccountId: string
  /** The provider's access token (`account.access_token`). */
  access_token?: string | null
  /** Access-token expiry, epoch seconds. */
  expires_at?: number | null
  /** The provider's refresh token; null once the provider declared it dead. */
  refresh_token?: string | null
  /** The OpenID Connect ID token, when the provider issues one. */
  id_token?: string | null
}

/**
 * New token fields for one account row. `refresh_token: null` means the provider declared the old
 * one dead (`invalid_grant`): the row must not keep it.
 */
export interface AccountTokenWrite {
  /** The adapter's user id of the row. */
  userId: string
  /** next-auth provider id of the row. */
  provider: string
  /** The user's id at the provider: with `provider`, the row's key. */
  providerAccountId: string
  /** The new access token. */
  access_token: string | null
  /** Epoch seconds. */
  expires_at: number | null
  /** The new (possibly rotated) refresh token; null when the old one is dead and must go. */
  refresh_token: string | null
  /** The new ID token; absent when the provider sent none (the row keeps its own). */
  id_token?: string | null
  /**
   * The refresh token the row held when this refresh began. Write only while the row still holds
   * it (compare-and-set), e.g. `UPDATE … WHERE provider = $1 AND "providerAccountId" = $2 AND
   * refresh_token = $previous`: a row that already holds a newer token must keep it. Absent for
   * the tokens of a new sign-in, which replace whatever the row holds.
   */
  previousRefreshToken?: string
}

/**
 * How the refresh reads and writes account rows. Adapters have no "update account" method, so the
 * app passes this pair over its own database client (see the README for PostgreSQL and Prisma);
 * {@link upstashAdapterAccounts} implements it over the Upstash Redis adapter's keys.
 */
export interface AccountAccess {
  /**
   * The user's account for `provider`, or for the one provider the app signs in with when
   * `provider` is undefined; null when there is none.
   */
  getAccount(userId: string, provider: string | undefined): Promise<StoredAccount | null>
  /** Writes the token fields; resolves whether a row was written (false when the compare-and-set found another refresh token). */
  saveAccount(write: AccountTokenWrite): Promise<boolean>
}

/** The row's tokens in the engine's terms; undefined when the row holds no access token with a known expiry. */
export function tokensOfAccount(account: StoredAccount): SessionTokens | undefined {
  const expiresAt = typeof account.expires_at === 'string' ? Number(account.expires_at) : account.expires_at
  if (!account.access_token || typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return undefined
  return {
    access_token: account.access_token,
    // Adapters store seconds (Auth.js convention); a value in milliseconds is read as such.
    expires_at: toEpochSeconds(expiresAt),
    provider: account.provider,
    ...(account.refresh_token ? { refresh_token: account.refresh_token } : {}),
    ...(account.id_token ? { id_token: account.id_token } : {}),
  }
}
