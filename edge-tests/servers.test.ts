/**
 * Smoke test of the real servers the other edge tests rely on (started by global-setup.ts):
 * the oidc-provider behaves like a strict rotating provider, and the Upstash REST server works
 * with the real @upstash/redis client. Runs in the edge-runtime VM, so everything is fetch.
 */
import { Redis } from '@upstash/redis'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { describe, expect, inject, it } from 'vitest'

import { providerHooks, type ProviderTokens } from '../testkit/provider-hooks'

/** A login nobody else uses, so this file's stats and faults are its own. */
const uniqueLogin = (label: string) => `${label}-${crypto.randomUUID()}`

const hooks = () => providerHooks(inject('issuer'))

async function discovery(): Promise<{ token_endpoint: string; userinfo_endpoint: string; jwks_uri: string }> {
  return (await (await fetch(`${inject('issuer')}/.well-known/openid-configuration`)).json()) as {
    token_endpoint: string
    userinfo_endpoint: string
    jwks_uri: string
  }
}

/** A refresh exactly as a confidential client sends it: form body, client_secret_basic. */
async function refresh(refreshToken: string): Promise<Response> {
  const credentials = `${encodeURIComponent(inject('clientId'))}:${encodeURIComponent(inject('clientSecret'))}`
  return fetch((await discovery()).token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(credentials)}` },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  })
}

async function userinfo(accessToken: string): Promise<Response> {
  return fetch((await discovery()).userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } })
}

describe('local oidc-provider', () => {
  it('signs in through its own login and consent pages and issues RS256 id_tokens', async () => {
    const login = uniqueLogin('signin')
    const tokens = await hooks().signIn({ login })

    expect(tokens.token_type).toBe('Bearer')
    expect(tokens.expires_in).toBe(4)
    expect(tokens.scope.split(' ').sort()).toEqual(['email', 'offline_access', 'openid', 'profile'])
    expect(tokens.refresh_token).toEqual(expect.any(String))
    expect(tokens.access_token).not.toBe(tokens.refresh_token)

    const { payload, protectedHeader } = await jwtVerify(tokens.id_token, createRemoteJWKSet(new URL((await discovery()).jwks_uri)), {
      issuer: inject('issuer'),
      audience: inject('clientId'),
    })
    expect(protectedHeader.alg).toBe('RS256')
    expect(payload).toMatchObject({ sub: login, name: login, email: `${login}@example.test` })

    const info = await userinfo(tokens.access_token)
    expect(info.status).toBe(200)
    expect(await info.json()).toMatchObject({ sub: login, name: login, email: `${login}@example.test` })
  })

  it('rotates the refresh token on every use and revokes the login when a used one comes back', async () => {
    const login = uniqueLogin('rotation')
    const first = await hooks().signIn({ login })

    const rotated = await refresh(first.refresh_token)
    expect(rotated.status).toBe(200)
    const second = (await rotated.json()) as ProviderTokens
    expect(second.refresh_token).toEqual(expect.any(String))
    expect(second.refresh_token).not.toBe(first.refresh_token)
    expect(second.access_token).not.toBe(first.access_token)
    expect((await userinfo(second.access_token)).status).toBe(200)

    const reused = await refresh(first.refresh_token)
    expect(reused.status).toBe(400)
    expect(await reused.json()).toMatchObject({ error: 'invalid_grant' })

    // The reuse revoked the whole grant: the newest refresh token and its access token are dead too.
    const afterRevocation = await refresh(second.refresh_token)
    expect(afterRevocation.status).toBe(400)
    expect(await afterRevocation.json()).toMatchObject({ error: 'invalid_grant' })
    expect((await userinfo(second.access_token)).status).toBe(401)

    expect(await hooks().stats(login)).toEqual({ refreshRequests: 3, refreshSucceeded: 1, refreshFailed: 2, reuseDetected: 1 })
  })

  it('answers an injected 503 without using up the refresh token', async () => {
    const login = uniqueLogin('fail')
    const tokens = await hooks().signIn({ login })
    await hooks().fail(503, { count: 1, login })

    const failed = await refresh(tokens.refresh_token)
    expect(failed.status).toBe(503)
    expect(await failed.text()).not.toContain('access_token')

    const retried = await refresh(tokens.refresh_token)
    expect(retried.status).toBe(200)
    expect(await hooks().stats(login)).toEqual({ refreshRequests: 2, refreshSucceeded: 1, refreshFailed: 1, reuseDetected: 0 })
  })

  it('delays token responses by the configured latency', async () => {
    const login = uniqueLogin('latency')
    const tokens = await hooks().signIn({ login })
    await hooks().latency(400, login)
    try {
      const started = performance.now()
      const response = await refresh(tokens.refresh_token)
      expect(response.status).toBe(200)
      expect(performance.now() - started).toBeGreaterThanOrEqual(390)
    } finally {
      await hooks().latency(0, login)
    }
  })

  it('revokes a login through /__test/revoke', async () => {
    const login = uniqueLogin('revoke')
    const tokens = await hooks().signIn({ login })
    await hooks().revoke(tokens.refresh_token)

    const response = await refresh(tokens.refresh_token)
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' })
    expect((await hooks().stats(login)).reuseDetected).toBe(0)
  })
})

describe('Upstash REST server', () => {
  const url = () => inject('redisRestUrl')
  const prefix = `servers-test:${crypto.randomUUID()}:`

  for (const responseEncoding of ['base64', false] as const) {
    it(`serves @upstash/redis commands, pipelines, transactions and scripts (responseEncoding: ${String(responseEncoding)})`, async () => {
      const redis = new Redis({ url: url(), token: inject('redisRestToken'), responseEncoding, retry: false })
      const key = `${prefix}${String(responseEncoding)}`
      const text = 'héllo wörld ✓ {"not":"json"' // multi-byte UTF-8, and not valid JSON

      expect(await redis.set(key, text)).toBe('OK')
      expect(await redis.get(key)).toBe(text)
      expect(await redis.get(`${key}:missing`)).toBeNull()

      const pipeline = redis.pipeline()
      pipeline.set(`${key}:n`, 1)
      pipeline.incr(`${key}:n`)
      pipeline.get(`${key}:missing`)
      pipeline.hset(`${key}:h`, { field: 'value' })
      pipeline.hgetall(`${key}:h`)
      expect(await pipeline.exec()).toEqual(['OK', 2, null, 1, { field: 'value' }])

      expect(await redis.multi().set(`${key}:m`, 'a').append(`${key}:m`, 'b').get(`${key}:m`).exec()).toEqual(['OK', 2, 'ab'])

      const lua = "return {KEYS[1], ARGV[1], 42, redis.call('GET', KEYS[1])}"
      expect(await redis.eval(lua, [key], ['arg'])).toEqual([key, 'arg', 42, text])

      // A script nobody loaded yet: EVALSHA answers NOSCRIPT, the client falls back to EVAL,
      // and the second run is served by EVALSHA from the script cache.
      const script = redis.createScript<string>(`-- ${crypto.randomUUID()}\nreturn redis.call('GET', KEYS[1])`)
      const before = (await (await fetch(`${url()}/__test/commands`)).json()) as { byCommand: Record<string, number> }
      expect(await script.exec([key], [])).toBe(text)
      expect(await script.exec([key], [])).toBe(text)
      const after = (await (await fetch(`${url()}/__test/commands`)).json()) as { byCommand: Record<string, number> }
      expect((after.byCommand.EVALSHA ?? 0) - (before.byCommand.EVALSHA ?? 0)).toBeGreaterThanOrEqual(2)
      expect((after.byCommand.EVAL ?? 0) - (before.byCommand.EVAL ?? 0)).toBeGreaterThanOrEqual(1)

      await expect(redis.incr(key)).rejects.toThrow(/not an integer/)
      await redis.del(key, `${key}:n`, `${key}:h`, `${key}:m`)
    })
  }

  it('speaks the wire format: auth, nil, base64 strings, Redis errors as HTTP 400', async () => {
    const key = `${prefix}wire`
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${url()}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${inject('redisRestToken')}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      })

    const unauthorized = await fetch(`${url()}/`, { method: 'POST', body: '["PING"]', headers: { authorization: 'Bearer wrong' } })
    expect(unauthorized.status).toBe(401)

    expect(await (await post('/', ['SET', key, 'v1'])).json()).toEqual({ result: 'OK' })
    expect(await (await post('/', ['GET', `${key}:missing`])).json()).toEqual({ result: null })
    expect(await (await post('/', ['MGET', key, `${key}:missing`], { 'Upstash-Encoding': 'base64' })).json()).toEqual({
      result: [btoa('v1'), null],
    })
    expect(
      await (
        await post('/pipeline', [
          ['GET', `${key}:missing`],
          ['INCR', key],
        ])
      ).json(),
    ).toEqual([{ result: null }, { error: 'ERR value is not an integer or out of range' }])
    const failed = await post('/', ['NOSUCHCOMMAND'])
    expect(failed.status).toBe(400)
    expect(((await failed.json()) as { error: string }).error).toMatch(/^ERR unknown command/)

    const scan = (await (await fetch(`${url()}/__test/scan`)).json()) as { keys: { key: string; value: unknown }[] }
    expect(scan.keys).toContainEqual(expect.objectContaining({ key, value: 'v1' }))
    await post('/', ['DEL', key])
  })

  it('fails fast while Redis is stopped and recovers when it starts again', async () => {
    const redis = new Redis({ url: url(), token: inject('redisRestToken') })
    const key = `${prefix}outage`
    expect(await redis.set(key, 'before')).toBe('OK')

    expect((await fetch(`${url()}/__test/redis-stop`, { method: 'POST' })).status).toBe(200)
    try {
      const started = performance.now()
      // Default retry settings on purpose: a 503 is an answer, not a network error, so no retries.
      await expect(redis.get(key)).rejects.toThrow(/redis is down/)
      expect(performance.now() - started).toBeLessThan(1000)
    } finally {
      expect((await fetch(`${url()}/__test/redis-start`, { method: 'POST' })).status).toBe(200)
    }

    // Persistence is off: the restarted server is empty.
    expect(await redis.get(key)).toBeNull()
    expect(await redis.set(key, 'after')).toBe('OK')
    expect(await redis.get(key)).toBe('after')
    await redis.del(key)
  })
})
