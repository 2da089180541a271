// @vitest-environment node
/**
 * Amazon Cognito end to end through `createRefreshMiddleware`, against `cognito-local` (a Cognito
 * emulator nobody here wrote: the user pool, the app clients, the user, sign-in, the tokens, its
 * `InitiateAuth` REFRESH_TOKEN_AUTH and its `/oauth2/token`) behind the small front in
 * testkit/cognito-front.ts (ours, written from the AWS API reference: it checks `SECRET_HASH` the
 * way AWS does, serves `GetTokensFromRefreshToken` with rotation and reuse detection, revokes, and
 * counts). Node environment, because the emulator is a child process; the same handler runs in the
 * edge-runtime VM in the other files.
 */
import { NextRequest } from 'next/server'
import { decode, encode } from 'next-auth/jwt'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { cognito, createRefreshMiddleware, type RefreshMiddlewareOptions } from '../lib'
import { callCognito, decodeJwtPayload, startCognito, type CognitoTestEnv } from '../testkit/cognito'
import { sessionCookieValue, startIsolates } from '../testkit/isolates'
import { startRedisRest, type RedisRestServer } from '../testkit/upstash-rest'

const SECRET = 'cognito-test-secret-with-enough-entropy-0123'
const NAME = 'next-auth.session-token'
/** Access tokens live 5 minutes at the pool; the emulator says `expires_in: 3600` regardless. */
const ACCESS_TOKEN_SECONDS = 300

let env: CognitoTestEnv
let redis: RedisRestServer

beforeAll(async () => {
  env = await startCognito({ accessTokenValiditySeconds: ACCESS_TOKEN_SECONDS })
  redis = await startRedisRest()
}, 120_000)

afterAll(async () => {
  await Promise.all([env?.stop(), redis?.stop()])
})

beforeEach(async () => {
  await env.reset()
})

const past = () => Math.floor(Date.now() / 1000) - 5
const quiet = { warn: () => {}, error: () => {} }

function request(path: string, cookie: string): NextRequest {
  return new NextRequest(new URL(path, 'http://app.test'), {
    headers: { cookie: `${NAME}=${cookie}`, accept: 'text/html', 'sec-fetch-mode': 'navigate' },
  })
}

function middleware(overrides: Partial<RefreshMiddlewareOptions>) {
  return createRefreshMiddleware({ secret: SECRET, providers: {}, logger: quiet, ...overrides })
}

async function sessionOf(response: Response): Promise<Record<string, unknown> | null> {
  const line = response.headers.getSetCookie().find((cookie) => cookie.startsWith(`${NAME}=`))
  if (!line) return null
  return (await decode({ token: decodeURIComponent(line.slice(NAME.length + 1).split(';')[0]!), secret: SECRET })) as Record<
    string,
    unknown
  > | null
}

/** The session `refreshCallbacks` writes after a Cognito sign-in. */
async function signedInCookie(kind: 'secret' | 'public', overrides: Record<string, unknown> = {}) {
  const tokens = await env.signIn(kind)
  const payload = {
    sub: 'test-user',
    provider: 'cognito',
    access_token: tokens.AccessToken,
    id_token: tokens.IdToken,
    refresh_token: tokens.RefreshToken,
    expires_at: past(),
    ...overrides,
  }
  return { tokens, cookie: await encode({ token: payload, secret: SECRET }) }
}

describe('initiate-auth: InitiateAuth REFRESH_TOKEN_AUTH with SECRET_HASH', () => {
  const provider = () =>
    cognito({
      flow: 'initiate-auth',
      endpoint: env.endpoint,
      clientId: env.secretClient.clientId,
      clientSecret: env.secretClient.clientSecret,
    })

  it('50 parallel requests with one expired session: 1 InitiateAuth with a correct SECRET_HASH, the cookie rewritten, the refresh token kept', async () => {
    const { tokens, cookie } = await signedInCookie('secret')
    const handler = middleware({ providers: { cognito: provider() } })
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => handler(request(`/p/${i}`, cookie))))
    const sessions = await Promise.all(responses.map(sessionOf))
    expect(new Set(sessions.map((session) => session?.access_token)).size).toBe(1)
    expect(sessions[0]!.access_token).not.toBe(tokens.AccessToken)
    // REFRESH_TOKEN_AUTH returns no refresh token: the old one is kept.
    expect(sessions[0]!.refresh_token).toBe(tokens.RefreshToken)
    // expires_at is the new access token's own exp, not now + the emulator's fixed 3600.
    expect(sessions[0]!.expires_at).toBe(decodeJwtPayload(sessions[0]!.access_token as string)!.exp)
    const stats = await env.stats()
    expect(stats.initiateAuthRefresh).toBe(1)
    expect(stats.secretHashRejected).toBe(0)
  })

  it('a wrong client secret is a configuration error: logged, no logout, no retry loop', async () => {
    const { cookie } = await signedInCookie('secret')
    const warnings: string[] = []
    const wrong = cognito({
      flow: 'initiate-auth',
      endpoint: env.endpoint,
      clientId: env.secretClient.clientId,
      clientSecret: 'not-the-secret',
    })
    const handler = middleware({
      providers: { cognito: wrong },
      logger: { warn: (message: string) => void warnings.push(message), error: () => {} },
    })
    for (let i = 0; i < 5; i++) {
      const response = await handler(request('/', cookie))
      expect(response.status).toBe(200)
      expect(response.headers.get('location')).toBeNull()
      expect(await sessionOf(response)).toBeNull()
    }
    const stats = await env.stats()
    expect(stats.initiateAuthRefresh).toBe(1)
    expect(stats.secretHashRejected).toBe(1)
    expect(warnings.filter((warning) => warning.includes('SECRET_HASH'))).toHaveLength(1)
  })

  for (const status of [500, 429]) {
    it(`HTTP ${status} from Cognito (${status === 500 ? 'InternalErrorException' : 'TooManyRequestsException'}) is transient: the session kept, the token rests, then refreshes`, async () => {
      const { tokens, cookie } = await signedInCookie('secret')
      const fail = await fetch(`${env.endpoint}/__test/fail`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status, count: 1 }),
      })
      expect(fail.status).toBe(200)
      const handler = middleware({ providers: { cognito: provider() }, retryAfterMs: 300 })
      const first = await handler(request('/', cookie))
      expect(first.status).toBe(200)
      expect(await sessionOf(first)).toBeNull()
      // Resting: no second call at once.
      expect(await sessionOf(await handler(request('/', cookie)))).toBeNull()
      expect((await env.stats()).initiateAuthRefresh).toBe(1)
      await new Promise((resolve) => setTimeout(resolve, 400))
      const later = (await sessionOf(await handler(request('/', cookie))))!
      expect(later.access_token).not.toBe(tokens.AccessToken)
      expect((await env.stats()).initiateAuthRefresh).toBe(2)
    })
  }

  it('RevokeToken: the next navigation goes to sign-in with RefreshTokenError', async () => {
    const { tokens, cookie } = await signedInCookie('secret')
    const revoked = await callCognito(env.endpoint, 'RevokeToken', {
      Token: tokens.RefreshToken,
      ClientId: env.secretClient.clientId,
      ClientSecret: env.secretClient.clientSecret,
    })
    expect(revoked.status).toBe(200)
    const response = await middleware({ providers: { cognito: provider() } })(request('/reports', cookie))
    expect(response.status).toBe(307)
    expect(response.headers.get('location')).toBe('http://app.test/api/auth/signin?callbackUrl=%2Freports')
    expect((await sessionOf(response))!.error).toBe('RefreshTokenError')
  })

  it('a session written by the first Cognito article (its names, its 56-year expiry, no id token) is refreshed without a sign-in', async () => {
    const tokens = await env.signIn('secret')
    const expiresAt = Math.floor(Date.now() / 1000) + ACCESS_TOKEN_SECONDS
    // Its jwt callback: accessTokenExpires = Date.now() + account.expires_at * 1000.
    const legacy = {
      accessToken: tokens.AccessToken,
      refreshToken: tokens.RefreshToken,
      accessTokenExpires: Date.now() + expiresAt * 1000,
      user: { id: 'x', name: 'test-user' },
    }
    const cookie = await encode({ token: legacy, secret: SECRET })
    // Its access token has expired by then: the token's own exp decides, not the stored expiry.
    const later = Date.now() + (ACCESS_TOKEN_SECONDS + 5) * 1000
    const response = await middleware({ providers: { cognito: provider() }, now: () => later })(request('/', cookie))
    const session = (await sessionOf(response))!
    expect(session.accessToken).not.toBe(tokens.AccessToken)
    // The first Cognito article's unit (ms), now the token's real expiry instead of 56 years out.
    expect(session.accessTokenExpires).toBe((decodeJwtPayload(session.accessToken as string)!.exp as number) * 1000)
    expect((await env.stats()).initiateAuthRefresh).toBe(1)
  })
})

describe('get-tokens: GetTokensFromRefreshToken with rotation', () => {
  it('200 requests over 8 EdgeVM isolates sharing Redis: 1 call, the rotated refresh token accepted afterwards, 0 reuse', async () => {
    const { tokens, cookie } = await signedInCookie('secret')
    const isolates = await startIsolates(8, {
      secret: SECRET,
      issuer: env.issuer,
      clientId: env.secretClient.clientId,
      clientSecret: env.secretClient.clientSecret,
      store: 'upstash',
      redisUrl: redis.url,
      redisToken: redis.token,
      prefix: `cognito:${crypto.randomUUID()}:`,
      cognitoGetTokens: { endpoint: env.endpoint, clientId: env.secretClient.clientId, clientSecret: env.secretClient.clientSecret },
    })
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => isolates[i % 8]!.handle(`http://app.test/p/${i}`, `${NAME}=${cookie}`)),
    )
    const rotated = new Set<string | undefined>()
    for (const response of responses) {
      const value = sessionCookieValue(response.setCookie, NAME)
      const session = value ? ((await decode({ token: value, secret: SECRET })) as Record<string, unknown> | null) : null
      rotated.add(session?.refresh_token as string | undefined)
    }
    expect(rotated.size).toBe(1)
    const [newRefreshToken] = [...rotated]
    expect(newRefreshToken).toBeTypeOf('string')
    expect(newRefreshToken).not.toBe(tokens.RefreshToken)
    expect((await env.stats()).getTokensFromRefreshToken).toBe(1)

    const after = await callCognito(env.endpoint, 'GetTokensFromRefreshToken', {
      RefreshToken: newRefreshToken,
      ClientId: env.secretClient.clientId,
      ClientSecret: env.secretClient.clientSecret,
    })
    expect(after.status).toBe(200)
    expect((await env.stats()).reuseDetected).toBe(0)
  })
})

describe('token-endpoint: /oauth2/token with an explicit tokenEndpoint', () => {
  for (const kind of ['secret', 'public'] as const) {
    it(`refreshes through the token endpoint (${kind} client), expires_at from the JWT's own exp`, async () => {
      const { tokens, cookie } = await signedInCookie(kind)
      const client =
        kind === 'secret'
          ? { clientId: env.secretClient.clientId, clientSecret: env.secretClient.clientSecret }
          : { clientId: env.publicClient.clientId }
      const provider = cognito({ issuer: env.issuer, tokenEndpoint: `${env.endpoint}/oauth2/token`, ...client })
      const warnings: string[] = []
      const response = await middleware({
        providers: { cognito: provider },
        logger: { warn: (message: string) => void warnings.push(message), error: (message: string) => void warnings.push(message) },
      })(request('/', cookie))
      const session = await sessionOf(response)
      expect(warnings).toEqual([])
      expect(session!.access_token).not.toBe(tokens.AccessToken)
      expect(session!.expires_at).toBe(decodeJwtPayload(session!.access_token as string)!.exp)
      expect((await env.stats()).tokenEndpointRefresh).toBe(1)
    })
  }

  it('a session written by the second Cognito article (accessTokenExpires in seconds) is refreshed through the token endpoint', async () => {
    const tokens = await env.signIn('secret')
    const legacy = { accessToken: tokens.AccessToken, refreshToken: tokens.RefreshToken, accessTokenExpires: past(), user: { id: 'x' } }
    const cookie = await encode({ token: legacy, secret: SECRET })
    const provider = cognito({
      issuer: env.issuer,
      tokenEndpoint: `${env.endpoint}/oauth2/token`,
      clientId: env.secretClient.clientId,
      clientSecret: env.secretClient.clientSecret,
    })
    const session = (await sessionOf(await middleware({ providers: { cognito: provider } })(request('/', cookie))))!
    // Written back under its own names, in seconds as it stored them.
    expect(session.accessToken).not.toBe(tokens.AccessToken)
    expect(session.refreshToken).toBe(tokens.RefreshToken)
    expect(session.accessTokenExpires).toBe(decodeJwtPayload(session.accessToken as string)!.exp)
  })
})
