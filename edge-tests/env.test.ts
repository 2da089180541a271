// @vitest-environment node
/**
 * The app's environment check (env.ts): one error naming every missing or malformed variable,
 * and the embedded demo defaults only outside production or with DEMO_DEFAULTS=1.
 */
import { describe, expect, it } from 'vitest'
import { DEMO_ONLY_INSECURE_SECRET, DEMO_PROVIDER, EnvError, loadEnv, type RawEnv } from '../env'

const problemsOf = (raw: RawEnv): string[] => {
  try {
    loadEnv(raw)
  } catch (error) {
    if (error instanceof EnvError) return error.problems
    throw error
  }
  return []
}

describe('loadEnv', () => {
  it('uses the local demo provider and the development secret when nothing is configured outside production', () => {
    const env = loadEnv({ NODE_ENV: 'development' })
    expect(env.demo).toBe(true)
    expect(env.providers).toEqual([
      {
        id: 'oidc',
        issuer: DEMO_PROVIDER.issuer,
        clientId: DEMO_PROVIDER.clientId,
        clientSecret: DEMO_PROVIDER.clientSecret,
        scope: 'openid profile email offline_access',
        demo: true,
      },
    ])
    expect(env.secret).toBe(DEMO_ONLY_INSECURE_SECRET)
    expect(env.upstash).toBeUndefined()
    expect(env.redis).toBeUndefined()
    expect(env.store).toBe('memory')
    expect(env.skewSeconds).toBe(10)
  })

  it('refuses the demo defaults in production unless DEMO_DEFAULTS=1', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([
      expect.stringContaining('no sign-in provider is configured'),
      expect.stringContaining('NEXTAUTH_SECRET (or AUTH_SECRET) is missing'),
    ])
    expect(loadEnv({ NODE_ENV: 'production', DEMO_DEFAULTS: '1' }).demo).toBe(true)
  })

  it('names every missing and malformed variable in one error', () => {
    const problems = problemsOf({
      NODE_ENV: 'production',
      COGNITO_CLIENT_ID: 'id',
      AUTH_GOOGLE_SECRET: 'secret',
      OIDC_ISSUER: 'http://issuer.example.com',
      OIDC_CLIENT_ID: 'client',
      OIDC_CLIENT_SECRET: 'secret',
      NEXTAUTH_URL: 'app.example.com',
      KV_REST_API_URL: 'https://kv.example.com',
      REFRESH_SKEW_SECONDS: '-5',
    })
    const named = (name: string) => problems.filter((problem) => problem.startsWith(`${name} `))
    expect(named('COGNITO_ISSUER')).toHaveLength(1)
    expect(named('COGNITO_CLIENT_SECRET')).toHaveLength(1)
    expect(named('AUTH_GOOGLE_ID')).toHaveLength(1)
    expect(named('OIDC_ISSUER')[0]).toContain('https')
    expect(named('NEXTAUTH_SECRET')).toHaveLength(1)
    expect(named('NEXTAUTH_URL')[0]).toContain('malformed')
    expect(named('KV_REST_API_TOKEN')).toHaveLength(1)
    expect(named('REFRESH_SKEW_SECONDS')[0]).toContain('malformed')
    expect(problems).toHaveLength(8)
  })

  it('reads a full configuration', () => {
    const env = loadEnv({
      NODE_ENV: 'production',
      COGNITO_ISSUER: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/',
      COGNITO_CLIENT_ID: 'cid',
      COGNITO_CLIENT_SECRET: 'csecret',
      AUTH_GOOGLE_ID: 'gid',
      AUTH_GOOGLE_SECRET: 'gsecret',
      AUTH_SECRET: 'auth-secret',
      UPSTASH_REDIS_REST_URL: 'https://eu1-x.upstash.io',
      UPSTASH_REDIS_REST_TOKEN: 'token',
      REFRESH_SKEW_SECONDS: '30',
    })
    expect(env.demo).toBe(false)
    expect(env.providers.map((provider) => provider.id)).toEqual(['cognito', 'google'])
    expect(env.providers[0]).toMatchObject({ issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc' })
    expect(env.secretSource).toBe('AUTH_SECRET')
    expect(env.upstash).toEqual({ url: 'https://eu1-x.upstash.io', token: 'token', source: 'UPSTASH_REDIS_REST' })
    expect(env.store).toBe('upstash')
    expect(env.skewSeconds).toBe(30)
  })

  it('REDIS_URL: node-redis by default, ioredis on request, and it takes precedence over Upstash', () => {
    const base = { NODE_ENV: 'development' }
    expect(loadEnv({ ...base, REDIS_URL: 'redis://redis:6379' })).toMatchObject({
      store: 'redis',
      redis: { url: 'redis://redis:6379', client: 'node-redis' },
    })
    expect(loadEnv({ ...base, REDIS_URL: 'rediss://user:pw@cache.example.com:6380/2', REDIS_CLIENT: 'ioredis' }).redis).toEqual({
      url: 'rediss://user:pw@cache.example.com:6380/2',
      client: 'ioredis',
    })
    const both = loadEnv({
      ...base,
      REDIS_URL: 'redis://127.0.0.1:6379',
      UPSTASH_REDIS_REST_URL: 'https://eu1-x.upstash.io',
      UPSTASH_REDIS_REST_TOKEN: 'token',
    })
    expect(both.store).toBe('redis')
    // Still read (and checked), just not used.
    expect(both.upstash?.source).toBe('UPSTASH_REDIS_REST')
  })

  it('REDIS_URL and REDIS_CLIENT problems are named, without echoing a URL that may hold a password', () => {
    const problems = problemsOf({ NODE_ENV: 'development', REDIS_URL: 'http://user:secret@redis:6379', REDIS_CLIENT: 'jedis' })
    expect(problems).toHaveLength(2)
    expect(problems.find((problem) => problem.startsWith('REDIS_URL '))).toContain('malformed')
    expect(problems.find((problem) => problem.startsWith('REDIS_CLIENT '))).toContain('node-redis or ioredis')
    expect(problems.join('\n')).not.toContain('secret')
    expect(problemsOf({ NODE_ENV: 'development', REDIS_CLIENT: 'ioredis' })).toEqual([expect.stringMatching(/^REDIS_URL is missing/)])
  })
})
