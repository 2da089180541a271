/**
 * Helpers for driving the middleware the way Next.js does: build a session cookie with the real
 * next-auth / Auth.js encoders, send a NextRequest, and read back what the browser and the app
 * would see, decoding with the real decoders. Web APIs only: runs in the edge-runtime VM.
 */
import { NextRequest } from 'next/server'
import { decode as decodeV4, encode as encodeV4 } from 'next-auth/jwt'
import { decode as decodeV5, encode as encodeV5 } from 'next-auth-v5/jwt'
import { inject } from 'vitest'
import { oidc, type RefreshProvider, type SessionCodec } from '../../lib'
import { providerHooks, type ProviderHooks, type ProviderTokens, type RefreshStats } from '../../testkit/provider-hooks'

export const SECRET = 'test-secret-with-enough-entropy-0123456789'
export const ORIGIN = 'http://app.test'

/** A logger for tests whose expected warnings (transient failures, outages) would only be noise. */
export const quietLogger = { warn: () => {}, error: () => {} }

export type { ProviderTokens }

export function issuer(): string {
  return inject('issuer')
}

/** The hooks of the shared test provider (global-setup.ts). */
export function hooks(): ProviderHooks {
  return providerHooks(issuer())
}

/** The library's `oidc()` provider for the local test provider and its confidential client. */
export function localOidc(): RefreshProvider {
  return oidc({ issuer: issuer(), clientId: inject('clientId'), clientSecret: inject('clientSecret') })
}

/** Signs in at the real provider (authorization-code flow over HTTP) and returns its token response. */
export function signInAtProvider(login?: string): Promise<ProviderTokens> {
  return hooks().signIn(login === undefined ? {} : { login })
}

/** The provider's refresh counters, global or for one login. */
export function providerStats(login?: string): Promise<RefreshStats> {
  return hooks().stats(login)
}

/** A POST hook by name, with its JSON body (see testkit/provider-hooks.ts for the typed calls). */
export async function providerHook(path: 'reset' | 'revoke' | 'fail' | 'latency', body: Record<string, unknown> = {}): Promise<void> {
  const client = hooks()
  switch (path) {
    case 'reset':
      return client.reset()
    case 'revoke':
      return client.revoke(String(body.refresh_token))
    case 'fail':
      return client.fail(Number(body.status), {
        ...(body.count === undefined ? {} : { count: Number(body.count) }),
        ...(typeof body.login === 'string' ? { login: body.login } : {}),
      })
    case 'latency':
      return client.latency(Number(body.ms), typeof body.login === 'string' ? body.login : undefined)
  }
}

/** Presents a refresh token straight to the provider's token endpoint, as a check that it is still good. */
export async function refreshDirectly(refreshToken: string): Promise<Response> {
  const discovery = (await (await fetch(`${issuer()}/.well-known/openid-configuration`)).json()) as { token_endpoint: string }
  return fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${btoa(`${encodeURIComponent(inject('clientId'))}:${encodeURIComponent(inject('clientSecret'))}`)}`,
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  })
}

export type Format = 'next-auth-v4' | 'authjs-v5'

export const COOKIE_NAMES: Record<Format, { plain: string; secure: string }> = {
  'next-auth-v4': { plain: 'next-auth.session-token', secure: '__Secure-next-auth.session-token' },
  'authjs-v5': { plain: 'authjs.session-token', secure: '__Secure-authjs.session-token' },
}

/** Auth.js v5's own codec (`next-auth@5` `next-auth/jwt`), for the middleware's `jwt` option. */
export const AUTHJS_V5_CODEC: SessionCodec = { encode: encodeV5, decode: decodeV5 }

/** Encodes a session payload with the real encoder of the format. */
export async function encodeWith(
  format: Format,
  name: string,
  token: Record<string, unknown>,
  maxAge = 30 * 24 * 60 * 60,
): Promise<string> {
  return format === 'authjs-v5' ? encodeV5({ token, secret: SECRET, salt: name, maxAge }) : encodeV4({ token, secret: SECRET, maxAge })
}

/** Decodes with the real decoder of the format. */
export async function decodeWith(format: Format, name: string, jwt: string): Promise<Record<string, unknown> | null> {
  return format === 'authjs-v5'
    ? ((await decodeV5({ token: jwt, secret: SECRET, salt: name })) as Record<string, unknown> | null)
    : ((await decodeV4({ token: jwt, secret: SECRET })) as Record<string, unknown> | null)
}

/** The session a sign-in through `refreshCallbacks` would have written. */
export function sessionPayload(tokens: ProviderTokens, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: 'alice',
    name: 'alice',
    email: 'alice@example.test',
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    id_token: tokens.id_token,
    expires_at: Math.floor(Date.now() / 1000) + tokens.expires_in,
    provider: 'oidc',
    ...overrides,
  }
}

/** Serializes cookies into a `Cookie` header. */
export function cookieHeader(cookies: Record<string, string>): string {
  return Object.entries(cookies)
    .map(([name, value]) => `${name}=${value}`)
    .join('; ')
}

/** A request as Next.js hands it to middleware. */
export function pageRequest(
  path: string,
  cookies: Record<string, string>,
  headers: Record<string, string> = {},
  origin = ORIGIN,
): NextRequest {
  return new NextRequest(new URL(path, origin), {
    headers: { cookie: cookieHeader(cookies), accept: 'text/html', 'sec-fetch-mode': 'navigate', ...headers },
  })
}

/** A parsed `Set-Cookie`. */
export interface SetCookie {
  name: string
  value: string
  attributes: Record<string, string | true>
}

export function setCookies(response: Response): SetCookie[] {
  return response.headers.getSetCookie().map((line) => {
    const [pair, ...rest] = line.split(';')
    const eq = pair!.indexOf('=')
    const attributes: Record<string, string | true> = {}
    for (const attribute of rest) {
      const [key, ...value] = attribute.trim().split('=')
      attributes[key!.toLowerCase()] = value.length ? value.join('=') : true
    }
    return { name: pair!.slice(0, eq).trim(), value: decodeURIComponent(pair!.slice(eq + 1).trim()), attributes }
  })
}

/** The `Cookie` header the app behind the middleware receives (`NextResponse.next({ request: { headers } })`). */
export function forwardedCookies(response: Response): Record<string, string> | null {
  const overridden = response.headers.get('x-middleware-override-headers')
  if (!overridden?.split(',').includes('cookie')) return null
  const header = response.headers.get('x-middleware-request-cookie') ?? ''
  const cookies: Record<string, string> = {}
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0) cookies[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim())
  }
  return cookies
}

/** Joins a session from a set of cookies by base name (whole or chunks). */
export function joinSession(cookies: Record<string, string>, name: string): string | null {
  if (cookies[name] !== undefined) return cookies[name]!
  let value = ''
  for (let index = 0; cookies[`${name}.${index}`] !== undefined; index++) value += cookies[`${name}.${index}`]
  return value || null
}

/** The session the browser holds after the response: Set-Cookie applied to what it sent. */
export function browserCookiesAfter(sent: Record<string, string>, response: Response): Record<string, string> {
  const jar = { ...sent }
  for (const cookie of setCookies(response)) {
    if (cookie.attributes['max-age'] === '0' || cookie.value === '') delete jar[cookie.name]
    else jar[cookie.name] = cookie.value
  }
  return jar
}
