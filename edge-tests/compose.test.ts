/**
 * `withRefresh`: the refresh in front of the app's own middleware, with next-auth v4's real
 * `withAuth` and Auth.js v5's real `auth` (each decoding with its own line's codec), and plain
 * functions returning every kind of answer a middleware can give.
 */
import { withAuth } from 'next-auth/middleware'
import { getToken } from 'next-auth/jwt'
import NextAuth from 'next-auth-v5'
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server'
import { beforeEach, describe, expect, it } from 'vitest'
import { createRefreshMiddleware, withRefresh, type RefreshMiddlewareOptions } from '../lib'
import {
  AUTHJS_V5_CODEC,
  COOKIE_NAMES,
  SECRET,
  decodeWith,
  encodeWith,
  forwardedCookies,
  localOidc,
  pageRequest,
  hooks,
  providerStats,
  quietLogger,
  sessionPayload,
  setCookies,
  signInAtProvider,
  type Format,
} from './support/sessions'

const V4 = COOKIE_NAMES['next-auth-v4'].plain
const V5 = COOKIE_NAMES['authjs-v5'].plain
const past = () => Math.floor(Date.now() / 1000) - 5

function refresh(overrides: Partial<RefreshMiddlewareOptions> = {}) {
  return createRefreshMiddleware({ secret: SECRET, providers: { oidc: localOidc() }, logger: quietLogger, retryAfterMs: 200, ...overrides })
}

async function expiredCookie(format: Format = 'next-auth-v4') {
  const tokens = await signInAtProvider()
  const name = COOKIE_NAMES[format].plain
  return { tokens, cookies: { [name]: await encodeWith(format, name, sessionPayload(tokens, { expires_at: past() })) } }
}

/** A NextFetchEvent stand-in: middleware only ever calls waitUntil on it. */
function fetchEvent(): NextFetchEvent {
  const pending: Promise<unknown>[] = []
  return {
    waitUntil: (promise: Promise<unknown>) => void pending.push(promise),
    sourcePage: '/',
    request: undefined,
  } as unknown as NextFetchEvent
}

beforeEach(async () => {
  await hooks().reset()
})

describe('withRefresh with plain app middleware', () => {
  it('the app middleware sees the refreshed session, and its next() carries the new cookie both ways', async () => {
    const { tokens, cookies } = await expiredCookie()
    let seen: string | undefined
    const app = async (request: NextRequest) => {
      const token = await getToken({ req: request, secret: SECRET, cookieName: V4 })
      seen = token?.access_token as string | undefined
      return NextResponse.next()
    }
    const response = await withRefresh(refresh(), app)(pageRequest('/dashboard', cookies), fetchEvent())

    expect(seen).toBeDefined()
    expect(seen).not.toBe(tokens.access_token)
    const [cookie] = setCookies(response)
    expect(cookie?.name).toBe(V4)
    expect((await decodeWith('next-auth-v4', V4, cookie!.value))!.access_token).toBe(seen)
    expect((await decodeWith('next-auth-v4', V4, forwardedCookies(response)![V4]!))!.access_token).toBe(seen)
    expect(response.headers.get('cache-control')).toBe('private, no-store')
    expect((await providerStats()).refreshRequests).toBe(1)
  })

  it('keeps a rewrite, its own response, an immutable Response.redirect and a 401, each with the new cookie', async () => {
    const answers: Record<string, (request: NextRequest) => Response> = {
      rewrite: (request) => NextResponse.rewrite(new URL('/elsewhere', request.url)),
      json: () => NextResponse.json({ ok: true }, { status: 202 }),
      redirect: (request) => Response.redirect(new URL('/moved', request.url), 308),
      unauthorized: () => new Response('no', { status: 401 }),
    }
    for (const [kind, answer] of Object.entries(answers)) {
      const { cookies } = await expiredCookie()
      const response = await withRefresh(refresh(), answer)(pageRequest('/x', cookies), fetchEvent())
      expect(
        setCookies(response).map((c) => c.name),
        kind,
      ).toEqual([V4])
      if (kind === 'rewrite') {
        expect(response.headers.get('x-middleware-rewrite')).toContain('/elsewhere')
        expect(forwardedCookies(response)?.[V4], kind).toBe(setCookies(response)[0]!.value)
      }
      if (kind === 'json') expect(await response.json()).toEqual({ ok: true })
      if (kind === 'redirect') expect([response.status, response.headers.get('location')]).toEqual([308, 'http://app.test/moved'])
      if (kind === 'unauthorized') expect(response.status).toBe(401)
    }
  })

  it('an app middleware returning nothing lets the refreshed request through', async () => {
    const { cookies } = await expiredCookie()
    const response = await withRefresh(refresh(), () => undefined)(pageRequest('/x', cookies), fetchEvent())
    expect(response.headers.get('x-middleware-next')).toBe('1')
    expect(forwardedCookies(response)?.[V4]).toBe(setCookies(response)[0]!.value)
  })

  it("an ended login's redirect to sign-in wins: the app middleware does not run", async () => {
    const { tokens, cookies } = await expiredCookie()
    await hooks().revoke(tokens.refresh_token)
    let ran = false
    const response = await withRefresh(refresh({ basePath: '/auth' }), () => {
      ran = true
      return NextResponse.next()
    })(pageRequest('/reports', cookies), fetchEvent())
    expect(ran).toBe(false)
    expect(response.status).toBe(307)
    expect(response.headers.get('location')).toBe('http://app.test/auth/signin?callbackUrl=%2Freports')
  })

  it('a fresh session passes to the app middleware with nothing added', async () => {
    const tokens = await signInAtProvider()
    const cookies = {
      [V4]: await encodeWith('next-auth-v4', V4, sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) + 3600 })),
    }
    const response = await withRefresh(refresh(), () => NextResponse.json({ fine: true }))(pageRequest('/x', cookies), fetchEvent())
    expect(setCookies(response)).toEqual([])
    expect(response.headers.get('cache-control')).toBeNull()
  })
})

describe('withRefresh in front of next-auth v4 withAuth', () => {
  const gate = () => withAuth({ secret: SECRET, pages: { signIn: '/signin' } })

  it('the gate still stops a request without a session', async () => {
    const response = await withRefresh(refresh(), gate())(pageRequest('/dashboard', {}), fetchEvent())
    expect(response.status).toBe(307)
    expect(new URL(response.headers.get('location')!).pathname).toBe('/signin')
  })

  it('an expired session is refreshed before the gate reads it, and the gate lets it through with the new cookie', async () => {
    const { tokens, cookies } = await expiredCookie()
    const response = await withRefresh(refresh(), gate())(pageRequest('/dashboard', cookies), fetchEvent())
    expect(response.headers.get('x-middleware-next')).toBe('1')
    const session = (await decodeWith('next-auth-v4', V4, forwardedCookies(response)![V4]!))!
    expect(session.access_token).not.toBe(tokens.access_token)
    expect(setCookies(response)[0]!.value).toBe(forwardedCookies(response)![V4])
  })
})

describe('withRefresh in front of Auth.js v5 auth', () => {
  // Auth.js builds its own URLs from these (next start sends them); without them it assumes https
  // and looks for the __Secure- cookie.
  const proxyHeaders = { host: 'app.test', 'x-forwarded-proto': 'http' }
  const authjs = () =>
    NextAuth({
      secret: SECRET,
      trustHost: true,
      basePath: '/auth',
      providers: [],
      session: { strategy: 'jwt' },
      callbacks: { authorized: ({ auth }) => !!auth },
    })

  it('the authorized callback still stops a request without a session', async () => {
    const { auth } = authjs()
    const response = await withRefresh(refresh({ basePath: '/auth', jwt: AUTHJS_V5_CODEC }), auth)(
      pageRequest('/dashboard', {}, proxyHeaders),
      fetchEvent(),
    )
    expect([302, 307]).toContain(response.status)
    expect(new URL(response.headers.get('location')!).pathname).toBe('/auth/signin')
  })

  it('auth(fn) sees the refreshed session; the cookie it writes back holds the new tokens', async () => {
    const { tokens, cookies } = await expiredCookie('authjs-v5')
    const { auth } = authjs()
    let seen: unknown
    const app = auth((request) => {
      seen = request.auth
      return NextResponse.next()
    })
    const response = await withRefresh(refresh({ basePath: '/auth', jwt: AUTHJS_V5_CODEC }), app)(
      pageRequest('/dashboard', cookies, proxyHeaders),
      fetchEvent(),
    )
    expect(seen).toBeTruthy()
    const written = setCookies(response).filter((cookie) => cookie.name === V5)
    expect(written).toHaveLength(1)
    const session = (await decodeWith('authjs-v5', V5, written[0]!.value))!
    expect(session.access_token).not.toBe(tokens.access_token)
    expect((await decodeWith('authjs-v5', V5, forwardedCookies(response)![V5]!))!.access_token).toBe(session.access_token)
    expect((await providerStats()).refreshRequests).toBe(1)
  })
})
