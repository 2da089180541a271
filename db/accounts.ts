/**
 * The account rows of @auth/pg-adapter, read and written with plain SQL over `pg`: the pair the
 * package's account refresher needs, since no adapter has an "update account" method. Node only.
 */
import type { AccountAccess, StoredAccount } from 'next-auth-edge-refresh/database'
import type { Pool } from 'pg'

interface AccountRow {
  userId: number | string
  provider: string
  providerAccountId: string
  access_token: string | null
  expires_at: string | number | null
  refresh_token: string | null
  id_token: string | null
}

/** `getAccount` / `saveAccount` over the adapter's `accounts` table. */
export function postgresAccounts(pool: Pool): AccountAccess {
  return {
    async getAccount(userId, provider) {
      const { rows } = await pool.query<AccountRow>(
        `SELECT "userId", provider, "providerAccountId", access_token, expires_at, refresh_token, id_token
           FROM accounts WHERE "userId" = $1 AND ($2::text IS NULL OR provider = $2) ORDER BY id LIMIT 1`,
        [userId, provider ?? null],
      )
      return rows[0] ? toStoredAccount(rows[0]) : null
    },

    async saveAccount(write) {
      // Compare-and-set on the refresh token this refresh presented: a row that already holds a
      // newer one keeps it. A sign-in (no previous token) replaces whatever the row holds.
      const { rowCount } = await pool.query(
        `UPDATE accounts
            SET access_token = $3, expires_at = $4, refresh_token = $5, id_token = COALESCE($6, id_token)
          WHERE provider = $1 AND "providerAccountId" = $2 AND ($7::text IS NULL OR refresh_token = $7)`,
        [
          write.provider,
          write.providerAccountId,
          write.access_token,
          write.expires_at,
          write.refresh_token,
          write.id_token ?? null,
          write.previousRefreshToken ?? null,
        ],
      )
      return rowCount === 1
    },
  }
}

function toStoredAccount(row: AccountRow): StoredAccount {
  return {
    userId: String(row.userId),
    provider: row.provider,
    providerAccountId: row.providerAccountId,
    access_token: row.access_token,
    // BIGINT arrives as a string from pg.
    expires_at: row.expires_at === null ? null : Number(row.expires_at),
    refresh_token: row.refresh_token,
    id_token: row.id_token,
  }
}
