/** The account row of a database session, read in the engine's terms. */
import { describe, expect, it } from 'vitest'
import { tokensOfAccount } from '../lib/database/accounts'

const NOW = 1_800_000_000
const row = { userId: 'u1', provider: 'oidc', providerAccountId: 'p1', access_token: 'a', refresh_token: 'r' }

describe('tokensOfAccount', () => {
  it('reads expires_at in seconds (the adapters’ convention) or milliseconds', () => {
    expect(tokensOfAccount({ ...row, expires_at: NOW })).toEqual({
      access_token: 'a',
      refresh_token: 'r',
      provider: 'oidc',
      expires_at: NOW,
    })
    expect(tokensOfAccount({ ...row, expires_at: NOW * 1000 + 500 })).toMatchObject({ expires_at: NOW })
  })

  it('an expiry in fractional seconds is rounded down, as every other expiry', () => {
    expect(tokensOfAccount({ ...row, expires_at: NOW + 0.9 })).toMatchObject({ expires_at: NOW })
  })

  it('a row without an access token or a known expiry has nothing to refresh', () => {
    expect(tokensOfAccount({ ...row, expires_at: null })).toBeUndefined()
    expect(tokensOfAccount({ ...row, access_token: null, expires_at: NOW })).toBeUndefined()
  })
})
