/** Cognito's user-pool API flows (`initiate-auth`, `get-tokens`) against a fake `fetch`. No server. */
import { describe, expect, it } from 'vitest'
import { DEFAULTS } from '../lib/defaults'
import { cognito } from '../lib/providers/cognito'
import type { ProviderContext } from '../lib/providers/provider'
import type { FetchLike } from '../lib/types'

const NOW_MS = 2_000_000_000_000
const NOW = NOW_MS / 1000
const ENDPOINT = 'https://cognito.test/'

function answering(body: unknown, seen: Array<RequestInit | undefined> = []): FetchLike {
  return async (_input, init) => {
    seen.push(init)
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/x-amz-json-1.1' } })
  }
}

function contextOf(fetch: FetchLike, signal: AbortSignal = new AbortController().signal): ProviderContext {
  return { fetch, signal, nowMs: () => NOW_MS, nowSeconds: () => NOW }
}

describe('cognito user-pool API flows', () => {
  it('the request carries the caller’s signal', async () => {
    const seen: Array<RequestInit | undefined> = []
    const caller = new AbortController()
    const provider = cognito({ flow: 'get-tokens', endpoint: ENDPOINT, clientId: 'app' })
    const outcome = await provider.refresh(
      'r',
      contextOf(answering({ AuthenticationResult: { AccessToken: 'a', ExpiresIn: 300 } }, seen), caller.signal),
    )
    expect(outcome).toEqual({ reason: 'refreshed', tokens: { access_token: 'a', refresh_token: 'r', expires_at: NOW + 300 } })
    expect(seen[0]?.signal).toBe(caller.signal)
  })

  it('without ExpiresIn: DEFAULTS.expiresInSeconds', async () => {
    const provider = cognito({ flow: 'initiate-auth', endpoint: ENDPOINT, clientId: 'app' })
    const outcome = await provider.refresh('r', contextOf(answering({ AuthenticationResult: { AccessToken: 'opaque' } })))
    expect(outcome).toMatchObject({ tokens: { expires_at: NOW + DEFAULTS.expiresInSeconds } })
  })

  it('regression: cognito() ignored defaultExpiresInSeconds (its own constant 3600 was always used)', async () => {
    for (const flow of ['initiate-auth', 'get-tokens'] as const) {
      const provider = cognito({ flow, endpoint: ENDPOINT, clientId: 'app', defaultExpiresInSeconds: 900 })
      const outcome = await provider.refresh('r', contextOf(answering({ AuthenticationResult: { AccessToken: 'opaque' } })))
      expect(outcome).toMatchObject({ tokens: { expires_at: NOW + 900 } })
    }
  })
})
