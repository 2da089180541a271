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
  hooks,
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
  await hooks().reset()
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
  const jwt = await encodeWith(
    'next-auth-v4',
    NAME,
    sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) + expiresInSeconds }),
  )
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
  it('claim leads, then waits, then returns the published result; extend keeps only its own lock', async () => {
    const store = upstashStore(redis(), { prefix })
    const lead = await store.claim('k1', 5000)
    expect(lead.kind).toBe('lead')
    expect(await store.claim('k1', 5000)).toMatchObject({ kind: 'wait', lockTtlMs: expect.any(Number) })
    expect(await store.peek('k1')).toEqual({ kind: 'locked' })

    // Someone who does not hold the lock cannot keep it.
    expect(await store.extend('k1', 'not-the-holder', 5000)).toBe('lost')
    expect(await store.extend('k1', (lead as { lockId: string }).lockId, 5000)).toBe('extended')
    expect(await store.peek('k1')).toEqual({ kind: 'locked' })

    await store.publish('k1', (lead as { lockId: string }).lockId, 'sealed-value', 5000)
    expect(await store.peek('k1')).toEqual({ kind: 'result', sealed: 'sealed-value' })
    expect(await store.claim('k1', 5000)).toEqual({ kind: 'result', sealed: 'sealed-value' })

    // A lock the store lost is taken back by its leader.
    expect(await store.extend('k2', 'a-leader-whose-lock-was-lost', 5000)).toBe('retaken')
    expect(await store.peek('k2')).toEqual({ kind: 'locked' })

    // The attempt mark outlives the lock; a publish removes it.
    expect((await store.claim('k4', 100, { sealed: 'mark', ttlMs: 60_000 })).kind).toBe('lead')
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(await store.claim('k4', 100)).toEqual({ kind: 'attempted', sealed: 'mark' })
    expect(await store.peek('k4')).toEqual({ kind: 'attempted', sealed: 'mark' })
    await store.publish('k4', 'late-answer', 'result', 5000)
    expect(await store.peek('k4')).toEqual({ kind: 'result', sealed: 'result' })
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
    const key = await (await import('../lib/refresh/sealing')).createSealer([SECRET]).keyFor(tokens.refresh_token)
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
    const secrets = [
      tokens.access_token,
      tokens.refresh_token,
      tokens.id_token,
      sessions[0]!.access_token,
      sessions[0]!.refresh_token,
      sessions[0]!.id_token,
    ]
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
    await hooks().revoke(tokens.refresh_token)
    const first = await isolate()(pageRequest('/', cookies))
    expect(first.status).toBe(307)
    const second = await isolate()(pageRequest('/', cookies))
    expect(second.status).toBe(307)
    expect((await sessionOf(second))!.error).toBe('RefreshTokenError')
    expect((await providerStats()).refreshRequests).toBe(1)
  })

  it('regression: Redis stopped mid-test: no session is refreshed anywhere, none is lost, one warning, and refreshing resumes when it is back', async () => {
    // Each isolate used to refresh on its own while Redis was down: 4 instances, 4 provider calls
    // with one refresh token, reuse detected, login lost.
    const warnings: string[] = []
    const logger = { warn: (message: string) => void warnings.push(message), error: () => {} }
    const isolates = Array.from({ length: 4 }, () => isolate({ logger, storeTimeoutMs: 200 }))
    const before = await session(-5)
    expect((await sessionOf(await isolates[0]!(pageRequest('/', before.cookies))))!.access_token).toBeTruthy()

    const during = await session(-5)
    const inSkew = await session(30)
    await redisHook('redis-stop')
    try {
      const requests = [
        ...Array.from({ length: 20 }, (_, i) => isolates[i % 4]!(pageRequest(`/e/${i}`, during.cookies))),
        ...Array.from({ length: 20 }, (_, i) => isolates[i % 4]!(pageRequest(`/s/${i}`, inSkew.cookies), collectingEvent())),
      ]
      for (const response of await Promise.all(requests)) {
        expect(response.status).toBe(200)
        expect(setCookies(response)).toEqual([])
      }
    } finally {
      await redisHook('redis-start')
    }
    expect((await providerStats()).refreshRequests).toBe(1)
    expect((await providerStats()).reuseDetected).toBe(0)
    // One warning per isolate per minute at most.
    expect(warnings.filter((w) => w.includes('store unavailable')).length).toBeLessThanOrEqual(4)
    expect(warnings.filter((w) => w.includes('store unavailable')).length).toBeGreaterThanOrEqual(1)

    // Redis is back: the kept session refreshes once, and its new refresh token is good.
    const after = await isolates[1]!(pageRequest('/', during.cookies))
    const refreshed = (await sessionOf(after))!
    expect(refreshed.access_token).not.toBe(during.tokens.access_token)
    expect((await providerStats()).refreshRequests).toBe(2)
    expect((await refreshDirectly(refreshed.refresh_token as string)).status).toBe(200)
  })

  it('with storeOutage "refresh-in-isolate", a Redis outage still refreshes, one call per isolate', async () => {
    const handler = isolate({ storeTimeoutMs: 200, storeOutage: 'refresh-in-isolate' })
    await redisHook('redis-stop')
    try {
      const during = await session(-5)
      const responses = await Promise.all(Array.from({ length: 5 }, () => handler(pageRequest('/', during.cookies))))
      for (const response of responses) expect((await sessionOf(response))!.access_token).not.toBe(during.tokens.access_token)
    } finally {
      await redisHook('redis-start')
    }
    expect((await providerStats()).refreshRequests).toBe(1)
  })
})

describe('a slow store', () => {
  function delayedRedis(delayMs: number): Parameters<typeof upstashStore>[0] {
    const slow = redis()
    return {
      eval: (async (...args: Parameters<Redis['eval']>) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs))
        return slow.eval(...args)
      }) as Redis['eval'],
      mget: (async (...args: Parameters<Redis['mget']>) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs))
        return slow.mget(...args)
      }) as Redis['mget'],
    }
  }

  it('regression: a slow store is not a dead one: 400 ms per round trip, 4 isolates, 40 requests → one refresh', async () => {
    const { tokens, cookies } = await session(-5)
    const isolates = Array.from({ length: 4 }, () => isolate({ store: upstashStore(delayedRedis(400), { prefix }) }))
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => isolates[i % 4]!(pageRequest(`/p/${i}`, cookies))))
    const accessTokens = new Set((await Promise.all(responses.map(sessionOf))).map((s) => s?.access_token))
    expect(accessTokens.size).toBe(1)
    expect(accessTokens.has(tokens.access_token)).toBe(false)
    expect((await providerStats()).refreshRequests).toBe(1)
    expect((await providerStats()).reuseDetected).toBe(0)
  })

  it('regression: a store slower than storeTimeoutMs counts as down: nothing refreshed, the login kept', async () => {
    const warnings: string[] = []
    const isolates = Array.from({ length: 4 }, () =>
      isolate({
        store: upstashStore(delayedRedis(400), { prefix }),
        storeTimeoutMs: 100,
        logger: { warn: (message: string) => void warnings.push(message), error: () => {} },
      }),
    )
    const { tokens, cookies } = await session(-5)
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => isolates[i % 4]!(pageRequest(`/p/${i}`, cookies))))
    for (const response of responses) expect(setCookies(response)).toEqual([])
    expect(warnings.some((warning) => warning.includes('slower than 100 ms'))).toBe(true)
    expect((await providerStats()).refreshRequests).toBe(0)
    expect((await refreshDirectly(tokens.refresh_token)).status).toBe(200)
  })
})

describe('deadlines, slow providers and back-off', () => {
  it('regression: a provider slower than providerTimeoutMs is not abandoned: its rotated tokens reach the next request, no reuse', async () => {
    const { tokens, cookies } = await session(-5)
    const timing = { providerTimeoutMs: 400, storeTimeoutMs: 300, leaseMs: 4000, deadlineMs: 1000 }
    await hooks().latency(1200)
    const event = collectingEvent()
    const first = await isolate(timing)(pageRequest('/', cookies), event)
    expect(setCookies(first)).toEqual([])
    // The call went on after the request stopped waiting, and published what it got.
    await event.settle()
    await hooks().latency(0)
    const second = await isolate(timing)(pageRequest('/', cookies))
    const refreshed = (await sessionOf(second))!
    expect(refreshed.access_token).not.toBe(tokens.access_token)
    expect((await providerStats()).refreshRequests).toBe(1)
    expect((await providerStats()).reuseDetected).toBe(0)
    expect((await refreshDirectly(refreshed.refresh_token as string)).status).toBe(200)
  })

  it('regression: a lock that never expires holds no request past its deadline', async () => {
    const { tokens, cookies } = await session(-5)
    const { createSealer } = await import('../lib/refresh/sealing')
    const key = await createSealer([SECRET]).keyFor(tokens.refresh_token)
    await redis().set(`${prefix}${key}:lock`, 'stuck-without-ttl')
    const handler = isolate({ providerTimeoutMs: 400, storeTimeoutMs: 300, leaseMs: 4000, deadlineMs: 1000 })
    const started = Date.now()
    const response = await handler(pageRequest('/', cookies))
    expect(Date.now() - started).toBeLessThan(1000 + 1000)
    expect(setCookies(response)).toEqual([])
    expect((await providerStats()).refreshRequests).toBe(0)
  })

  it('regression: 429 with Retry-After is honoured by every isolate through the store', async () => {
    const { cookies } = await session(-5)
    let tokenCalls = 0
    const limited = async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input)
      if (!url.includes('/token')) return fetch(input, init)
      tokenCalls += 1
      return new Response(JSON.stringify({ error: 'temporarily_unavailable' }), {
        status: 429,
        headers: { 'content-type': 'application/json', 'retry-after': '60' },
      })
    }
    const isolates = Array.from({ length: 4 }, () => isolate({ fetch: limited, retryAfterMs: 100 }))
    // Bounded: 5 rounds of 8 requests over about a second, far past retryAfterMs.
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 8 }, (_, i) => isolates[i % 4]!(pageRequest(`/r/${round}/${i}`, cookies))))
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(tokenCalls).toBe(1)
  })

  it('regression: with the store down and storeOutage "refresh-in-isolate", concurrent in-skew requests of one isolate share one refresh', async () => {
    const { cookies } = await session(30)
    const handler = isolate({ storeTimeoutMs: 200, storeOutage: 'refresh-in-isolate' })
    await redisHook('redis-stop')
    try {
      const event = collectingEvent()
      await Promise.all(Array.from({ length: 10 }, () => handler(pageRequest('/', cookies), event)))
      await event.settle()
    } finally {
      await redisHook('redis-start')
    }
    expect((await providerStats()).refreshRequests).toBe(1)
  })
})

describe('how long an old cookie stays good', () => {
  it('regression: a background result shrinks to graceSeconds once a request hands it to the browser', async () => {
    // It used to stay for the whole session lifetime (30 days): anyone holding the pre-refresh
    // cookie could fetch fresh tokens with no provider call and no reuse detection.
    const { tokens, cookies } = await session(30)
    const key = await (await import('../lib/refresh/sealing')).createSealer([SECRET]).keyFor(tokens.refresh_token)
    const event = collectingEvent()
    await isolate({ graceSeconds: 5 })(pageRequest('/', cookies), event)
    await event.settle()
    const ttl = () => redis().pttl(`${prefix}${key}`)
    expect(await ttl()).toBeGreaterThan(24 * 60 * 60 * 1000)

    const delivered = collectingEvent()
    const response = await isolate({ graceSeconds: 5 })(pageRequest('/', cookies), delivered)
    expect((await sessionOf(response))!.access_token).not.toBe(tokens.access_token)
    await delivered.settle()
    expect(await ttl()).toBeGreaterThan(0)
    expect(await ttl()).toBeLessThanOrEqual(5000)
    expect((await providerStats()).refreshRequests).toBe(1)
  })
})

describe('a store someone else can write to', () => {
  it("regression: a sealed result or dead mark copied under another refresh token's key is not handed to that session", async () => {
    const raw = new Redis({ url: inject('redisRestUrl'), token: inject('redisRestToken'), retry: false, automaticDeserialization: false })
    const { createSealer } = await import('../lib/refresh/sealing')
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
    await hooks().revoke(other.refresh_token)
    await isolate()(pageRequest('/', { [NAME]: await encodeWith('next-auth-v4', NAME, sessionPayload(other, { expires_at: past })) }))
    const deadValue = await raw.get<string>(`${prefix}${await keyOf(other.refresh_token)}`)
    expect(deadValue).toBeTypeOf('string')
    const second = await signInAtProvider()
    await raw.set(`${prefix}${await keyOf(second.refresh_token)}`, deadValue!, { px: 60_000 })
    const secondResponse = await isolate()(
      pageRequest('/', { [NAME]: await encodeWith('next-auth-v4', NAME, sessionPayload(second, { expires_at: past })) }),
    )
    expect((await sessionOf(secondResponse))?.error).toBeUndefined()
    expect(secondResponse.status).not.toBe(307)
    expect((await refreshDirectly(second.refresh_token)).status).toBe(200)
  })
})
