/**
 * The refresh-token grant providers (`oidc`, `google`, Cognito's token endpoint) against a fake
 * `fetch` and a fake clock: shared discovery, the caller's signal, `Retry-After` dates and the
 * assumed lifetime. No server.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DEFAULTS } from '../lib/defaults'
import { cognito } from '../lib/providers/cognito'
import { google } from '../lib/providers/google'
import { oidc } from '../lib/providers/oidc'
import type { ProviderContext } from '../lib/providers/provider'
import type { FetchLike } from '../lib/types'

const ISSUER = 'https://issuer.test'
/** Far from the real time, so a stray `Date.now()` shows. Epoch ms. */
const NOW_MS = 2_000_000_000_000
const NOW = NOW_MS / 1000

interface Call {
  url: string
  signal: AbortSignal | null | undefined
  body: string
}

function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json', ...headers } })
}

/** A fake provider: discovery and a token endpoint whose answers the test chooses. Every call is recorded. */
function fakeProvider(options: { discovery?: (call: Call) => Promise<Response>; token?: (call: Call) => Promise<Response> } = {}) {
  const calls: Call[] = []
  const fetch: FetchLike = async (input, init) => {
    const request = input instanceof Request ? input : undefined
    const call: Call = {
      url: String(request ? request.url : input),
      signal: init?.signal ?? request?.signal,
      body: typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body.toString() : '',
    }
    calls.push(call)
    if (call.url.endsWith('/.well-known/openid-configuration')) {
      return options.discovery ? options.discovery(call) : json({ issuer: ISSUER, token_endpoint: `${ISSUER}/token` })
    }
    return options.token ? options.token(call) : json({ access_token: 'new-access', token_type: 'Bearer', expires_in: 300 })
  }
  return { fetch, calls }
}

function contextOf(fetch: FetchLike, signal: AbortSignal = new AbortController().signal): ProviderContext {
  return { fetch, signal, nowMs: () => NOW_MS, nowSeconds: () => NOW }
}

/** An answer the test gives by hand; like a real `fetch`, it fails once the request's signal aborts. */
function heldAnswer(call: Call) {
  let resolve!: (value: Response) => void
  const promise = new Promise<Response>((settle, fail) => {
    resolve = settle
    call.signal?.addEventListener('abort', () => fail(call.signal!.reason as Error))
  })
  return { promise, resolve }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('refresh-token grant providers', () => {
  it('the token request carries the caller’s signal', async () => {
    const { fetch, calls } = fakeProvider()
    const caller = new AbortController()
    const outcome = await oidc({ issuer: ISSUER, clientId: 'app' }).refresh('old-refresh', contextOf(fetch, caller.signal))
    expect(outcome).toEqual({
      reason: 'refreshed',
      tokens: { access_token: 'new-access', refresh_token: 'old-refresh', expires_at: NOW + 300 },
    })
    const token = calls.find((call) => call.url === `${ISSUER}/token`)
    expect(token?.signal).toBe(caller.signal)
  })

  it('regression: one caller’s abort failed every refresh that had joined the shared discovery', async () => {
    let answer: ReturnType<typeof heldAnswer> | undefined
    const { fetch, calls } = fakeProvider({ discovery: (call) => (answer = heldAnswer(call)).promise })
    const provider = oidc({ issuer: ISSUER, clientId: 'app' })
    const a = new AbortController()
    const b = new AbortController()
    const outcomeA = provider.refresh('refresh-a', contextOf(fetch, a.signal))
    const outcomeB = provider.refresh('refresh-b', contextOf(fetch, b.signal))
    await vi.waitFor(() => expect(calls).toHaveLength(1))

    a.abort(new DOMException('lock lost', 'AbortError'))
    // A stops waiting at once, and its refresh token was never sent: it says so (nothing is in doubt).
    expect(await outcomeA).toMatchObject({ reason: 'transient', notSent: true })
    expect(calls.map((call) => call.url)).toEqual([`${ISSUER}/.well-known/openid-configuration`])
    // The shared discovery does not run under A's signal, so it goes on for B.
    expect(calls[0]!.signal).not.toBe(a.signal)
    expect(calls[0]!.signal?.aborted).toBe(false)

    answer!.resolve(json({ issuer: ISSUER, token_endpoint: `${ISSUER}/token` }))
    expect(await outcomeB).toMatchObject({ reason: 'refreshed', tokens: { access_token: 'new-access' } })
    expect(calls.filter((call) => call.url.endsWith('/openid-configuration'))).toHaveLength(1)
    expect(calls.find((call) => call.url === `${ISSUER}/token`)?.body).toContain('refresh_token=refresh-b')
  })

  it('a caller whose signal has already aborted sends nothing', async () => {
    const { fetch, calls } = fakeProvider()
    const outcome = await oidc({ issuer: ISSUER, clientId: 'app' }).refresh('old-refresh', contextOf(fetch, AbortSignal.abort()))
    expect(outcome).toMatchObject({ reason: 'transient', notSent: true })
    expect(calls.filter((call) => call.url === `${ISSUER}/token`)).toHaveLength(0)
  })

  it('discovery has a budget of its own (DEFAULTS.discoveryTimeoutMs); the next refresh discovers again', async () => {
    vi.useFakeTimers({ now: NOW_MS })
    let hang = true
    const { fetch, calls } = fakeProvider({
      discovery: (call) => (hang ? heldAnswer(call).promise : Promise.resolve(json({ issuer: ISSUER, token_endpoint: `${ISSUER}/token` }))),
    })
    const provider = oidc({ issuer: ISSUER, clientId: 'app' })
    let settled: unknown
    void provider.refresh('old-refresh', contextOf(fetch)).then((outcome) => (settled = outcome))
    await vi.advanceTimersByTimeAsync(DEFAULTS.discoveryTimeoutMs - 1)
    expect(settled).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(settled).toMatchObject({ reason: 'transient', detail: expect.stringContaining('DISCOVERY_FAILED') as unknown })

    hang = false
    expect(await provider.refresh('old-refresh', contextOf(fetch))).toMatchObject({ reason: 'refreshed' })
    expect(calls.filter((call) => call.url.endsWith('/openid-configuration'))).toHaveLength(2)
  })

  it('regression: a Retry-After date was read against Date.now(), not the injected clock', async () => {
    const { fetch } = fakeProvider({
      token: async () => json({ error: 'temporarily_unavailable' }, 503, { 'retry-after': new Date(NOW_MS + 120_000).toUTCString() }),
    })
    const provider = cognito({ issuer: ISSUER, clientId: 'app', tokenEndpoint: `${ISSUER}/token` })
    expect(await provider.refresh('old-refresh', contextOf(fetch))).toMatchObject({ reason: 'transient', retryAfterSeconds: 120 })
  })

  it('Retry-After in seconds is kept as it is', async () => {
    const { fetch } = fakeProvider({ token: async () => json({ error: 'slow_down' }, 429, { 'retry-after': '7' }) })
    const provider = oidc({ issuer: ISSUER, clientId: 'app' })
    expect(await provider.refresh('old-refresh', contextOf(fetch))).toMatchObject({ reason: 'transient', retryAfterSeconds: 7 })
  })

  describe('assumed lifetime when the answer states none', () => {
    const opaque = () => fakeProvider({ token: async () => json({ access_token: 'opaque', token_type: 'Bearer' }) })

    it('is DEFAULTS.expiresInSeconds without the option', async () => {
      const { fetch } = opaque()
      expect(DEFAULTS.expiresInSeconds).toBe(3600)
      for (const provider of [
        oidc({ issuer: ISSUER, clientId: 'app' }),
        google({ issuer: ISSUER, clientId: 'app', clientSecret: 's' }),
        cognito({ issuer: ISSUER, clientId: 'app', tokenEndpoint: `${ISSUER}/token` }),
      ]) {
        expect(await provider.refresh('r', contextOf(fetch))).toMatchObject({ tokens: { expires_at: NOW + DEFAULTS.expiresInSeconds } })
      }
    })

    it('regression: cognito() dropped defaultExpiresInSeconds (token endpoint) and oidc() did not offer it', async () => {
      const { fetch } = opaque()
      const viaOidc = oidc({ issuer: ISSUER, clientId: 'app', defaultExpiresInSeconds: 600 })
      expect(await viaOidc.refresh('r', contextOf(fetch))).toMatchObject({ tokens: { expires_at: NOW + 600 } })
      const viaCognito = cognito({ issuer: ISSUER, clientId: 'app', tokenEndpoint: `${ISSUER}/token`, defaultExpiresInSeconds: 900 })
      expect(await viaCognito.refresh('r', contextOf(fetch))).toMatchObject({ tokens: { expires_at: NOW + 900 } })
    })

    it('a stated expires_in wins over the option', async () => {
      const { fetch } = fakeProvider()
      const provider = oidc({ issuer: ISSUER, clientId: 'app', defaultExpiresInSeconds: 600 })
      expect(await provider.refresh('r', contextOf(fetch))).toMatchObject({ tokens: { expires_at: NOW + 300 } })
    })

    it('a value that is not a positive number of seconds is refused when the provider is created', () => {
      for (const value of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => oidc({ issuer: ISSUER, clientId: 'app', defaultExpiresInSeconds: value })).toThrow(
          expect.objectContaining({ code: 'CONFIG_PROVIDER_INVALID' }),
        )
        expect(() => cognito({ flow: 'get-tokens', region: 'eu-west-1', clientId: 'app', defaultExpiresInSeconds: value })).toThrow(
          expect.objectContaining({ code: 'CONFIG_PROVIDER_INVALID' }),
        )
      }
    })
  })
})
