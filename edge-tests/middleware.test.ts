import { beforeEach, describe, expect, it, inject } from 'vitest'
import { NextRequest } from 'next/server'
import { expiryOf } from '../lib/providers/refresh-grant'
import { cognito, createRefreshMiddleware, google, memoryStore, oidc, RefreshConfigError, type RefreshMiddlewareOptions } from '../lib'
import {
  COOKIE_NAMES,
  SECRET,
  browserCookiesAfter,
  decodeWith,
  encodeWith,
  forwardedCookies,
  issuer,
  joinSession,
  pageRequest,
  hooks,
  providerStats,
  refreshDirectly,
  sessionPayload,
  setCookies,
  signInAtProvider,
  type Format,
  quietLogger,
  localOidc,
  AUTHJS_V5_CODEC,
} from './support/sessions'

function middleware(overrides: Partial<RefreshMiddlewareOptions> = {}) {
  return createRefreshMiddleware({
    secret: SECRET,
    providers: { oidc: localOidc() },
    retryAfterMs: 200,
    logger: quietLogger,
    ...overrides,
  })
}

const past = () => Math.floor(Date.now() / 1000) - 5

async function expiredSession(format: Format = 'next-auth-v4', name = COOKIE_NAMES[format].plain, overrides: Record<string, unknown> = {}) {
  const tokens = await signInAtProvider()
  const jwt = await encodeWith(format, name, sessionPayload(tokens, { expires_at: past(), ...overrides }))
  return { tokens, cookies: { [name]: jwt }, name }
}

beforeEach(async () => {
  await hooks().reset()
})

it('runs in the edge-runtime VM (the Vercel Edge globals)', () => {
  expect((globalThis as { EdgeRuntime?: unknown }).EdgeRuntime).toBe('edge-runtime')
})

describe('fresh sessions', () => {
  it('passes a fresh session through untouched, with no provider call', async () => {
    const tokens = await signInAtProvider()
    const jwt = await encodeWith(
      'next-auth-v4',
      'next-auth.session-token',
      sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) + 3600 }),
    )
    const handler = middleware()
    for (let i = 0; i < 3; i++) {
      const response = await handler(pageRequest('/', { 'next-auth.session-token': jwt }))
      expect(response.headers.get('x-middleware-next')).toBe('1')
      expect(setCookies(response)).toEqual([])
      expect(forwardedCookies(response)).toBeNull()
    }
    expect((await providerStats()).refreshRequests).toBe(0)
  })
})

describe('refresh through each provider factory', () => {
  const factories = {
    oidc: () => localOidc(),
    cognito: () => cognito({ issuer: issuer(), clientId: inject('clientId'), clientSecret: inject('clientSecret') }),
    google: () => google({ issuer: issuer(), clientId: inject('clientId'), clientSecret: inject('clientSecret') }),
  }
  for (const [id, factory] of Object.entries(factories)) {
    it(`${id}: refreshes an expired session, keeps the rotated refresh token, and forwards the new cookie`, async () => {
      const { tokens, cookies, name } = await expiredSession('next-auth-v4', undefined, { provider: id })
      const response = await middleware({ providers: { [id]: factory() } })(pageRequest('/dashboard', cookies))

      expect(response.headers.get('x-middleware-next')).toBe('1')
      expect(response.headers.get('cache-control')).toBe('private, no-store')
      const [cookie] = setCookies(response)
      expect(cookie).toMatchObject({
        name,
        attributes: { httponly: true, samesite: 'lax', path: '/', 'max-age': String(30 * 24 * 60 * 60) },
      })
      const session = (await decodeWith('next-auth-v4', name, cookie!.value))!
      expect(session.access_token).not.toBe(tokens.access_token)
      expect(session.refresh_token).not.toBe(tokens.refresh_token)
      expect(session.expires_at).toBeGreaterThan(Math.floor(Date.now() / 1000))
      expect(session).toMatchObject({ sub: 'alice', email: 'alice@example.test', provider: id })
      expect(session.error).toBeUndefined()

      const forwarded = forwardedCookies(response)!
      expect(forwarded[name]).toBe(cookie!.value)
      expect((await providerStats()).refreshRequests).toBe(1)
      // The rotated refresh token is the live one: the provider accepts it.
      expect((await refreshDirectly(session.refresh_token as string)).status).toBe(200)
    })
  }

  it('google: keeps the old refresh token when the provider returns none', async () => {
    const { tokens, cookies, name } = await expiredSession('next-auth-v4', undefined, { provider: 'google' })
    const withoutRefreshToken: typeof fetch = async (input, init) => {
      const response = await fetch(input, init)
      if (!String(input instanceof Request ? input.url : input).includes('/token')) return response
      const body = (await response.json()) as Record<string, unknown>
      delete body.refresh_token
      return new Response(JSON.stringify(body), { status: response.status, headers: { 'content-type': 'application/json' } })
    }
    const handler = middleware({
      providers: { google: google({ issuer: issuer(), clientId: inject('clientId'), clientSecret: inject('clientSecret') }) },
      fetch: withoutRefreshToken,
    })
    const response = await handler(pageRequest('/', cookies))
    const session = (await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!
    expect(session.access_token).not.toBe(tokens.access_token)
    expect(session.refresh_token).toBe(tokens.refresh_token)
  })
})

describe('how each provider authenticates at the token endpoint', () => {
  /** Records the token request a provider sends, then lets it through to the real provider. */
  function recording() {
    const seen: { authorization: string | null; body: URLSearchParams }[] = []
    const discoveries: string[] = []
    const fetchLike = async (input: string | URL | Request, init?: RequestInit) => {
      const request = new Request(input, init)
      if (request.url.includes('/token'))
        seen.push({ authorization: request.headers.get('authorization'), body: new URLSearchParams(await request.clone().text()) })
      if (request.url.includes('/.well-known/')) discoveries.push(request.url)
      return fetch(request)
    }
    return { seen, discoveries, fetchLike }
  }

  it('google sends client_id and client_secret in the body (client_secret_post), as Google and the Auth.js guide do', async () => {
    const { seen, fetchLike } = recording()
    const { cookies } = await expiredSession('next-auth-v4', undefined, { provider: 'google' })
    await middleware({
      providers: { google: google({ issuer: issuer(), clientId: inject('clientId'), clientSecret: inject('clientSecret') }) },
      fetch: fetchLike,
    })(pageRequest('/', cookies))
    expect(seen).toHaveLength(1)
    expect(seen[0]!.authorization).toBeNull()
    expect(seen[0]!.body.get('client_id')).toBe(inject('clientId'))
    expect(seen[0]!.body.get('client_secret')).toBe(inject('clientSecret'))
  })

  it('cognito (token endpoint) sends client_id in the body too, beside HTTP Basic, and takes an explicit tokenEndpoint without discovery', async () => {
    const { seen, discoveries, fetchLike } = recording()
    const discovery = (await (await fetch(`${issuer()}/.well-known/openid-configuration`)).json()) as { token_endpoint: string }
    const { tokens, cookies, name } = await expiredSession('next-auth-v4', undefined, { provider: 'cognito' })
    const provider = cognito({
      issuer: issuer(),
      tokenEndpoint: discovery.token_endpoint,
      clientId: inject('clientId'),
      clientSecret: inject('clientSecret'),
    })
    const response = await middleware({ providers: { cognito: provider }, fetch: fetchLike })(pageRequest('/', cookies))
    expect((await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!.access_token).not.toBe(tokens.access_token)
    expect(seen).toHaveLength(1)
    expect(seen[0]!.authorization).toMatch(/^Basic /)
    expect(seen[0]!.body.get('client_id')).toBe(inject('clientId'))
    expect(discoveries).toEqual([])
  })

  it("expires_at is never later than the access token's own exp when it is a JWT, whatever expires_in says", () => {
    const header = btoa(JSON.stringify({ alg: 'none' })).replace(/=+$/, '')
    const claims = (exp: number) => btoa(JSON.stringify({ exp, iat: exp - 300 })).replace(/=+$/, '')
    const now = 1_800_000_000
    const jwt = `${header}.${claims(now + 300)}.sig`
    // An emulator answering expires_in 3600 for a 300 s token: the token's own exp wins.
    expect(expiryOf(jwt, 3600, now, 3600)).toBe(now + 300)
    expect(expiryOf(jwt, 60, now, 3600)).toBe(now + 60)
    expect(expiryOf('opaque', 3600, now, 3600)).toBe(now + 3600)
    expect(expiryOf(jwt, undefined, now, 3600)).toBe(now + 300)
    expect(expiryOf('opaque', undefined, now, 1234)).toBe(now + 1234)
  })
})

describe('cookie formats', () => {
  for (const format of ['next-auth-v4', 'authjs-v5'] as const) {
    for (const secure of [false, true]) {
      const name = secure ? COOKIE_NAMES[format].secure : COOKIE_NAMES[format].plain
      // This repo's app is on next-auth v4, so `next-auth/jwt` is v4's; a v5 app's is Auth.js's, which
      // the v5 cases pass in (the option an app with a custom codec uses). The example apps run the
      // packed package with each line's own `next-auth/jwt` (examples.test.ts).
      it(`round-trips ${name} through the real ${format === 'authjs-v5' ? 'Auth.js v5' : 'next-auth v4'} codec`, async () => {
        const { tokens, cookies } = await expiredSession(format, name)
        const handler = middleware(format === 'authjs-v5' ? { jwt: AUTHJS_V5_CODEC } : {})
        const response = await handler(pageRequest('/', cookies, {}, secure ? 'https://app.test' : 'http://app.test'))
        const [cookie] = setCookies(response)
        expect(cookie!.name).toBe(name)
        expect(cookie!.attributes.secure === true).toBe(secure)
        const session = (await decodeWith(format, name, cookie!.value))!
        expect(session.access_token).not.toBe(tokens.access_token)
        // The other format's decoder must not read it: the salt is part of the format.
        const other: Format = format === 'authjs-v5' ? 'next-auth-v4' : 'authjs-v5'
        await expect(decodeWith(other, name, cookie!.value).catch(() => null)).resolves.toBeNull()
      })
    }
  }

  it('writes a session of more than 8 KB as chunks, reads them back, and expires the chunks it no longer uses', async () => {
    const tokens = await signInAtProvider()
    const name = COOKIE_NAMES['next-auth-v4'].plain
    // A bulky claim makes the old session ~14 KB (4 chunks); the refreshed one keeps it, so it is chunked too.
    const bulky = { profile_blob: 'x'.repeat(6000), expires_at: past() }
    const oldJwt = await encodeWith('next-auth-v4', name, sessionPayload(tokens, { ...bulky, old_only: 'y'.repeat(4000) }))
    expect(oldJwt.length).toBeGreaterThan(3 * 3933)
    const cookies: Record<string, string> = {}
    for (let i = 0; i * 3933 < oldJwt.length; i++) cookies[`${name}.${i}`] = oldJwt.slice(i * 3933, (i + 1) * 3933)
    expect(Object.keys(cookies)).toHaveLength(4)

    // Drop `old_only` on write by refreshing a session the middleware reads from the chunks, then
    // check the round trip: the app and the browser both see one consistent, complete session.
    const response = await middleware()(pageRequest('/', cookies))
    const written = setCookies(response)
    const live = written.filter((c) => c.attributes['max-age'] !== '0')
    expect(live.map((c) => c.name)).toEqual([`${name}.0`, `${name}.1`, `${name}.2`, `${name}.3`].slice(0, live.length))
    expect(live.length).toBeGreaterThanOrEqual(3)
    for (const chunk of live) expect(chunk.value.length).toBeLessThanOrEqual(3933)

    const jar = browserCookiesAfter(cookies, response)
    const session = (await decodeWith('next-auth-v4', name, joinSession(jar, name)!))!
    expect(session.profile_blob).toBe(bulky.profile_blob)
    expect(session.access_token).not.toBe(tokens.access_token)
    const forwarded = forwardedCookies(response)!
    expect(joinSession(forwarded, name)).toBe(joinSession(jar, name))
  })

  it('stale chunks are expired on the response and removed from the forwarded request', async () => {
    const tokens = await signInAtProvider()
    const name = COOKIE_NAMES['next-auth-v4'].plain
    // The old session carries a huge id_token (5 chunks); the provider's new one is small (1 cookie).
    const oldJwt = await encodeWith('next-auth-v4', name, sessionPayload(tokens, { expires_at: past(), id_token: 'h'.repeat(15000) }))
    const cookies: Record<string, string> = { other: 'keep-me' }
    for (let i = 0; i * 3933 < oldJwt.length; i++) cookies[`${name}.${i}`] = oldJwt.slice(i * 3933, (i + 1) * 3933)
    const chunkCount = Object.keys(cookies).length - 1
    expect(chunkCount).toBeGreaterThanOrEqual(5)

    const response = await middleware()(pageRequest('/', cookies))
    const written = setCookies(response)
    const expired = written.filter((c) => c.attributes['max-age'] === '0').map((c) => c.name)
    const live = written.filter((c) => c.attributes['max-age'] !== '0').map((c) => c.name)
    expect(live).toEqual([name])
    expect(expired.sort()).toEqual(
      Object.keys(cookies)
        .filter((n) => n.startsWith(`${name}.`))
        .sort(),
    )

    const forwarded = forwardedCookies(response)!
    expect(
      Object.keys(forwarded)
        .filter((n) => n.startsWith(name))
        .sort(),
    ).toEqual([name])
    expect(forwarded.other).toBe('keep-me')
    const session = (await decodeWith('next-auth-v4', name, forwarded[name]!))!
    expect(session.id_token).not.toBe('h'.repeat(15000))
  })
})

describe('sessions written by the older recipes', () => {
  it("reads accessToken/refreshToken/accessTokenExpires (ms) and writes them back under the same names and units, for the app's own callbacks", async () => {
    const tokens = await signInAtProvider()
    const name = COOKIE_NAMES['next-auth-v4'].plain
    const legacy = {
      sub: 'alice',
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      accessTokenExpires: Date.now() - 1000,
    }
    const jwt = await encodeWith('next-auth-v4', name, legacy)
    const response = await middleware()(pageRequest('/', { [name]: jwt }))
    const session = (await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!
    expect(session.accessToken).not.toBe(tokens.access_token)
    expect(session.refreshToken).not.toBe(tokens.refresh_token)
    expect(session.accessTokenExpires).toBeGreaterThan(Date.now())
    expect(session.accessTokenExpires).toBeLessThan(Date.now() + 3600 * 1000)
    // Not held twice: the Auth.js names are not added beside them.
    expect(session).not.toHaveProperty('access_token')
    expect(session).not.toHaveProperty('refresh_token')
  })

  it("refreshes the first Cognito article's absurd far-future expiry instead of trusting it", async () => {
    const tokens = await signInAtProvider()
    const name = COOKIE_NAMES['next-auth-v4'].plain
    const expiresAt = Math.floor(Date.now() / 1000) + tokens.expires_in
    // That article computed Date.now() + account.expires_at * 1000: about 56 years ahead.
    const jwt = await encodeWith('next-auth-v4', name, {
      sub: 'alice',
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      accessTokenExpires: Date.now() + expiresAt * 1000,
    })
    const response = await middleware()(pageRequest('/', { [name]: jwt }))
    const session = (await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!
    expect(session.accessToken).not.toBe(tokens.access_token)
    // Written back in that article's own unit (ms), and sane this time.
    expect(session.accessTokenExpires).toBeLessThan(Date.now() + 3600 * 1000)
  })
})

describe('failures', () => {
  it('invalid_grant ends the login: page navigations go to sign-in with a same-origin callbackUrl', async () => {
    const { tokens, cookies, name } = await expiredSession()
    await hooks().revoke(tokens.refresh_token)
    const response = await middleware()(pageRequest('/reports?tab=2', cookies))
    expect(response.status).toBe(307)
    const location = new URL(response.headers.get('location')!)
    expect(location.origin).toBe('http://app.test')
    expect(location.pathname).toBe('/api/auth/signin')
    expect(location.searchParams.get('callbackUrl')).toBe('/reports?tab=2')
    const session = (await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!
    expect(session.error).toBe('RefreshTokenError')
    expect(session).not.toHaveProperty('refresh_token')
    expect(response.headers.get('cache-control')).toBe('private, no-store')
  })

  it('regression: an ended login found on the sign-in page itself was redirected to the sign-in page again; it now shows that page, with the ended session', async () => {
    // The database middleware already left its sign-in page and basePath alone; both share one response now.
    const { tokens, cookies, name } = await expiredSession()
    await hooks().revoke(tokens.refresh_token)
    const response = await middleware({ signInPath: '/signin' })(pageRequest('/signin?x=1', cookies))
    expect(response.headers.get('location')).toBeNull()
    expect(response.headers.get('x-middleware-next')).toBe('1')
    expect((await decodeWith('next-auth-v4', name, forwardedCookies(response)![name]!))!.error).toBe('RefreshTokenError')
  })

  for (const [kind, path, headers] of [
    ['an RSC request', '/reports', { rsc: '1', 'sec-fetch-mode': 'cors', accept: 'text/x-component' }],
    ['a prefetch', '/reports', { 'next-router-prefetch': '1', rsc: '1', 'sec-fetch-mode': 'cors' }],
    ['a server action', '/reports', { 'next-action': 'abc123', 'sec-fetch-mode': 'cors', accept: 'text/x-component' }],
    ['an API call', '/api/data', { 'sec-fetch-mode': 'cors', accept: 'application/json' }],
  ] as const) {
    it(`invalid_grant does not redirect ${kind}: it continues with the error visible to the app`, async () => {
      const { tokens, cookies, name } = await expiredSession()
      await hooks().revoke(tokens.refresh_token)
      const response = await middleware()(pageRequest(path, cookies, { ...headers }))
      expect(response.status).toBe(200)
      expect(response.headers.get('x-middleware-next')).toBe('1')
      const forwarded = (await decodeWith('next-auth-v4', name, forwardedCookies(response)![name]!))!
      expect(forwarded.error).toBe('RefreshTokenError')
    })
  }

  it('a transient provider failure leaves the cookie untouched, backs off, then refreshes', async () => {
    const { tokens, cookies, name } = await expiredSession()
    await hooks().fail(503, { count: 1 })
    const handler = middleware()
    const failed = await handler(pageRequest('/', cookies))
    expect(failed.headers.get('x-middleware-next')).toBe('1')
    expect(setCookies(failed)).toEqual([])
    // Inside the back-off window nothing is sent to the provider.
    const during = await handler(pageRequest('/', cookies))
    expect(setCookies(during)).toEqual([])
    expect((await providerStats()).refreshRequests).toBe(1)

    await new Promise((resolve) => setTimeout(resolve, 250))
    const after = await handler(pageRequest('/', cookies))
    const session = (await decodeWith('next-auth-v4', name, setCookies(after)[0]!.value))!
    expect(session.access_token).not.toBe(tokens.access_token)
    expect((await providerStats()).refreshRequests).toBe(2)
  })

  it('a provider that cannot be reached is transient, not a logout', async () => {
    const { cookies } = await expiredSession()
    const handler = middleware({ providers: { oidc: oidc({ issuer: 'http://127.0.0.1:9', clientId: 'x', clientSecret: 'y' }) } })
    const response = await handler(pageRequest('/', cookies))
    expect(response.status).toBe(200)
    expect(setCookies(response)).toEqual([])
  })

  const unreadable: Array<[string, () => Promise<Record<string, string>>]> = [
    ['no cookie', async () => ({})],
    ['garbage', async () => ({ 'next-auth.session-token': 'not-a-jwt' })],
    [
      'a tampered JWT',
      async () => {
        const { cookies, name } = await expiredSession()
        const jwt = cookies[name]!
        return { [name]: jwt.slice(0, -4) + (jwt.endsWith('AAAA') ? 'BBBB' : 'AAAA') }
      },
    ],
    [
      'the wrong secret',
      async () => ({
        'next-auth.session-token': await (
          await import('next-auth/jwt')
        ).encode({ token: { sub: 'x', access_token: 'a', expires_at: 1 }, secret: 'another-secret' }),
      }),
    ],
    ['a broken chunk sequence', async () => ({ 'next-auth.session-token.0': 'abc', 'next-auth.session-token.2': 'def' })],
    ['an oversized cookie', async () => ({ 'next-auth.session-token': 'A'.repeat(64 * 1024) })],
  ]
  for (const [what, build] of unreadable) {
    it(`passes ${what} through untouched`, async () => {
      const response = await middleware()(pageRequest('/', await build()))
      expect(response.status).toBe(200)
      expect(response.headers.get('x-middleware-next')).toBe('1')
      expect(setCookies(response)).toEqual([])
    })
  }
})

describe('single flight in one isolate', () => {
  it('onResult reports each request the engine ran for: one provider refresh, the others picked up in the isolate; a throwing onResult changes nothing', async () => {
    const { cookies } = await expiredSession()
    const reports: Array<{ reason: string; source?: string; path: string }> = []
    const handler = middleware({
      onResult: (report, request) => {
        reports.push({ ...report, path: request.nextUrl.pathname })
        throw new Error('a broken metrics hook')
      },
    })
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => handler(pageRequest(`/page/${i}`, cookies))))
    expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200))
    expect(responses.every((response) => setCookies(response).length === 1)).toBe(true)
    expect(reports).toHaveLength(10)
    expect(reports.filter((report) => report.source === 'provider')).toHaveLength(1)
    expect(reports.filter((report) => report.source === 'isolate')).toHaveLength(9)
    expect(new Set(reports.map((report) => report.reason))).toEqual(new Set(['refreshed']))
    expect(JSON.stringify(reports)).not.toMatch(/access_token|refresh_token|eyJ/)
  })

  it('50 concurrent requests with the same expired session make exactly 1 provider call and get the same new token', async () => {
    const { tokens, cookies, name } = await expiredSession()
    const handler = middleware()
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => handler(pageRequest(`/page/${i}`, cookies))))

    const accessTokens = new Set<unknown>()
    const refreshTokens = new Set<unknown>()
    for (const response of responses) {
      expect(response.status).toBe(200)
      const session = (await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!
      accessTokens.add(session.access_token)
      refreshTokens.add(session.refresh_token)
      expect(session.error).toBeUndefined()
    }
    expect(accessTokens.size).toBe(1)
    expect(accessTokens.has(tokens.access_token)).toBe(false)
    expect(refreshTokens.size).toBe(1)
    const stats = await providerStats()
    expect(stats.refreshRequests).toBe(1)
    expect(stats.reuseDetected).toBe(0)
    expect((await refreshDirectly([...refreshTokens][0] as string)).status).toBe(200)
  })

  it('a request that arrives shortly after with the old cookie gets the same new tokens without a second call', async () => {
    const { cookies, name } = await expiredSession()
    const handler = middleware()
    const first = await handler(pageRequest('/', cookies))
    const late = await handler(pageRequest('/', cookies))
    const a = (await decodeWith('next-auth-v4', name, setCookies(first)[0]!.value))!
    const b = (await decodeWith('next-auth-v4', name, setCookies(late)[0]!.value))!
    expect(b.access_token).toBe(a.access_token)
    expect(b.refresh_token).toBe(a.refresh_token)
    expect((await providerStats()).refreshRequests).toBe(1)
  })
})

describe('regressions', () => {
  it('a result handed over inside the skew window is not refreshed again when the token lifetime is shorter than skewSeconds', async () => {
    // The provider's tokens live 4 s; with a 600 s skew every new token is "inside the window". The
    // engine once followed such a hand-over with a second refresh, so concurrent requests got
    // different tokens and the provider saw a chain of refreshes.
    const { cookies, name } = await expiredSession()
    const handler = middleware({ skewSeconds: 600 })
    const responses = await Promise.all(Array.from({ length: 10 }, () => handler(pageRequest('/', cookies))))
    const late = await handler(pageRequest('/', cookies))
    const tokens = new Set<unknown>()
    for (const response of [...responses, late])
      tokens.add((await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!.access_token)
    expect(tokens.size).toBe(1)
    expect((await providerStats()).refreshRequests).toBe(1)
  })
})

describe('safe with its defaults', () => {
  const inSkew = () => Math.floor(Date.now() / 1000) + 30

  it('regression: with memoryStore a proactive refresh runs in the foreground, so its cookie reaches the browser on that response', async () => {
    // A background result lives only in this isolate's memory: other isolates, and the Node server
    // behind them (its own memory store), would present the spent token with the old cookie.
    const tokens = await signInAtProvider()
    const name = COOKIE_NAMES['next-auth-v4'].plain
    const cookies = { [name]: await encodeWith('next-auth-v4', name, sessionPayload(tokens, { expires_at: inSkew() })) }
    const waited: Promise<unknown>[] = []
    const event = { waitUntil: (promise: Promise<unknown>) => void waited.push(promise) }
    const response = await middleware()(pageRequest('/', cookies), event as never)
    expect(waited).toHaveLength(0)
    const session = (await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!
    expect(session.access_token).not.toBe(tokens.access_token)
    expect(forwardedCookies(response)![name]).toBe(setCookies(response)[0]!.value)
    expect((await providerStats()).refreshRequests).toBe(1)
  })

  it('regression: a token living no longer than skewSeconds is refreshed at half its lifetime, with one warning per isolate, not on every request', async () => {
    // 4 s tokens against the default 60 s skew: every fresh token used to be due at once.
    const warnings: string[] = []
    const handler = middleware({ logger: { warn: (message: string) => warnings.push(message), error: () => {} } })
    const { cookies, name } = await expiredSession()
    const first = await handler(pageRequest('/', cookies))
    const jar = { [name]: setCookies(first)[0]!.value }
    const refreshed = (await decodeWith('next-auth-v4', name, jar[name]!))!
    expect(refreshed.refreshed_at).toBeTypeOf('number')
    for (let i = 0; i < 5; i++) {
      const response = await handler(pageRequest('/', jar))
      expect(setCookies(response)).toEqual([])
    }
    expect((await providerStats()).refreshRequests).toBe(1)
    expect(warnings.filter((message) => message.includes('at or below skewSeconds'))).toHaveLength(1)

    // Past half its lifetime it is refreshed, once.
    await new Promise((resolve) =>
      setTimeout(resolve, ((refreshed.expires_at as number) - (refreshed.refreshed_at as number)) * 500 + 1100),
    )
    const later = await handler(pageRequest('/', jar))
    expect(setCookies(later)).toHaveLength(1)
    expect((await providerStats()).refreshRequests).toBe(2)
    expect(warnings.filter((message) => message.includes('at or below skewSeconds'))).toHaveLength(1)
  })

  it('basePath sets the sign-in redirect and the paths unauthorizedApi leaves alone', async () => {
    const { tokens, cookies } = await expiredSession()
    await hooks().revoke(tokens.refresh_token)
    const page = await middleware({ basePath: '/auth' })(pageRequest('/reports?tab=2', cookies))
    expect(page.headers.get('location')).toBe('http://app.test/auth/signin?callbackUrl=%2Freports%3Ftab%3D2')
    const handler = middleware({ basePath: '/api/v1/auth/', unauthorizedApi: true })
    const json = { accept: 'application/json', 'sec-fetch-mode': 'cors' }
    expect((await handler(pageRequest('/api/data', cookies, json))).status).toBe(401)
    // next-auth's own routes under basePath (what useSession() polls) are never answered for it.
    const own = await handler(pageRequest('/api/v1/auth/session', cookies, json))
    expect(own.headers.get('x-middleware-next')).toBe('1')
    expect((await decodeWith('next-auth-v4', COOKIE_NAMES['next-auth-v4'].plain, setCookies(own)[0]!.value))!.error).toBe(
      'RefreshTokenError',
    )
  })

  it('regression: a custom __Host- cookie name is written with Secure, or browsers drop it', async () => {
    const tokens = await signInAtProvider()
    const name = '__Host-app.session'
    const cookies = { [name]: await encodeWith('next-auth-v4', name, sessionPayload(tokens, { expires_at: past() })) }
    const response = await middleware({ cookieName: name })(pageRequest('/', cookies, {}, 'https://app.test'))
    const [cookie] = setCookies(response)
    expect(cookie).toMatchObject({ name, attributes: { secure: true, path: '/' } })
  })

  it('a custom-named Auth.js cookie is recognised by what decodes it, and written back in that format', async () => {
    const tokens = await signInAtProvider()
    const name = 'app.session'
    const cookies = { [name]: await encodeWith('authjs-v5', name, sessionPayload(tokens, { expires_at: past() })) }
    const response = await middleware({ cookieName: name, jwt: AUTHJS_V5_CODEC })(pageRequest('/', cookies))
    const session = (await decodeWith('authjs-v5', name, setCookies(response)[0]!.value))!
    expect(session.access_token).not.toBe(tokens.access_token)
  })
})

describe('hostile input and misbehaving parts', () => {
  it('regression: a path starting with // or /\\ cannot turn callbackUrl into another origin', async () => {
    for (const path of ['//evil.test/steal', '/\\evil.test/steal']) {
      const { tokens, cookies } = await expiredSession()
      await hooks().revoke(tokens.refresh_token)
      const request = pageRequest('/', cookies)
      request.nextUrl.pathname = path
      const response = await middleware()(new NextRequest(request.nextUrl, request))
      const location = new URL(response.headers.get('location')!)
      const callbackUrl = location.searchParams.get('callbackUrl')!
      expect(callbackUrl, path).toMatch(/^\/[^/\\]/)
      expect(new URL(callbackUrl, 'http://app.test').origin).toBe('http://app.test')
    }
  })

  it('regression: a planted cookie under another session name does not hide the real session', async () => {
    const { tokens, cookies, name } = await expiredSession()
    const response = await middleware()(pageRequest('/', { '__Secure-authjs.session-token': 'garbage', ...cookies }))
    const written = setCookies(response).find((cookie) => cookie.name === name)
    expect((await decodeWith('next-auth-v4', name, written!.value))!.access_token).not.toBe(tokens.access_token)
  })

  it('regression: the forwarded Cookie header changes the session cookie only, every other pair byte for byte', async () => {
    const { cookies, name } = await expiredSession()
    const others = 'pct=100%; bad=%E0%A4%A; dup=1; dup=2; flag; spaced=a b'
    const response = await middleware()(pageRequest('/', {}, { cookie: `${others}; ${name}=${cookies[name]}` }))
    const forwarded = response.headers.get('x-middleware-request-cookie')!
    expect(forwarded.startsWith(`${others}; ${name}=`)).toBe(true)
    expect(forwarded.slice(others.length + name.length + 3)).toBe(setCookies(response)[0]!.value)
  })

  it('regression: a provider that throws frees the lock and rests, like any transient failure', async () => {
    const { cookies } = await expiredSession()
    const store = memoryStore()
    // The lock is freed by publishing the shared back-off.
    let releases = 0
    const spied = {
      ...store,
      publish: (key: string, lockId: string, sealed: string, ttlMs: number) => ((releases += 1), store.publish(key, lockId, sealed, ttlMs)),
    }
    let calls = 0
    const throwing = { kind: 'hand-written', refresh: async () => ((calls += 1), Promise.reject(new Error('boom'))) }
    const handler = middleware({ providers: { oidc: throwing }, store: spied, retryAfterMs: 60_000 })
    for (let i = 0; i < 3; i++) expect((await handler(pageRequest('/', cookies))).headers.get('x-middleware-next')).toBe('1')
    expect(calls).toBe(1)
    expect(releases).toBe(1)
  })

  it('regression: a session naming constructor, toString or __proto__ as its provider is an unknown provider, not a crash or a stuck lock', async () => {
    const warnings: string[] = []
    for (const provider of ['constructor', 'toString', '__proto__']) {
      const { cookies } = await expiredSession('next-auth-v4', undefined, { provider })
      const handler = middleware({
        providers: { oidc: localOidc(), google: localOidc() },
        logger: { warn: (message: string) => warnings.push(message), error: (message: string) => warnings.push(`error ${message}`) },
      })
      const response = await handler(pageRequest('/', cookies))
      expect(response.headers.get('x-middleware-next')).toBe('1')
      expect(setCookies(response)).toEqual([])
    }
    expect(warnings.filter((message) => message.startsWith('error'))).toEqual([])
    expect(warnings.filter((message) => message.includes('not in options.providers'))).toHaveLength(3)
    expect((await providerStats()).refreshRequests).toBe(0)
  })

  it('regression: a provider error text carrying the refresh token never reaches the log', async () => {
    const { tokens, cookies } = await expiredSession()
    const warnings: string[] = []
    const hostile = async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input)
      if (!url.includes('/token')) return fetch(input, init)
      return new Response(
        JSON.stringify({ error: `bad_token ${tokens.refresh_token}\n[edge-refresh] forged`, error_description: tokens.refresh_token }),
        {
          status: 400,
          headers: { 'content-type': 'application/json' },
        },
      )
    }
    const handler = middleware({
      fetch: hostile,
      logger: { warn: (message: string) => warnings.push(message), error: (message: string) => warnings.push(message) },
    })
    await handler(pageRequest('/', cookies))
    expect(warnings.length).toBeGreaterThan(0)
    for (const message of warnings) {
      expect(message).not.toContain(tokens.refresh_token)
      expect(message).not.toContain('forged')
    }
    expect(warnings.join('\n')).toContain('unrecognised error code (HTTP 400)')
  })
})

describe('misuse at creation', () => {
  it.each([
    ['CONFIG_SECRET_MISSING', { secret: '' }],
    ['CONFIG_PROVIDERS_MISSING', { providers: {} }],
    ['CONFIG_INVALID_OPTION', { skewSeconds: -1 }],
    ['CONFIG_INVALID_OPTION', { leaseMs: 1000 }],
    ['CONFIG_INVALID_OPTION', { signInPath: 'https://evil.test/login' }],
    ['CONFIG_INVALID_OPTION', { basePath: 'auth' }],
    // regression: the lease check disagreed with its own message; the one rule is leaseMs ≥ 3 × storeTimeoutMs + 750
    ['CONFIG_INVALID_OPTION', { leaseMs: 3749 }],
    ['CONFIG_INVALID_OPTION', { providerCallLimitMs: 1000 }],
    ['CONFIG_INVALID_OPTION', { inDoubt: 'never' }],
    ['CONFIG_INVALID_OPTION', { deadlineMs: 1000 }],
    ['CONFIG_INVALID_OPTION', { storeOutage: 'retry' }],
  ])('throws %s', (code, overrides) => {
    let thrown: unknown
    try {
      middleware(overrides as Partial<RefreshMiddlewareOptions>)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(RefreshConfigError)
    expect((thrown as RefreshConfigError).code).toBe(code)
  })
})
