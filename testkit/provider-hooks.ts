/**
 * The one client of the local provider's `/__test/` hooks (see `startLocalProvider` in
 * oidc-provider.ts), for the tests, the benchmark and the demo's storm panel. Every call is bounded
 * in time and fails with the hook's own answer.
 */
import type { RefreshStats } from './oidc-provider'

export type { RefreshStats }

/** What `POST /__test/signin` answers: the token endpoint's JSON of a real code flow. */
export interface ProviderTokens {
  access_token: string
  refresh_token: string
  id_token: string
  expires_in: number
  token_type: string
  scope: string
}

/** The hooks of one provider. `login` scopes stats, latency and faults to that login's refresh tokens. */
export interface ProviderHooks {
  stats(login?: string): Promise<RefreshStats>
  /** Zeroes the counters and clears latency and fault injection. */
  reset(): Promise<void>
  signIn(options?: { login?: string; client_id?: string; scope?: string }): Promise<ProviderTokens>
  /** Revokes the grant of this refresh token (all its tokens). */
  revoke(refreshToken: string): Promise<void>
  latency(ms: number, login?: string): Promise<void>
  /** Token requests are handled at once (a refresh rotates the token) and answered `ms` later. */
  answerDelay(ms: number, login?: string): Promise<void>
  /** The next `count` (default 1) token requests get `status`, unprocessed. */
  fail(status: number, options?: { count?: number; login?: string }): Promise<void>
}

const HOOK_TIMEOUT_MS = 10_000

/** A client of the hooks of the provider at `issuer` (`http://127.0.0.1:<port>`). */
export function providerHooks(issuer: string): ProviderHooks {
  async function call<T>(path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${issuer}/__test/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(HOOK_TIMEOUT_MS),
    })
    if (!response.ok) throw new Error(`provider hook /__test/${path}: HTTP ${response.status} ${await response.text()}`)
    return (await response.json()) as T
  }
  return {
    stats: (login) => call<RefreshStats>(login === undefined ? 'stats' : `stats?login=${encodeURIComponent(login)}`),
    reset: async () => void (await call('reset', {})),
    signIn: (options = {}) => call<ProviderTokens>('signin', options),
    revoke: async (refreshToken) => void (await call('revoke', { refresh_token: refreshToken })),
    latency: async (ms, login) => void (await call('latency', { ms, ...(login === undefined ? {} : { login }) })),
    answerDelay: async (ms, login) => void (await call('answer-delay', { ms, ...(login === undefined ? {} : { login }) })),
    fail: async (status, options = {}) => void (await call('fail', { status, ...options })),
  }
}
