/** The refresh decision: pure, so every boundary is a plain call. */
import { describe, expect, it } from 'vitest'
import { decideRefresh, effectiveSkewSeconds } from '../lib/refresh/decision'

const NOW = 1_800_000_000
const tokens = (secondsLeft: number, extra: Record<string, unknown> = {}) => ({
  access_token: 'a',
  refresh_token: 'r',
  expires_at: NOW + secondsLeft,
  ...extra,
})

describe('decideRefresh', () => {
  it('passes a token with more than the skew left, and refreshes at the skew boundary itself', () => {
    expect(decideRefresh(tokens(61), NOW, 60)).toEqual({ action: 'pass', reason: 'fresh' })
    expect(decideRefresh(tokens(60), NOW, 60)).toEqual({ action: 'refresh-background', reason: 'inside-skew' })
  })

  it('waits for the refresh when under 10 s are left, and when the token has expired', () => {
    expect(decideRefresh(tokens(10), NOW, 60).action).toBe('refresh-background')
    expect(decideRefresh(tokens(9), NOW, 60)).toEqual({ action: 'refresh-now', reason: 'about-to-expire' })
    expect(decideRefresh(tokens(0), NOW, 60)).toEqual({ action: 'refresh-now', reason: 'expired' })
    expect(decideRefresh(tokens(-3600), NOW, 0)).toEqual({ action: 'refresh-now', reason: 'expired' })
  })

  it('passes what cannot be refreshed: no refresh token, or a login already ended', () => {
    expect(decideRefresh({ access_token: 'a', expires_at: NOW - 1 }, NOW, 60)).toEqual({ action: 'pass', reason: 'no-refresh-token' })
    expect(decideRefresh(tokens(-1, { error: 'RefreshTokenError' }), NOW, 60)).toEqual({ action: 'pass', reason: 'login-ended' })
  })

  it('with skew 0 (the callbacks) only an expired token is refreshed', () => {
    expect(decideRefresh(tokens(1), NOW, 0)).toEqual({ action: 'pass', reason: 'fresh' })
    expect(decideRefresh(tokens(0), NOW, 0).action).toBe('refresh-now')
  })
})

describe('effectiveSkewSeconds', () => {
  it('is the configured skew, or half the lifetime when the lifetime is known and at or below it', () => {
    expect(effectiveSkewSeconds({ expires_at: NOW + 3600, issued_at: NOW }, 60)).toBe(60)
    expect(effectiveSkewSeconds({ expires_at: NOW + 60, issued_at: NOW }, 60)).toBe(30)
    expect(effectiveSkewSeconds({ expires_at: NOW + 4 }, 60)).toBe(60)
    expect(effectiveSkewSeconds({ expires_at: NOW, issued_at: NOW + 5 }, 60)).toBe(60)
  })

  it('regression: a token shorter-lived than the skew is not due the moment it is issued', () => {
    const fresh = { access_token: 'a', refresh_token: 'r', expires_at: NOW + 30, issued_at: NOW }
    expect(decideRefresh(fresh, NOW, 60)).toEqual({ action: 'pass', reason: 'fresh' })
    expect(decideRefresh(fresh, NOW + 15, 60).action).toBe('refresh-background')
  })
})
