/**
 * The database-session refresher against the real provider (rotation and reuse detection on) and
 * the real Upstash store, with account rows in a map that behaves like a SQL table with a
 * compare-and-set UPDATE. Two refreshers stand for two server processes sharing the store.
 */
import { Redis } from '@upstash/redis'
import { describe, expect, inject, it } from 'vitest'
import { upstashStore } from '../lib'
import {
  createAccountRefresher,
  type AccountAccess,
  type AccountRefresherOptions,
  type AccountTokenWrite,
  type StoredAccount,
} from 'next-auth-edge-refresh/database'
import { hooks, localOidc, quietLogger, SECRET } from './support/sessions'

/** An accounts table: rows by user, a write log, and switches to make saves fail or hang. */
function accountTable(row: StoredAccount) {
  const rows = new Map([[row.userId, { ...row }]])
  const writes: AccountTokenWrite[] = []
  const faults = { saves: 0, mode: 'none' as 'none' | 'throw' | 'hang' }
  const access: AccountAccess = {
    async getAccount(userId) {
      const found = rows.get(userId)
      return found ? { ...found } : null
    },
    async saveAccount(write) {
      if (faults.saves > 0) {
        faults.saves--
        if (faults.mode === 'throw') throw new Error('connection to the database lost')
        await new Promise(() => {})
      }
      const current = rows.get(write.userId)
      if (!current || (write.previousRefreshToken !== undefined && current.refresh_token !== write.previousRefreshToken)) return false
      rows.set(write.userId, {
        ...current,
        access_token: write.access_token,
        expires_at: write.expires_at,
        refresh_token: write.refresh_token,
      })
      writes.push(write)
      return true
    },
  }
  return { rows, writes, faults, access }
}

async function expiredAccount(label: string) {
  const login = `${label}-${crypto.randomUUID()}`
  const tokens = await hooks().signIn({ login })
  const table = accountTable({
    userId: login,
    provider: 'oidc',
    providerAccountId: login,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    // Written in the past: the access token counts as expired without waiting.
    expires_at: Math.floor(Date.now() / 1000) - 5,
  })
  return { login, tokens, table }
}

function options(accounts: AccountAccess, overrides: Partial<AccountRefresherOptions> = {}): AccountRefresherOptions {
  const redis = new Redis({ url: inject('redisRestUrl'), token: inject('redisRestToken'), retry: false, enableTelemetry: false })
  return {
    secret: SECRET,
    providers: { oidc: localOidc() },
    store: upstashStore(redis, { prefix: `accounts:${crypto.randomUUID()}:` }),
    accounts,
    // The test provider's tokens live 4 s: a skew below that keeps a token just refreshed fresh.
    skewSeconds: 1,
    logger: quietLogger,
    ...overrides,
  }
}

describe('account refresher (database sessions)', () => {
  it('40 calls over 2 processes sharing the store: 1 provider refresh, the row written once with the rotated token', async () => {
    const { login, tokens, table } = await expiredAccount('two-processes')
    const shared = options(table.access)
    const processes = [createAccountRefresher(shared), createAccountRefresher({ ...shared, store: shared.store })]
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => processes[i % 2]!.refresh(login)))

    expect(await hooks().stats(login)).toMatchObject({ refreshRequests: 1, reuseDetected: 0 })
    expect(results.map((result) => result.reason)).toEqual(results.map(() => 'refreshed'))
    expect(table.writes).toHaveLength(1)
    const row = table.rows.get(login)!
    expect(row.refresh_token).not.toBe(tokens.refresh_token)
    expect(new Set(results.map((result) => (result.reason === 'refreshed' ? result.account.access_token : null)))).toEqual(
      new Set([row.access_token]),
    )
    expect(await processes[0]!.refresh(login)).toMatchObject({ reason: 'fresh' })
  })

  for (const mode of ['throw', 'hang'] as const) {
    it(`regression: a leader whose account save ${mode === 'throw' ? 'fails' : 'hangs'} does not make a later request present the old refresh token`, async () => {
      const { login, tokens, table } = await expiredAccount(`save-${mode}`)
      table.faults.mode = mode
      table.faults.saves = 1
      // graceSeconds 1: a result kept only that long would be gone before the second process comes.
      const shared = options(table.access, { graceSeconds: 1, storeTimeoutMs: 300 })
      const first = createAccountRefresher(shared)
      expect(await first.refresh(login)).toMatchObject({ reason: 'refreshed' })
      expect(table.rows.get(login)!.refresh_token).toBe(tokens.refresh_token)

      await new Promise((resolve) => setTimeout(resolve, 1500))
      const second = createAccountRefresher(shared)
      const later = await second.refresh(login)
      expect(later).toMatchObject({ reason: 'refreshed' })
      // The second process found the unsaved result in the store and saved it itself.
      expect(table.writes).toHaveLength(1)
      expect(table.rows.get(login)!.refresh_token).not.toBe(tokens.refresh_token)
      expect(await hooks().stats(login)).toMatchObject({ refreshRequests: 1, reuseDetected: 0 })
    })
  }

  it('invalid_grant: the row drops its dead refresh token; the login stays ended without another provider call', async () => {
    const { login, tokens, table } = await expiredAccount('ended')
    await hooks().revoke(tokens.refresh_token)
    const refresher = createAccountRefresher(options(table.access))
    expect(await refresher.refresh(login)).toMatchObject({ reason: 'login-ended', justEnded: true })
    expect(table.rows.get(login)!.refresh_token).toBeNull()
    expect(await refresher.refresh(login)).toMatchObject({ reason: 'login-ended', justEnded: false })
    expect(await hooks().stats(login)).toMatchObject({ refreshRequests: 1 })

    // Signing in again: next-auth leaves the old row as it is, the sign-in event writes the new tokens.
    const again = await hooks().signIn({ login })
    expect(
      await refresher.saveSignIn(login, {
        provider: 'oidc',
        providerAccountId: login,
        access_token: again.access_token,
        refresh_token: again.refresh_token,
        expires_in: 4,
      }),
    ).toBe(true)
    expect(await refresher.refresh(login)).toMatchObject({ reason: 'fresh' })
  })

  it('a user without an account, and a row without an expiry, pass without a provider call', async () => {
    const { login, table } = await expiredAccount('no-expiry')
    const refresher = createAccountRefresher(options(table.access))
    expect(await refresher.refresh('someone-else')).toEqual({ reason: 'no-account' })
    table.rows.set(login, { ...table.rows.get(login)!, expires_at: null })
    expect(await refresher.refresh(login)).toMatchObject({ reason: 'kept', detail: 'no-expiry' })
    expect(await hooks().stats(login)).toMatchObject({ refreshRequests: 0 })
  })

  it('checks its timings with the one budget: the account save runs under the renewed lease, so no rule of its own', () => {
    const access = accountTable({ userId: 'u', provider: 'oidc', providerAccountId: 'u' }).access
    // regression: the database refresher had its own lease rule (3 × storeTimeoutMs + providerTimeoutMs + 500), apart from the engine's.
    expect(() => createAccountRefresher(options(access, { leaseMs: 7000 }))).not.toThrow()
    expect(() => createAccountRefresher(options(access, { leaseMs: 3000 }))).toThrow(
      /leaseMs \(3000\) must be at least 3 × storeTimeoutMs \+ 750 \(3750\)/,
    )
  })
})
