import { Redis } from '@upstash/redis'
import type { NextFetchEvent } from 'next/server'
import { beforeEach, describe, expect, it, inject } from 'vitest'
import { createRefreshMiddleware, upstashStore, type RefreshMiddlewareOptions } from '../lib'
import {
  COOKIE_NAMES,
  SECRET,
  decodeWith,
  encodeWith,
  pageRequest,
  providerHook,
  providerStats,
  refreshDirectly,
  sessionPayload,
  setCookies,
  signInAtProvider,
  quietLogger,
  localOidc,
} from './support/sessions'

const NAME = COOKIE_NAMES['next-auth-v4'].plain

function redis(): Redis {
  return new Redis({ url: inject('redisRestUrl'), token: inject('redisRestToken'), retry: false })
}

async function redisHook(path: 'redis-stop' | 'redis-start'): Promise<void> {
  const response = await fetch(`${inject('redisRestUrl')}/__test/${path}`, { method: 'POST' })
  if (!response.ok) throw new Error(`${path} failed: ${response.status}`)
}

async function redisScan(): Promise<string> {
  return (await fetch(`${inject('redisRestUrl')}/__test/scan`)).text()
}

let prefix = ''
beforeEach(async () => {
  prefix = `test:${crypto.randomUUID()}:`
  await providerHook('reset')
})

/** A middleware as one edge isolate would build it: its own memory, the shared Redis. */
function isolate(overrides: Partial<RefreshMiddlewareOptions> = {}) {
  return createRefreshMiddleware({
    secret: SECRET,
    providers: { oidc: localOidc() },
    store: upstashStore(redis(), { prefix }),
    logger: quietLogger,
    ...overrides,
  })
}

async function session(expiresInSeconds: number) {
  const tokens = await signInAtProvider()
  const jwt = await encodeWith('next-auth-v4', NAME, sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) + expiresInSeconds }))
  return { tokens, cookies: { [NAME]: jwt } }
}

async function sessionOf(response: Response) {
  const cookie = setCookies(response).find((c) => c.name === NAME)
  return cookie ? decodeWith('next-auth-v4', NAME, cookie.value) : null
}

function collectingEvent(): NextFetchEvent & { settle(): Promise<void> } {
  const pending: Promise<unknown>[] = []
  return {
    waitUntil: (promise: Promise<unknown>) => void pending.push(promise),
    settle: async () => void (await Promise.all(pending)),
  } as unknown as NextFetchEvent & { settle(): Promise<void> }
}

describe('upstashStore protocol against a real redis-server', () => {
  it('claim leads, then waits, then returns the published result; release is compare-and-delete', async () => {
    const store = upstashStore(redis(), { prefix })
    const lead = await store.claim('k1', 5000)
    expect(lead.kind).toBe('lead')
    expect(await store.claim('k1', 5000)).toEqual({ kind: 'wait' })
    expect(await store.peek('k1')).toEqual({ kind: 'locked' })

    // Someone who does not hold the lock cannot release it.
    await store.release('k1', 'not-the-holder')
    expect(await store.peek('k1')).toEqual({ kind: 'locked' })

    await store.publish('k1', (lead as { lockId: string }).lockId, 'sealed-value', 5000)
    expect(await store.peek('k1')).toEqual({ kind: 'result', sealed: 'sealed-value' })
    expect(await store.claim('k1', 5000)).toEqual({ kind: 'result', sealed: 'sealed-value' })

    const other = await store.claim('k2', 5000)
    await store.release('k2', (other as { lockId: string }).lockId)
    expect(await store.peek('k2')).toEqual({ kind: 'free' })
  })

  it('a lock whose leader died lapses with its lease and the next claim leads', async () => {
    const store = upstashStore(redis(), { prefix })
    expect((await store.claim('k3', 150)).kind).toBe('lead')
    expect((await store.claim('k3', 150)).kind).toBe('wait')
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect((await store.claim('k3', 150)).kind).toBe('lead')
  })
})

describe('single flight across isolates through Redis', () => {
  it('a leader that dies mid-refresh is taken over after its lease: one provider call in all', async () => {
    const tokens = await signInAtProvider()
    const jwt = await encodeWith('next-auth-v4', NAME, sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) - 5 }))
    // A leader that took the lock for this refresh token and then died (never published).
    const key = await (await import('../lib/sealing')).createSealer([SECRET]).keyFor(tokens.refresh_token)
    const dead = upstashStore(redis(), { prefix })
    expect((await dead.claim(key, 600)).kind).toBe('lead')

    const started = Date.now()
    const response = await isolate()(pageRequest('/', { [NAME]: jwt }))
    const refreshed = (await sessionOf(response))!
    expect(refreshed.access_token).not.toBe(tokens.access_token)
    expect(Date.now() - started).toBeGreaterThanOrEqual(400)
    expect((await providerStats()).refreshRequests).toBe(1)
  })

  it('a storm across 4 isolates makes 1 provider call, and Redis never holds a token in the clear', async () => {
    const { tokens, cookies } = await session(-5)
    const isolates = Array.from({ length: 4 }, () => isolate())
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => isolates[i % 4]!(pageRequest(`/p/${i}`, cookies))))
    const sessions = await Promise.all(responses.map(sessionOf))
    const accessTokens = new Set(sessions.map((s) => s?.access_token))
    expect(accessTokens.size).toBe(1)
    expect((await providerStats()).refreshRequests).toBe(1)

    const dump = await redisScan()
    expect(dump).toContain(prefix)
    const secrets = [tokens.access_token, tokens.refresh_token, tokens.id_token, sessions[0]!.access_token, sessions[0]!.refresh_token, sessions[0]!.id_token]
    for (const secret of secrets) {
      expect(typeof secret).toBe('string')
      expect(dump.includes(secret as string)).toBe(false)
    }
    expect((await refreshDirectly(sessions[0]!.refresh_token as string)).status).toBe(200)
  })

  it('a stale cookie in another isolate gets the new tokens from the store, with no provider call', async () => {
    const { cookies } = await session(-5)
    const first = await isolate()(pageRequest('/', cookies))
    const stale = await isolate()(pageRequest('/', cookies))
    expect((await sessionOf(stale))!.access_token).toBe((await sessionOf(first))!.access_token)
    expect((await providerStats()).refreshRequests).toBe(1)
  })

  it('after invalid_grant a dead mark keeps every isolate from presenting that token again', async () => {
    const { tokens, cookies } = await session(-5)
    await providerHook('revoke', { refresh_token: tokens.refresh_token })
    const first = await isolate()(pageRequest('/', cookies))
    expect(first.status).toBe(307)
    const second = await isolate()(pageRequest('/', cookies))
    expect(second.status).toBe(307)
    expect((await sessionOf(second))!.error).toBe('RefreshTokenError')
    expect((await providerStats()).refreshRequests).toBe(1)
  })

  it('Redis stopped mid-test: requests are still served and refreshed through the fallback, with one warning', async () => {
    const warnings: string[] = []
    const logger = { warn: (message: string) => void warnings.push(message), error: () => {} }
    const handler = isolate({ logger, storeTimeoutMs: 200 })
    const before = await session(-5)
    expect((await sessionOf(await handler(pageRequest('/', before.cookies))))!.access_token).toBeTruthy()

    await redisHook('redis-stop')
    try {
      const during = await session(-5)
      const responses = await Promise.all(Array.from({ length: 5 }, () => handler(pageRequest('/', during.cookies))))
      for (const response of responses) {
        expect(response.status).toBe(200)
        expect((await sessionOf(response))!.access_token).not.toBe(during.tokens.access_token)
      }
      const again = await session(-5)
      expect((await handler(pageRequest('/', again.cookies))).status).toBe(200)
    } finally {
      await redisHook('redis-start')
    }
    expect(warnings.filter((w) => w.includes('store unavailable'))).toHaveLength(1)
    // In-isolate single flight still held: one call per session.
    expect((await providerStats()).refreshRequests).toBe(3)
  })
})

describe('a slow store', () => {
  it('regression: a Redis slower than storeTimeoutMs is bypassed by a direct refresh whose result still reaches the store', async () => {
    const slow = redis()
    const delayed = {
      eval: (async (...args: Parameters<Redis['eval']>) => {
        await new Promise((resolve) => setTimeout(resolve, 400))
        return slow.eval(...args)
      }) as Redis['eval'],
      mget: slow.mget.bind(slow) as Redis['mget'],
    }
    const warnings: string[] = []
    const handler = isolate({ store: upstashStore(delayed, { prefix }), storeTimeoutMs: 100, logger: { warn: (message: string) => void warnings.push(message), error: () => {} } })
    const { tokens, cookies } = await session(-5)
    const started = Date.now()
    const response = await handler(pageRequest('/', cookies))
    expect(Date.now() - started).toBeLessThan(400)
    expect((await sessionOf(response))!.access_token).not.toBe(tokens.access_token)
    expect(warnings.some((warning) => warning.includes('slower than 100 ms'))).toBe(true)
    expect((await providerStats()).refreshRequests).toBe(1)

    // The slow store still received the result: another isolate with the old cookie, once its
    // lease lapses, finds it instead of presenting the spent refresh token.
    await new Promise((resolve) => setTimeout(resolve, 600))
    const other = await isolate({ leaseMs: 6000 })(pageRequest('/', cookies))
    expect((await sessionOf(other))!.access_token).toBe((await sessionOf(response))!.access_token)
    expect((await providerStats()).refreshRequests).toBe(1)
    expect((await providerStats()).reuseDetected).toBe(0)
  })
})

describe('proactive refresh', () => {
  it('inside the skew window the request passes at once; the refresh runs in waitUntil and the next request picks it up', async () => {
    const { tokens, cookies } = await session(30)
    const event = collectingEvent()
    const response = await isolate({ skewSeconds: 60 })(pageRequest('/', cookies), event)
    expect(response.headers.get('x-middleware-next')).toBe('1')
    expect(setCookies(response)).toEqual([])
    await event.settle()
    expect((await providerStats()).refreshRequests).toBe(1)

    // Another isolate, the same old cookie: the result comes from the store.
    const next = await isolate({ skewSeconds: 60 })(pageRequest('/', cookies), collectingEvent())
    const refreshed = (await sessionOf(next))!
    expect(refreshed.access_token).not.toBe(tokens.access_token)
    expect((await providerStats()).refreshRequests).toBe(1)
  })
})

describe('a store someone else can write to', () => {
  it('regression: a sealed result or dead mark copied under another refresh token\'s key is not handed to that session', async () => {
    const raw = new Redis({ url: inject('redisRestUrl'), token: inject('redisRestToken'), retry: false, automaticDeserialization: false })
    const { createSealer } = await import('../lib/sealing')
    const keyOf = (refreshToken: string) => createSealer([SECRET]).keyFor(refreshToken)
    const past = Math.floor(Date.now() / 1000) - 5

    // The attacker refreshes their own session: a sealed result lands under their key.
    const attacker = await signInAtProvider()
    const attackerCookie = { [NAME]: await encodeWith('next-auth-v4', NAME, sessionPayload(attacker, { expires_at: past })) }
    const attackerSession = (await sessionOf(await isolate()(pageRequest('/', attackerCookie))))!
    const attackerValue = await raw.get<string>(`${prefix}${await keyOf(attacker.refresh_token)}`)
    expect(attackerValue).toBeTypeOf('string')

    // …and copies it under the victim's key.
    const victim = await signInAtProvider()
    await raw.set(`${prefix}${await keyOf(victim.refresh_token)}`, attackerValue!, { px: 60_000 })
    const victimCookie = { [NAME]: await encodeWith('next-auth-v4', NAME, sessionPayload(victim, { expires_at: past })) }
    const victimResponse = await isolate()(pageRequest('/', victimCookie))
    const victimSession = await sessionOf(victimResponse)
    expect(victimSession?.access_token).not.toBe(attackerSession.access_token)
    expect(victimSession?.error).toBeUndefined()

    // A dead mark copied the same way does not end the victim's login either.
    const other = await signInAtProvider()
    await providerHook('revoke', { refresh_token: other.refresh_token })
    await isolate()(pageRequest('/', { [NAME]: await encodeWith('next-auth-v4', NAME, sessionPayload(other, { expires_at: past })) }))
    const deadValue = await raw.get<string>(`${prefix}${await keyOf(other.refresh_token)}`)
    expect(deadValue).toBeTypeOf('string')
    const second = await signInAtProvider()
    await raw.set(`${prefix}${await keyOf(second.refresh_token)}`, deadValue!, { px: 60_000 })
    const secondResponse = await isolate()(pageRequest('/', { [NAME]: await encodeWith('next-auth-v4', NAME, sessionPayload(second, { expires_at: past })) }))
    expect((await sessionOf(secondResponse))?.error).toBeUndefined()
    expect(secondResponse.status).not.toBe(307)
    expect((await refreshDirectly(second.refresh_token)).status).toBe(200)
  })
})
