/**
 * The public API against Auth.js v5's own typings (`next-auth@5.0.0-beta.32`, installed here under
 * the alias `next-auth-v5`): the config an Auth.js app writes must type-check with no cast.
 */
import NextAuth, { type NextAuthConfig, type Session } from 'next-auth-v5'
import type { JWT } from 'next-auth-v5/jwt'
import { encode, decode } from 'next-auth-v5/jwt'
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server'
import { createRefreshMiddleware, oidc, refreshCallbacks, withRefresh, type SessionCodec } from 'next-auth-edge-refresh'
import { describe, expectTypeOf, it } from 'vitest'

const refreshOptions = { secret: ['new', 'old'], providers: { oidc: oidc({ issuer: 'https://idp.example', clientId: 'c' }) } }

const config = {
  basePath: '/auth',
  providers: [],
  callbacks: {
    ...refreshCallbacks(refreshOptions, {
      jwt({ token, account }) {
        expectTypeOf(token).toEqualTypeOf<JWT>()
        if (account?.id_token) token.idToken = account.id_token
        return token
      },
      session({ session, token }) {
        expectTypeOf(token).toEqualTypeOf<JWT>()
        return { ...session, idToken: typeof token.idToken === 'string' ? token.idToken : undefined }
      },
    }),
    authorized({ auth }) {
      expectTypeOf(auth).toEqualTypeOf<Session | null>()
      return !!auth
    },
  },
} satisfies NextAuthConfig

describe('Auth.js v5 typings', () => {
  it('refreshCallbacks sits in NextAuthConfig["callbacks"] beside authorized, with no cast', () => {
    const direct: NextAuthConfig['callbacks'] = refreshCallbacks(refreshOptions)
    expectTypeOf(direct).toMatchTypeOf<NextAuthConfig['callbacks']>()
    // A type assertion on next-auth's own method type; it is never called here.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    expectTypeOf(config.callbacks.authorized).toBeFunction()
  })

  it('withRefresh takes auth itself and auth(fn)', () => {
    const { auth } = NextAuth(config)
    const refresh = createRefreshMiddleware({ ...refreshOptions, basePath: '/auth' })
    const gate = withRefresh(refresh, auth)
    withRefresh(
      refresh,
      auth((request) => {
        expectTypeOf(request.auth).toEqualTypeOf<Session | null>()
        return request.auth ? undefined : NextResponse.redirect(new URL('/auth/signin', request.nextUrl))
      }),
    )
    expectTypeOf(gate).toEqualTypeOf<(request: NextRequest, event: NextFetchEvent) => Promise<Response>>()
  })

  it('Auth.js v5 encode / decode fit the jwt codec option (an app with a custom codec passes its own)', () => {
    const codec: SessionCodec = { encode, decode }
    createRefreshMiddleware({ ...refreshOptions, jwt: codec })
  })
})
