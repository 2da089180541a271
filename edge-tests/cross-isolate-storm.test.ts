// @vitest-environment node
import { beforeEach, describe, expect, it, inject } from 'vitest'
import { startIsolates, sessionCookieValue, type IsolateConfig } from '../testkit/isolates'
import {
  COOKIE_NAMES,
  SECRET,
  decodeWith,
  encodeWith,
  hooks,
  providerStats,
  refreshDirectly,
  sessionPayload,
  signInAtProvider,
} from './support/sessions'

const NAME = COOKIE_NAMES['next-auth-v4'].plain
const ISOLATES = 8
const REQUESTS = 200

function config(store: IsolateConfig['store']): IsolateConfig {
  return {
    secret: SECRET,
    issuer: inject('issuer'),
    clientId: inject('clientId'),
    clientSecret: inject('clientSecret'),
    store,
    redisUrl: inject('redisRestUrl'),
    redisToken: inject('redisRestToken'),
    prefix: `storm:${crypto.randomUUID()}:`,
  }
}

async function storm(store: IsolateConfig['store']) {
  const tokens = await signInAtProvider()
  const jwt = await encodeWith('next-auth-v4', NAME, sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) - 5 }))
  const isolates = await startIsolates(ISOLATES, config(store))
  const responses = await Promise.all(
    Array.from({ length: REQUESTS }, (_, i) => isolates[i % ISOLATES]!.handle(`http://app.test/page/${i}`, `${NAME}=${jwt}`)),
  )
  const sessions = await Promise.all(
    responses.map(async (response) => {
      const value = sessionCookieValue(response.setCookie, NAME)
      return value ? decodeWith('next-auth-v4', NAME, value) : null
    }),
  )
  return { tokens, responses, sessions, isolates }
}

beforeEach(async () => {
  await hooks().reset()
})

describe(`cross-isolate storm: ${REQUESTS} requests over ${ISOLATES} EdgeVM isolates`, () => {
  it('with upstashStore: exactly 1 provider refresh, one new access token for all, nobody logged out', async () => {
    const { tokens, responses, sessions, isolates } = await storm('upstash')
    const stats = await providerStats()
    expect(stats.refreshRequests).toBe(1)
    expect(stats.reuseDetected).toBe(0)

    expect(responses.every((response) => response.status === 200)).toBe(true)
    expect(sessions.every((session) => session !== null)).toBe(true)
    const accessTokens = new Set(sessions.map((session) => session!.access_token))
    expect(accessTokens.size).toBe(1)
    expect(accessTokens.has(tokens.access_token)).toBe(false)
    expect(sessions.filter((session) => session!.error === 'RefreshTokenError')).toHaveLength(0)

    const finalRefreshToken = sessions[0]!.refresh_token as string
    expect(new Set(sessions.map((session) => session!.refresh_token)).size).toBe(1)
    expect((await refreshDirectly(finalRefreshToken)).status).toBe(200)

    // The in-isolate map stands in front of the store: 25 requests in an isolate make one claim
    // (plus a waiter's polls), not 25. The leader claims and publishes: 2 round trips.
    const leaders = isolates.filter((isolate) => isolate.providerRequests() > 0)
    expect(leaders).toHaveLength(1)
    expect(leaders[0]!.redisRequests()).toBe(2)
    for (const isolate of isolates) expect(isolate.redisRequests()).toBeLessThan(REQUESTS / ISOLATES)
  })

  it('with memoryStore in each isolate: several provider calls and the login is lost (what Redis buys)', async () => {
    const { sessions } = await storm('memory')
    const stats = await providerStats()
    expect(stats.refreshRequests).toBeGreaterThan(1)
    expect(stats.refreshRequests).toBeLessThanOrEqual(ISOLATES)
    expect(stats.reuseDetected).toBeGreaterThan(0)
    // Reuse detection revoked the grant: no refresh token any isolate ended up with still works.
    const survivors = new Set(
      sessions.map((session) => session?.refresh_token).filter((token): token is string => typeof token === 'string'),
    )
    for (const refreshToken of survivors) expect((await refreshDirectly(refreshToken)).status).not.toBe(200)
    expect(sessions.some((session) => session?.error === 'RefreshTokenError')).toBe(true)
  })
})
