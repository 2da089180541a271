/** The token fields of a session payload: the Auth.js names and the older recipes' names. */
import { describe, expect, it } from 'vitest'
import { DEFAULTS } from '../lib/defaults'
import {
  isEpochMilliseconds,
  readSessionTokens,
  signInExpiresAt,
  toEpochSeconds,
  withLoginEnded,
  withRefreshedTokens,
} from '../lib/session/session-fields'

const NOW = 1_800_000_000
const refreshed = { access_token: 'new-access', refresh_token: 'new-refresh', expires_at: NOW + 3600 }

describe('session fields', () => {
  it('reads the Auth.js names', () => {
    const payload = { sub: 'u', access_token: 'a', refresh_token: 'r', id_token: 'i', expires_at: NOW + 60, provider: 'oidc' }
    expect(readSessionTokens(payload, NOW)).toEqual({
      access_token: 'a',
      refresh_token: 'r',
      id_token: 'i',
      expires_at: NOW + 60,
      provider: 'oidc',
    })
  })

  it('reads the older recipes: accessTokenExpires in milliseconds or seconds', () => {
    expect(readSessionTokens({ accessToken: 'a', refreshToken: 'r', accessTokenExpires: (NOW + 60) * 1000 }, NOW)).toMatchObject({
      expires_at: NOW + 60,
      refresh_token: 'r',
    })
    expect(readSessionTokens({ accessToken: 'a', accessTokenExpires: NOW + 60 }, NOW)).toMatchObject({ expires_at: NOW + 60 })
  })

  it('regression: an expiry decades ahead (a published recipe stored `Date.now() + expires_at * 1000`) is not trusted: due now', () => {
    const expiresAt = NOW + 3600
    expect(readSessionTokens({ accessToken: 'opaque', accessTokenExpires: NOW * 1000 + expiresAt * 1000 }, NOW)).toMatchObject({
      expires_at: NOW,
    })
  })

  it('a session without an access token has nothing to keep fresh; an old error name counts as ended', () => {
    expect(readSessionTokens({ sub: 'u' }, NOW)).toBeNull()
    expect(readSessionTokens({ access_token: 'a', expires_at: NOW, error: 'RefreshAccessTokenError' }, NOW)).toMatchObject({
      error: 'RefreshTokenError',
    })
  })

  it('writes refreshed tokens under the names the session uses, in their units, and clears the error', () => {
    const modern = withRefreshedTokens(
      { sub: 'u', access_token: 'a', refresh_token: 'r', expires_at: NOW, error: 'RefreshTokenError' },
      refreshed,
      NOW,
    )
    expect(modern).toEqual({ sub: 'u', ...refreshed, refreshed_at: NOW })
    const legacy = withRefreshedTokens({ accessToken: 'a', refreshToken: 'r', accessTokenExpires: NOW * 1000 }, refreshed, NOW)
    expect(legacy).toEqual({
      accessToken: 'new-access',
      refreshToken: 'new-refresh',
      accessTokenExpires: (NOW + 3600) * 1000,
      refreshed_at: NOW,
    })
  })

  it('an ended login keeps its access token, drops the dead refresh token and records the error', () => {
    const ended = withLoginEnded({ access_token: 'a', refresh_token: 'r', refreshToken: 'r', expires_at: NOW })
    expect(ended).toMatchObject({ access_token: 'a', error: 'RefreshTokenError' })
    expect(ended).not.toHaveProperty('refresh_token')
    expect(ended).not.toHaveProperty('refreshToken')
  })

  describe('toEpochSeconds', () => {
    it('reads milliseconds or seconds, and returns whole seconds', () => {
      expect(toEpochSeconds(NOW)).toBe(NOW)
      expect(toEpochSeconds(NOW * 1000 + 999)).toBe(NOW)
      expect(toEpochSeconds(NOW + 0.7)).toBe(NOW)
      expect(isEpochMilliseconds(NOW * 1000)).toBe(true)
      expect(isEpochMilliseconds(NOW)).toBe(false)
    })

    it('the boundary is 1e11: the year 5138 in seconds, 1973 in milliseconds', () => {
      expect(toEpochSeconds(1e11)).toBe(1e11)
      expect(toEpochSeconds(1e11 + 1000)).toBe(1e8 + 1)
    })
  })

  describe('signInExpiresAt', () => {
    it('next-auth’s expires_at, rounded down to whole seconds', () => {
      expect(signInExpiresAt({ expires_at: NOW + 60.9, expires_in: 5 }, NOW)).toBe(NOW + 60)
    })

    it('else now + expires_in', () => {
      expect(signInExpiresAt({ expires_in: 300.5 }, NOW + 0.5)).toBe(NOW + 301)
    })

    it('else now + DEFAULTS.expiresInSeconds', () => {
      expect(signInExpiresAt({}, NOW)).toBe(NOW + DEFAULTS.expiresInSeconds)
    })

    it('regression: a sign-in expires_at or expires_in that was not a finite number was stored as is (NaN, then null in JSON)', () => {
      expect(signInExpiresAt({ expires_at: Number.NaN, expires_in: 300 }, NOW)).toBe(NOW + 300)
      expect(signInExpiresAt({ expires_in: Number.POSITIVE_INFINITY }, NOW)).toBe(NOW + DEFAULTS.expiresInSeconds)
    })
  })
})
