import type { AuthOptions, Session } from 'next-auth'
import type { JWT } from 'next-auth/jwt'
import { withAuth } from 'next-auth/middleware'
import { NextResponse } from 'next/server'
import { describe, expectTypeOf, it } from 'vitest'
import { createRefreshMiddleware, oidc, refreshCallbacks, withRefresh } from '../lib'

declare module 'next-auth' {
  interface Session {
    accessToken?: string
  }
}

const refreshOptions = { secret: 's', providers: { oidc: oidc({ issuer: 'https://idp.example', clientId: 'c' }) } }

describe('next-auth v4 typings', () => {
  it('refreshCallbacks wraps the app callbacks with next-auth v4 parameter types, no casts', () => {
    const options: AuthOptions = {
      providers: [],
      callbacks: refreshCallbacks(refreshOptions, {
        jwt({ token, account }) {
          expectTypeOf(token).toEqualTypeOf<JWT>()
          if (account) token.idToken = account.id_token
          return token
        },
        session({ session, token }) {
          expectTypeOf(session).toEqualTypeOf<Session>()
          session.accessToken = typeof token.access_token === 'string' ? token.access_token : undefined
          return session
        },
        redirect({ baseUrl }) {
          return baseUrl
        },
      }),
    }
    expectTypeOf(options.callbacks?.redirect).not.toBeUndefined()
  })

  it('refreshCallbacks alone fits AuthOptions["callbacks"]', () => {
    const callbacks: AuthOptions['callbacks'] = refreshCallbacks(refreshOptions)
    expectTypeOf(callbacks).not.toBeUndefined()
  })

  it('withRefresh accepts withAuth(...) and a plain function', () => {
    const refresh = createRefreshMiddleware(refreshOptions)
    withRefresh(refresh, withAuth({ pages: { signIn: '/signin' } }))
    withRefresh(refresh, withAuth((request) => { expectTypeOf(request.nextauth.token).toEqualTypeOf<JWT | null>() }, { pages: { signIn: '/signin' } }))
    withRefresh(refresh, () => NextResponse.next())
    // @ts-expect-error a string is not a middleware
    withRefresh(refresh, 'nope')
  })
})
