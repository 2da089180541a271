/**
 * Calls the provider's userinfo endpoint with the session's access token: the proof, on every
 * page, that the token the app holds is accepted by the provider right now.
 */
import { appEnv, issuerOf } from '@/env'
import type { TokenSession } from './session'

/** Outcome of one userinfo call. `status` is the HTTP status, or null when no answer came. */
export interface UserinfoResult {
  ok: boolean
  status: number | null
  sub?: string
  name?: string
  email?: string
  /** Short description of a failure (never contains a token). */
  error?: string
}

const TIMEOUT_MS = 5_000

// Discovery per issuer, cached for the life of the server process; a failure is not cached.
const endpoints = new Map<string, Promise<string>>()

function userinfoEndpoint(issuer: string): Promise<string> {
  let endpoint = endpoints.get(issuer)
  if (!endpoint) {
    endpoint = (async () => {
      const response = await fetch(`${issuer}/.well-known/openid-configuration`, {
        signal: AbortSignal.timeout(TIMEOUT_MS),
        cache: 'no-store',
      })
      if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`)
      const document = (await response.json()) as { userinfo_endpoint?: unknown }
      if (typeof document.userinfo_endpoint !== 'string') throw new Error('discovery document has no userinfo_endpoint')
      return document.userinfo_endpoint
    })()
    endpoints.set(issuer, endpoint)
    endpoint.catch(() => endpoints.delete(issuer))
  }
  return endpoint
}

/** Calls userinfo with the session's access token. Never throws. */
export async function callUserinfo(session: TokenSession): Promise<UserinfoResult> {
  const provider =
    appEnv().providers.find((candidate) => candidate.id === session.provider) ??
    (appEnv().providers.length === 1 ? appEnv().providers[0] : undefined)
  if (!provider) return { ok: false, status: null, error: `provider "${session.provider ?? '(none)'}" is not configured` }
  try {
    const endpoint = await userinfoEndpoint(issuerOf(provider))
    const response = await fetch(endpoint, {
      headers: { authorization: `Bearer ${session.accessToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(TIMEOUT_MS),
      cache: 'no-store',
    })
    if (!response.ok) {
      // RFC 6750: the reason is in WWW-Authenticate (error="invalid_token", …), never the token.
      const reason = response.headers.get('www-authenticate')?.match(/error="([^"]*)"/)?.[1]
      return { ok: false, status: response.status, error: reason ?? `HTTP ${response.status}` }
    }
    const claims = (await response.json()) as Record<string, unknown>
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined)
    const result: UserinfoResult = { ok: true, status: response.status }
    if (text(claims.sub)) result.sub = text(claims.sub)
    if (text(claims.name)) result.name = text(claims.name)
    if (text(claims.email)) result.email = text(claims.email)
    return result
  } catch (error) {
    return { ok: false, status: null, error: error instanceof Error ? error.message : String(error) }
  }
}
