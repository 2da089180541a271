import { beforeEach, describe, expect, it } from 'vitest'
import { createRefreshMiddleware, memoryStore, refreshCallbacks, type SignInAccount } from '../lib'
import {
  COOKIE_NAMES,
  SECRET,
  decodeWith,
  encodeWith,
  pageRequest,
  hooks,
  providerStats,
  sessionPayload,
  setCookies,
  signInAtProvider,
  quietLogger,
  localOidc,
} from './support/sessions'

const providers = () => ({ oidc: localOidc() })

beforeEach(async () => {
  await hooks().reset()
})

describe('refreshCallbacks', () => {
  it('jwt stores the provider tokens at sign-in, computing expires_at from expires_in when absent', async () => {
    const tokens = await signInAtProvider()
    const { jwt } = refreshCallbacks({ secret: SECRET, providers: providers(), logger: quietLogger })
    const before = Math.floor(Date.now() / 1000)
    const token = await jwt({
      token: { sub: 'alice', name: 'alice', email: 'alice@example.test' },
      account: {
        provider: 'oidc',
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        id_token: tokens.id_token!,
        expires_in: tokens.expires_in,
      },
    })
    expect(token).toMatchObject({
      sub: 'alice',
      email: 'alice@example.test',
      provider: 'oidc',
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      id_token: tokens.id_token,
    })
    expect(token.expires_at).toBeGreaterThanOrEqual(before + tokens.expires_in)
    expect(token.expires_at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + tokens.expires_in)

    const withExpiresAt = await jwt({ token: {}, account: { provider: 'oidc', access_token: 'a', expires_at: before + 1234 } })
    expect(withExpiresAt.expires_at).toBe(before + 1234)
  })

  it('session exposes error and expiry, and the access token only when asked', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 3600
    const token = { sub: 'alice', access_token: 'opaque', expires_at: expiresAt, error: 'RefreshTokenError' }
    const hidden = await refreshCallbacks({ secret: SECRET, providers: providers() }).session({
      session: { user: { name: 'alice' } },
      token,
    })
    expect(hidden).toEqual({ user: { name: 'alice' }, error: 'RefreshTokenError', expiresAt })
    const shown = await refreshCallbacks({ secret: SECRET, providers: providers(), exposeAccessToken: true }).session({
      session: {},
      token,
    })
    expect(shown.accessToken).toBe('opaque')
  })

  it('jwt refreshes an expired token through the same store as the middleware: no second provider call', async () => {
    const tokens = await signInAtProvider()
    const store = memoryStore()
    const name = COOKIE_NAMES['next-auth-v4'].plain
    const payload = sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) - 5 })
    const middleware = createRefreshMiddleware({ secret: SECRET, providers: providers(), store, logger: quietLogger })
    const response = await middleware(pageRequest('/', { [name]: await encodeWith('next-auth-v4', name, payload) }))
    const fromMiddleware = (await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!

    // A request that did not pass through the middleware still carries the old token.
    const { jwt } = refreshCallbacks({ secret: SECRET, providers: providers(), store, logger: quietLogger })
    const fromCallback = await jwt({ token: payload })
    expect(fromCallback.access_token).toBe(fromMiddleware.access_token)
    expect(fromCallback.refresh_token).toBe(fromMiddleware.refresh_token)
    expect((await providerStats()).refreshRequests).toBe(1)
  })

  it('jwt marks the login ended on invalid_grant', async () => {
    const tokens = await signInAtProvider()
    await hooks().revoke(tokens.refresh_token)
    const { jwt } = refreshCallbacks({ secret: SECRET, providers: providers(), logger: quietLogger })
    const token = await jwt({ token: sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) - 5 }) })
    expect(token.error).toBe('RefreshTokenError')
    expect(token).not.toHaveProperty('refresh_token')
  })

  it('regression: a refresh made by the jwt callback outlives the grace window, so the old cookie never presents a spent token', async () => {
    // Inside a server component the callback cannot write the cookie. Its result used to be kept
    // for graceSeconds only: the browser's next request, minutes later, presented the spent refresh
    // token and the provider's reuse detection ended the login.
    let offsetMs = 0
    const now = () => Date.now() + offsetMs
    const store = memoryStore({ now })
    const tokens = await signInAtProvider()
    const name = COOKIE_NAMES['next-auth-v4'].plain
    const payload = sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) - 5 })
    const options = { secret: SECRET, providers: providers(), store, now, graceSeconds: 60, logger: quietLogger }

    const refreshed = await refreshCallbacks(options).jwt({ token: payload })
    expect(refreshed.access_token).not.toBe(tokens.access_token)

    offsetMs = 10 * 60 * 1000
    const response = await createRefreshMiddleware(options)(pageRequest('/', { [name]: await encodeWith('next-auth-v4', name, payload) }))
    const session = (await decodeWith('next-auth-v4', name, setCookies(response)[0]!.value))!
    expect(session.error).toBeUndefined()
    const stats = await providerStats()
    expect(stats.reuseDetected).toBe(0)
    // The stored result's own token has expired by then too: one more refresh, with the new token.
    expect(stats.refreshRequests).toBe(2)
  })

  it("regression: with its default skew the jwt callback leaves a token inside the middleware's skew window alone", async () => {
    // A server component's auth() used to refresh with the middleware's 60 s skew while the
    // middleware refreshed the same token: two refreshes of one token, reuse detected, login lost.
    const tokens = await signInAtProvider()
    const token = sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) + 30 })
    const result = await refreshCallbacks({ secret: SECRET, providers: providers(), logger: quietLogger }).jwt({ token })
    expect(result.access_token).toBe(tokens.access_token)
    expect((await providerStats()).refreshRequests).toBe(0)
  })

  it("wraps the app's own jwt and session callbacks and keeps their fields, at sign-in and after a refresh", async () => {
    const tokens = await signInAtProvider()
    const { jwt, session } = refreshCallbacks(
      { secret: SECRET, providers: providers(), logger: quietLogger },
      {
        jwt({ token, account }: { token: Record<string, unknown>; account?: SignInAccount | null }) {
          return account ? { ...token, idToken: account.id_token, role: 'admin' } : token
        },
        session({ session, token }: { session: Record<string, unknown>; token?: Record<string, unknown> }) {
          return { ...session, accessToken: token?.access_token, idToken: token?.idToken, role: token?.role }
        },
      },
    )
    const signedIn = await jwt({
      token: { sub: 'alice' },
      account: {
        provider: 'oidc',
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        id_token: tokens.id_token!,
        expires_at: Math.floor(Date.now() / 1000) - 5,
      },
    })
    expect(signedIn).toMatchObject({ sub: 'alice', access_token: tokens.access_token, idToken: tokens.id_token, role: 'admin' })

    const refreshed = await jwt({ token: signedIn })
    expect(refreshed.access_token).not.toBe(tokens.access_token)
    expect(refreshed.role).toBe('admin')
    const visible = await session({ session: { user: { name: 'alice' } }, token: refreshed })
    expect(visible).toMatchObject({
      user: { name: 'alice' },
      accessToken: refreshed.access_token,
      role: 'admin',
      expiresAt: refreshed.expires_at,
    })
    expect((await providerStats()).refreshRequests).toBe(1)
  })
})
