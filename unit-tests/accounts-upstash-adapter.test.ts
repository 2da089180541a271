/** `upstashAdapterAccounts` over a fake Redis: the session lookup on an injected clock. */
import { describe, expect, it } from 'vitest'
import { upstashAdapterAccounts, type UpstashAdapterClient } from '../lib/database/upstash-adapter-accounts'

/** Far from the real time, so a stray `Date.now()` shows. Epoch ms. */
const NOW_MS = 2_000_000_000_000

/** A Redis holding `values` as the adapter wrote them (JSON strings); `get` only. */
function fakeRedis(values: Record<string, unknown>): UpstashAdapterClient {
  const get = async (key: string) => (key in values ? JSON.stringify(values[key]) : null)
  const evalScript = async () => 0
  return { get, eval: evalScript } as unknown as UpstashAdapterClient
}

describe('upstashAdapterAccounts', () => {
  const redis = fakeRedis({
    'user:session:live-token': { sessionToken: 'live-token', userId: 'u1', expires: new Date(NOW_MS + 60_000).toISOString() },
  })

  it('a session before its expiry belongs to its user', async () => {
    const accounts = upstashAdapterAccounts(redis, { now: () => NOW_MS })
    expect(await accounts.userIdOfSession('live-token')).toBe('u1')
    expect(await accounts.userIdOfSession('unknown-token')).toBeNull()
  })

  it('regression: userIdOfSession checked expiry against Date.now(), not the injected clock', async () => {
    const accounts = upstashAdapterAccounts(redis, { now: () => NOW_MS + 60_000 })
    expect(await accounts.userIdOfSession('live-token')).toBeNull()
  })

  it('the clock defaults to Date.now', async () => {
    const past = fakeRedis({ 'user:session:t': { userId: 'u1', expires: new Date(Date.now() - 1_000).toISOString() } })
    expect(await upstashAdapterAccounts(past).userIdOfSession('t')).toBeNull()
  })
})
