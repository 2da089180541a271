/** What a request of an ended login gets: one response for JWT and database sessions alike. */
import { NextRequest } from 'next/server.js'
import { describe, expect, it } from 'vitest'
import { endedLoginResponse, endedLoginSettings } from '../lib/next/ended-login'

const navigation = (path: string) =>
  new NextRequest(`https://app.test${path}`, {
    headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' },
  })
const api = (path: string) => new NextRequest(`https://app.test${path}`, { headers: { accept: 'application/json' } })

describe('endedLoginResponse', () => {
  const settings = endedLoginSettings({ basePath: '/api/auth', signInPath: '/login', unauthorizedApi: true })

  it('sends a page navigation to sign in, with a same-origin callbackUrl', () => {
    const response = endedLoginResponse(navigation('/collection?page=2'), settings)
    expect(response.status).toBe(307)
    const location = new URL(response.headers.get('location')!)
    expect(location.pathname).toBe('/login')
    expect(location.searchParams.get('callbackUrl')).toBe('/collection?page=2')
  })

  it("regression: the JWT middleware redirected an ended login's navigation even to the sign-in page itself and under basePath (the database middleware did not)", () => {
    for (const path of ['/login', '/api/auth/signin', '/api/auth/callback/oidc', '/api/auth']) {
      const response = endedLoginResponse(navigation(path), settings)
      expect(response.headers.get('location'), path).toBeNull()
      expect(response.headers.get('x-middleware-next'), path).toBe('1')
    }
  })

  it("carries the page to come back to in the parameter the app's sign-in page reads", () => {
    const app = endedLoginSettings({ signInPath: '/login', callbackParam: 'from' })
    const location = new URL(endedLoginResponse(navigation('/collection?page=2'), app).headers.get('location')!)
    expect(location.pathname).toBe('/login')
    expect([...location.searchParams.keys()]).toEqual(['from'])
    expect(location.searchParams.get('from')).toBe('/collection?page=2')
    expect(() => endedLoginSettings({ callbackParam: 'from&x=1' })).toThrow(/callbackParam must be a plain query parameter name/)
  })

  it("defaults the sign-in page to the app's next-auth pages.signIn, then to next-auth's own", () => {
    expect(endedLoginSettings({ pages: { signIn: '/login' } }).signInPath).toBe('/login')
    expect(endedLoginSettings({ pages: { signIn: '/login' }, signInPath: '/welcome' }).signInPath).toBe('/welcome')
    expect(endedLoginSettings({ pages: {} }).signInPath).toBe('/api/auth/signin')
    expect(endedLoginSettings({ basePath: '/auth' }).signInPath).toBe('/auth/signin')
  })

  it('answers API requests with 401 when asked to, never next-auth’s own routes', () => {
    expect(endedLoginResponse(api('/api/me'), settings).status).toBe(401)
    expect(endedLoginResponse(api('/api/auth/session'), settings).headers.get('x-middleware-next')).toBe('1')
    const lenient = endedLoginSettings({})
    expect(endedLoginResponse(api('/api/me'), lenient).headers.get('x-middleware-next')).toBe('1')
  })
})
