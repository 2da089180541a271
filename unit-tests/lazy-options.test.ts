/**
 * Options given as a function are read on first use, once: `next build` imports middleware.ts and
 * auth.ts where no secret is set, and must not fail there (issue 16: "next build fails without the
 * secret"). Options given as an object are still checked at creation.
 */
import { NextRequest } from 'next/server.js'
import { describe, expect, it, vi } from 'vitest'
import { once } from '../lib/util/lazy-options'
import { createRefreshMiddleware, type RefreshMiddlewareOptions } from '../lib/next/middleware'
import { refreshCallbacks } from '../lib/next/callbacks'
import { createAccountRefresher } from '../lib/database/account-refresher'
import { createDatabaseRefreshMiddleware } from '../lib/next/database-middleware'
import { RefreshConfigError } from '../lib/errors'
import { isLoginEnded, REFRESH_TOKEN_ERROR } from '../lib/client'
import type { RefreshProvider } from '../lib/providers/provider'

const provider: RefreshProvider = { kind: 'test', refresh: () => Promise.resolve({ reason: 'invalid_grant' }) }
const quiet = { warn: () => undefined, error: () => undefined }
const request = () => new NextRequest('https://app.test/page')

describe('once', () => {
  it('builds from an object at once, and never again', () => {
    const build = vi.fn((options: { n: number }) => options.n * 2)
    const value = once({ n: 2 }, build)
    expect(build).toHaveBeenCalledTimes(1)
    expect([value(), value()]).toEqual([4, 4])
    expect(build).toHaveBeenCalledTimes(1)
  })

  it('calls a function on first use only, then keeps what it built', () => {
    const read = vi.fn(() => ({ n: 3 }))
    const value = once(read, (options) => options.n * 2)
    expect(read).not.toHaveBeenCalled()
    expect([value(), value(), value()]).toEqual([6, 6, 6])
    expect(read).toHaveBeenCalledTimes(1)
  })

  it('does not remember a throw: the next use reads the options again', () => {
    const env: { secret?: string } = {}
    const value = once(
      () => env.secret,
      (found) => {
        if (!found) throw new RefreshConfigError('CONFIG_SECRET_MISSING', 'secret is required')
        return found
      },
    )
    expect(() => value()).toThrow(RefreshConfigError)
    env.secret = 'set'
    expect(value()).toBe('set')
  })
})

describe('lazy options in the four factories', () => {
  it('createRefreshMiddleware(() => options) reads nothing at creation, reads once, reports a missing secret on the first request', async () => {
    const read = vi.fn((): RefreshMiddlewareOptions => ({
      secret: 'a-secret-of-enough-length-0123456789',
      providers: { oidc: provider },
      logger: quiet,
    }))
    const middleware = createRefreshMiddleware(read)
    expect(read).not.toHaveBeenCalled()
    await middleware(request())
    await middleware(request())
    expect(read).toHaveBeenCalledTimes(1)

    const missing = createRefreshMiddleware(() => ({ secret: '', providers: { oidc: provider } }))
    expect(() => missing(request())).toThrow(RefreshConfigError)
    // Given as an object, the same mistake is reported at creation, as before.
    expect(() => createRefreshMiddleware({ secret: '', providers: { oidc: provider } })).toThrow(RefreshConfigError)
  })

  it('refreshCallbacks(() => options) reads on the first callback', async () => {
    const read = vi.fn(() => ({ secret: 'a-secret-of-enough-length-0123456789', providers: { oidc: provider }, logger: quiet }))
    const callbacks = refreshCallbacks(read)
    expect(read).not.toHaveBeenCalled()
    const session = await callbacks.session({ session: {}, token: { error: REFRESH_TOKEN_ERROR } })
    expect(session).toEqual({ error: REFRESH_TOKEN_ERROR })
    await callbacks.jwt({ token: {} })
    expect(read).toHaveBeenCalledTimes(1)
  })

  it('createAccountRefresher and createDatabaseRefreshMiddleware read on first use', async () => {
    const accounts = {
      getAccount: () => Promise.resolve(null),
      saveAccount: () => Promise.resolve(true),
      userIdOfSession: () => Promise.resolve(null),
    }
    const read = vi.fn(() => ({ secret: 'a-secret-of-enough-length-0123456789', providers: { oidc: provider }, accounts, logger: quiet }))
    const refresher = createAccountRefresher(read)
    const middleware = createDatabaseRefreshMiddleware(read)
    expect(read).not.toHaveBeenCalled()
    expect(await refresher.refresh('user-1')).toEqual({ reason: 'no-account' })
    const withCookie = new NextRequest('https://app.test/page', { headers: { cookie: 'authjs.session-token=abc' } })
    expect((await middleware(withCookie)).headers.get('x-middleware-next')).toBe('1')
    expect(read).toHaveBeenCalledTimes(2)
  })
})

describe('the client entry', () => {
  it('isLoginEnded is true only for a session whose login ended', () => {
    expect(isLoginEnded({ error: REFRESH_TOKEN_ERROR })).toBe(true)
    expect(isLoginEnded({ expiresAt: 1 })).toBe(false)
    expect(isLoginEnded(null)).toBe(false)
    expect(isLoginEnded(undefined)).toBe(false)
  })
})
