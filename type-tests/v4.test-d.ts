/**
 * The public API against next-auth v4's own typings: what a v4 app writes must type-check with no
 * cast, and the app's callbacks must get next-auth's parameter types. Checked by `tsc` through
 * vitest's typecheck mode (nothing here runs).
 */
import type { AuthOptions, Session } from 'next-auth'
import type { JWT } from 'next-auth/jwt'
import { withAuth, type NextRequestWithAuth } from 'next-auth/middleware'
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server'
import {
  createRefreshMiddleware,
  memoryStore,
  oidc,
  refreshCallbacks,
  withRefresh,
  type RefreshedSessionFields,
} from 'next-auth-edge-refresh'
import { describe, expectTypeOf, it } from 'vitest'

declare module 'next-auth' {
  interface Session {
    accessToken?: string
  }
}

const refreshOptions = { secret: 's', providers: { oidc: oidc({ issuer: 'https://idp.example', clientId: 'c' }) }, store: memoryStore() }

describe('next-auth v4 typings', () => {
  it('refreshCallbacks wraps the app callbacks and gives them next-auth v4 parameter types', () => {
    const options: AuthOptions = {
      providers: [],
      callbacks: {
        ...refreshCallbacks(refreshOptions, {
          jwt({ token, account }) {
            expectTypeOf(token).toEqualTypeOf<JWT>()
            if (account) token.idToken = account.id_token
            return token
          },
          session({ session, token }) {
            expectTypeOf(session).toEqualTypeOf<Session>()
            expectTypeOf(token).toEqualTypeOf<JWT>()
            session.accessToken = typeof token.access_token === 'string' ? token.access_token : undefined
            return session
          },
        }),
        redirect({ baseUrl }) {
          expectTypeOf(baseUrl).toEqualTypeOf<string>()
          return baseUrl
        },
      },
    }
    expectTypeOf(options.callbacks).not.toBeUndefined()
  })

  it('refreshCallbacks alone fits AuthOptions["callbacks"], spread or not', () => {
    const direct: AuthOptions['callbacks'] = refreshCallbacks(refreshOptions)
    const spread: AuthOptions['callbacks'] = { ...refreshCallbacks(refreshOptions) }
    expectTypeOf(direct).toMatchTypeOf<AuthOptions['callbacks']>()
    expectTypeOf(spread).toMatchTypeOf<AuthOptions['callbacks']>()
  })

  it('the session callback adds the refresh fields to the session type when the app keeps none', async () => {
    const { session } = refreshCallbacks(refreshOptions)
    const result = await session({ session: { user: { name: 'a' }, expires: '' }, token: {} })
    expectTypeOf(result).toMatchTypeOf<RefreshedSessionFields>()
    expectTypeOf(result.error).toEqualTypeOf<'RefreshTokenError' | undefined>()
  })

  it('withRefresh takes withAuth(...) in both its forms, and a plain function', () => {
    const refresh = createRefreshMiddleware(refreshOptions)
    const gate = withRefresh(refresh, withAuth({ pages: { signIn: '/signin' } }))
    withRefresh(
      refresh,
      withAuth(
        (request) => {
          expectTypeOf(request).toEqualTypeOf<NextRequestWithAuth>()
          return NextResponse.next()
        },
        { pages: { signIn: '/signin' } },
      ),
    )
    withRefresh(refresh, (request: NextRequest) =>
      request.nextUrl.pathname === '/old' ? NextResponse.redirect(new URL('/new', request.url)) : undefined,
    )
    expectTypeOf(gate).toEqualTypeOf<(request: NextRequest, event: NextFetchEvent) => Promise<Response>>()
  })

  it('rejects what is not a middleware or not an option', () => {
    const refresh = createRefreshMiddleware(refreshOptions)
    // @ts-expect-error a string is not a middleware
    withRefresh(refresh, 'withAuth')
    // @ts-expect-error skewSeconds is a number of seconds
    createRefreshMiddleware({ ...refreshOptions, skewSeconds: '60' })
    // @ts-expect-error providers are built with oidc(), cognito() or google()
    createRefreshMiddleware({ ...refreshOptions, providers: { oidc: { issuer: 'https://idp.example' } } })
  })
})
