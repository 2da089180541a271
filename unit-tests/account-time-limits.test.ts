/**
 * The database paths read the same kind of store as single flight, under the same budget
 * (`storeTimeoutMs`): a hung adapter read must end, and the edge request must go on untouched.
 */
import { NextRequest } from 'next/server.js'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createAccountRefresher } from '../lib/database/account-refresher'
import { createDatabaseRefreshMiddleware } from '../lib/next/database-middleware'
import type { RefreshProvider } from '../lib/providers/provider'

const never = <T>() => new Promise<T>(() => {})
const provider: RefreshProvider = { kind: 'unused', refresh: () => never() }
const quietLogger = { warn: () => {}, error: () => {} }
const common = { secret: 'a-secret-for-tests', providers: { oidc: provider }, logger: quietLogger, now: () => Date.now() }

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('time limits of the database paths', () => {
  it('regression: getAccount had no time limit: a hung account read hung the request', async () => {
    const refresher = createAccountRefresher({ ...common, accounts: { getAccount: () => never(), saveAccount: async () => true } })
    const outcome = refresher.refresh('user-1').then(
      () => 'answered',
      (error: { code?: string }) => error.code,
    )
    await vi.advanceTimersByTimeAsync(1_000)
    expect(await outcome).toBe('TIME_LIMIT')
  })

  it('regression: userIdOfSession had no time limit: a hung session lookup hung the edge request', async () => {
    const middleware = createDatabaseRefreshMiddleware({
      ...common,
      accounts: { getAccount: () => never(), saveAccount: async () => true, userIdOfSession: () => never() },
    })
    const request = new NextRequest('https://app.test/', { headers: { cookie: 'authjs.session-token=a-session-token' } })
    let settled: Response | undefined
    void middleware(request).then((response) => (settled = response))
    await vi.advanceTimersByTimeAsync(999)
    expect(settled).toBeUndefined()
    await vi.advanceTimersByTimeAsync(2)
    expect(settled?.headers.get('x-middleware-next')).toBe('1')
  })
})
