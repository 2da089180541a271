/**
 * Server-side access to the provider tokens in the session cookie, for server components, route
 * handlers and server actions. The cookie they see is the one the middleware forwarded, so the
 * access token in it has just been judged fresh (or refreshed) for this very request.
 */
import { createHash } from 'node:crypto'
import { cookies } from 'next/headers'
import { readSessionCookie, readSessionTokens, REFRESH_TOKEN_ERROR } from 'next-auth-edge-refresh'
import { appEnv } from '@/env'

/** What the pages need to know about the signed-in user and their tokens. */
export interface TokenSession {
  sub: string | undefined
  name: string | undefined
  email: string | undefined
  /** next-auth provider id the user signed in with. */
  provider: string | undefined
  /** The access token. Server-side only: never render it, render {@link TokenSession.fingerprint}. */
  accessToken: string
  /** First 8 hex characters of SHA-256(access token): tells tokens apart without revealing one. */
  fingerprint: string
  /** Access-token expiry, epoch seconds. */
  expiresAt: number
  /** When the token was last refreshed (epoch seconds), if the session records it (`refreshed_at`). */
  refreshedAt: number | undefined
  /** When the session cookie was last written (its JWT `iat`, epoch seconds). */
  writtenAt: number | undefined
  /** `"RefreshTokenError"` once the login has ended at the provider. */
  error: typeof REFRESH_TOKEN_ERROR | undefined
}

/** Fingerprint of a token for display and tests: never the token itself. */
export function fingerprintOf(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 8)
}

/** Reads and decodes the session cookie; `null` when signed out or unreadable. */
export async function readTokenSession(): Promise<TokenSession | null> {
  const session = await readSessionCookie(await cookies(), { secrets: [appEnv().secret] })
  if (!session) return null
  const { payload } = session
  const tokens = readSessionTokens(payload, Math.floor(Date.now() / 1000))
  if (!tokens) return null
  const text = (value: unknown) => (typeof value === 'string' && value ? value : undefined)
  const seconds = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)
  return {
    sub: text(payload.sub),
    name: text(payload.name),
    email: text(payload.email),
    provider: tokens.provider,
    accessToken: tokens.access_token,
    fingerprint: fingerprintOf(tokens.access_token),
    expiresAt: tokens.expires_at,
    refreshedAt: seconds(payload.refreshed_at),
    writtenAt: seconds(payload.iat),
    error: tokens.error,
  }
}
