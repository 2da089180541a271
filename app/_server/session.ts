/**
 * Server-side access to the provider tokens in the session cookie, for server components, route
 * handlers and server actions. The cookie they see is the one the middleware forwarded, so the
 * access token in it has just been judged fresh (or refreshed) for this very request.
 */
import { createHash } from 'node:crypto'
import { headers } from 'next/headers'
import { NextRequest } from 'next/server'
import { REFRESH_TOKEN_ERROR } from 'next-auth-edge-refresh'
import { getServerSession } from 'next-auth'
import { getToken } from 'next-auth/jwt'
import { getAccountRefresher, getAuthOptions, type AppSession } from '@/auth'
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

/**
 * The signed-in user's tokens; `null` when signed out or unreadable. JWT sessions: decoded from the
 * cookie the middleware forwarded. Database sessions (DATABASE_URL): next-auth's session (whose
 * `session` callback brought the account up to date), then the account row through the same
 * refresher, which finds it fresh.
 */
export async function readTokenSession(): Promise<TokenSession | null> {
  if (appEnv().database) return readDatabaseSession()
  // next-auth's own reader, on the request headers this server code sees: the middleware forwarded
  // the cookie it judged fresh or refreshed, so this is the session as of this request.
  const payload = await getToken({ req: new NextRequest('http://localhost/', { headers: await headers() }), secret: appEnv().secret })
  if (!payload) return null
  const text = (value: unknown) => (typeof value === 'string' && value ? value : undefined)
  const seconds = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)
  const accessToken = text(payload.access_token)
  const expiresAt = seconds(payload.expires_at)
  if (!accessToken || expiresAt === undefined) return null
  return {
    sub: text(payload.sub),
    name: text(payload.name),
    email: text(payload.email),
    provider: text(payload.provider),
    accessToken,
    fingerprint: fingerprintOf(accessToken),
    expiresAt,
    refreshedAt: seconds(payload.refreshed_at),
    writtenAt: seconds(payload.iat),
    error: payload.error === REFRESH_TOKEN_ERROR ? REFRESH_TOKEN_ERROR : undefined,
  }
}

async function readDatabaseSession(): Promise<TokenSession | null> {
  const session = (await getServerSession(getAuthOptions())) as AppSession | null
  if (!session?.userId) return null
  const refresh = await getAccountRefresher().refresh(session.userId)
  if (refresh.reason === 'no-account') return null
  const { account } = refresh
  if (!account.access_token || typeof account.expires_at !== 'number') return null
  return {
    sub: account.providerAccountId,
    name: session.user?.name ?? undefined,
    email: session.user?.email ?? undefined,
    provider: account.provider,
    accessToken: account.access_token,
    fingerprint: fingerprintOf(account.access_token),
    expiresAt: account.expires_at,
    refreshedAt: undefined,
    writtenAt: undefined,
    error: refresh.reason === 'login-ended' || session.error === REFRESH_TOKEN_ERROR ? REFRESH_TOKEN_ERROR : undefined,
  }
}
