import { DEFAULTS } from '../defaults.js'
import type { SessionTokens } from '../types.js'

/**
 * What to do with a session on this request, with the reason. Pure: no I/O.
 * - `pass`: nothing to do (`fresh`), or nothing that can be done (`no-refresh-token`, `login-ended`).
 * - `refresh-background`: still valid but inside the skew window; the request need not wait.
 * - `refresh-now`: expired, or so close to expiry that the app would get a dying token.
 */
export type RefreshDecision =
  | { action: 'pass'; reason: 'fresh' | 'no-refresh-token' | 'login-ended' }
  | { action: 'refresh-background'; reason: 'inside-skew' }
  | { action: 'refresh-now'; reason: 'expired' | 'about-to-expire' }

/**
 * Below `DEFAULTS.minBackgroundSeconds` of remaining validity a request waits for the refresh even
 * when it could run in the background: the app's own calls with the old token would otherwise race
 * its expiry.
 */

/**
 * The skew that applies to these tokens: `skewSeconds`, or half the token's lifetime when the
 * lifetime is known (`issued_at`) and at or below `skewSeconds`. Without that, a token would be due
 * the moment it was issued, and every request would refresh it again.
 *
 * @returns Seconds.
 */
export function effectiveSkewSeconds(tokens: Pick<SessionTokens, 'expires_at' | 'issued_at'>, skewSeconds: number): number {
  const lifetime = tokens.issued_at === undefined ? undefined : tokens.expires_at - tokens.issued_at
  return lifetime !== undefined && lifetime > 0 && lifetime <= skewSeconds ? lifetime / 2 : skewSeconds
}

/**
 * Decides whether a session's access token must be refreshed.
 *
 * Refresh when `expires_at - now <= skew`, where skew is {@link effectiveSkewSeconds}.
 * `expires_at` and `now` are epoch seconds.
 *
 * @param tokens The session's tokens.
 * @param nowSeconds Current time, epoch seconds.
 * @param skewSeconds Refresh this long before expiry, seconds (the middleware's default is 60).
 */
export function decideRefresh(tokens: SessionTokens, nowSeconds: number, skewSeconds: number): RefreshDecision {
  if (tokens.error) return { action: 'pass', reason: 'login-ended' }
  const remaining = tokens.expires_at - nowSeconds
  if (remaining > effectiveSkewSeconds(tokens, skewSeconds)) return { action: 'pass', reason: 'fresh' }
  if (!tokens.refresh_token) return { action: 'pass', reason: 'no-refresh-token' }
  if (remaining <= 0) return { action: 'refresh-now', reason: 'expired' }
  if (remaining < DEFAULTS.minBackgroundSeconds) return { action: 'refresh-now', reason: 'about-to-expire' }
  return { action: 'refresh-background', reason: 'inside-skew' }
}
