// @vitest-environment node
/**
 * Database sessions at the edge: next-auth's database strategy with the Upstash Redis adapter.
 *
 * Whose part is whose: the sessions, users and accounts are written by the real adapter
 * (`@next-auth/upstash-redis-adapter`, what next-auth calls at sign-in) into the real redis-server
 * behind the Upstash REST server; the provider is the real oidc-provider; the middleware is the
 * README's `examples/database-sessions/middleware.ts`, bundled for the edge and evaluated in 8
 * EdgeVM isolates that share nothing but Upstash and the provider.
 *
 * This file starts its own provider with 120-second access tokens (the shared one issues 4-second
 * tokens): longer than the refresher's default 60-second skew, as real tokens are, so a token
 * just refreshed is fresh. Expiry is forced by writing a past `expires_at` into the account.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { UpstashRedisAdapter } from '@next-auth/upstash-redis-adapter'
import { Redis } from '@upstash/redis'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { oidc, upstashStore } from '../lib'
import {
  createAccountRefresher,
  databaseSessionCallbacks,
  upstashAdapterAccounts,
  type AccountRefresherOptions,
} from 'next-auth-edge-refresh/database'
import { DEFAULT_TEST_CLIENT, startLocalProvider, type LocalProvider } from '../testkit/oidc-provider'
import { providerHooks, type ProviderTokens } from '../testkit/provider-hooks'
import { startDatabaseIsolates, type DatabaseIsolate } from '../testkit/isolates'
import { quietLogger, SECRET } from './support/sessions'

const ISOLATES = 8
const REQUESTS = 50
const ORIGIN = 'http://app.test'
/** What the storm asks for: pages, next-auth's session endpoint and a route handler. */
const PATHS = [
  { path: '/protected', kind: 'navigation' },
  { path: '/api/auth/session', kind: 'api' },
  { path: '/api/me', kind: 'api' },
] as const

let provider: LocalProvider
let redis: Redis

beforeAll(async () => {
  provider = await startLocalProvider({ testHooks: true, accessTokenTtlSeconds: 120 })
  redis = new Redis({ url: inject('redisRestUrl'), token: inject('redisRestToken'), retry: false, enableTelemetry: false })
})

afterAll(async () => {
  await provider?.stop()
})

/** The environment the example reads, as its Vercel project would set it. */
function exampleEnv(): Record<string, string> {
  return {
    UPSTASH_REDIS_REST_URL: inject('redisRestUrl'),
    UPSTASH_REDIS_REST_TOKEN: inject('redisRestToken'),
    NEXTAUTH_SECRET: SECRET,
    OIDC_ISSUER: provider.issuer,
    OIDC_CLIENT_ID: DEFAULT_TEST_CLIENT.client_id,
    OIDC_CLIENT_SECRET: DEFAULT_TEST_CLIENT.client_secret,
  }
}

const hooks = () => providerHooks(provider.issuer)

interface SignedIn {
  login: string
  userId: string
  providerAccountId: string
  accountKey: string
  cookie: string
  tokens: ProviderTokens
}

/**
 * What next-auth does at a database-strategy sign-in, through the real adapter: the provider's
 * tokens go into a new account, and a session row gets a random token that becomes the cookie.
 * The account's `expires_at` is written in the past: the access token counts as expired.
 */
async function signInThroughAdapter(): Promise<SignedIn> {
  const login = `db-edge-${crypto.randomUUID()}`
  const tokens = await hooks().signIn({ login })
  const adapter = UpstashRedisAdapter(redis)
  const user = await adapter.createUser!({ name: login, email: `${login}@example.test`, emailVerified: null })
  const providerAccountId = login
  await adapter.linkAccount!({
    userId: user.id,
    type: 'oauth',
    provider: 'oidc',
    providerAccountId,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    id_token: tokens.id_token,
    token_type: 'bearer',
    scope: tokens.scope,
    expires_at: Math.floor(Date.now() / 1000) - 5,
  })
  const sessionToken = crypto.randomUUID()
  await adapter.createSession!({ sessionToken, userId: user.id, expires: new Date(Date.now() + 30 * 24 * 60 * 60 * 1000) })
  return {
    login,
    userId: user.id,
    providerAccountId,
    accountKey: `user:account:oidc:${providerAccountId}`,
    cookie: `next-auth.session-token=${sessionToken}`,
    tokens,
  }
}

/** What next-auth's `session` callback on Node refreshes with, over the same Upstash database as the example's middleware. */
function nodeRefresher(overrides: Partial<AccountRefresherOptions> = {}) {
  return createAccountRefresher({
    secret: SECRET,
    providers: {
      oidc: oidc({ issuer: provider.issuer, clientId: DEFAULT_TEST_CLIENT.client_id, clientSecret: DEFAULT_TEST_CLIENT.client_secret }),
    },
    store: upstashStore(redis),
    accounts: upstashAdapterAccounts(redis),
    ...overrides,
  })
}

/** The account as the adapter stored it: what a page or route handler behind the middleware reads. */
async function storedAccount(key: string): Promise<Record<string, unknown>> {
  const value = await redis.get<Record<string, unknown>>(key)
  if (!value) throw new Error(`no account at ${key}`)
  return value
}

async function userinfoStatus(accessToken: string): Promise<number> {
  const discovery = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as { userinfo_endpoint: string }
  return (await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } })).status
}

/**
 * Every request through one of the isolates; once its middleware answers, the "forwarded request"
 * reads the account as the app behind it would, and records the access token it found.
 */
async function storm(isolates: DatabaseIsolate[], signedIn: SignedIn) {
  return Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const { path, kind } = PATHS[i % PATHS.length]!
      const started = performance.now()
      const response = await isolates[i % isolates.length]!.handle(`${ORIGIN}${path}`, signedIn.cookie, kind)
      const latencyMs = performance.now() - started
      const seen = (await storedAccount(signedIn.accountKey)).access_token as string
      return { ...response, latencyMs, seen }
    }),
  )
}

/** Every key in Redis with its value as text (the test database is small). */
async function redisContents(): Promise<Array<{ key: string; value: string }>> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, { count: 1000 })
    keys.push(...batch)
    cursor = String(next)
  } while (cursor !== '0')
  return Promise.all(keys.map(async (key) => ({ key, value: JSON.stringify(await redis.get(key).catch(() => '(not a string)')) })))
}

describe(`database sessions at the edge (Upstash adapter): ${REQUESTS} requests over ${ISOLATES} EdgeVM isolates`, () => {
  it('one provider refresh; the account in Upstash holds the rotated tokens; every forwarded request reads the new access token', async () => {
    const signedIn = await signInThroughAdapter()
    const isolates = await startDatabaseIsolates(ISOLATES, exampleEnv())
    const responses = await storm(isolates, signedIn)
    await Promise.all(isolates.map((isolate) => isolate.settle()))

    const counts = await hooks().stats(signedIn.login)
    expect(counts.refreshRequests).toBe(1)
    expect(counts.reuseDetected).toBe(0)
    expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200))
    // A database session's cookie never changes: the tokens live in the account.
    expect(responses.flatMap((response) => response.setCookie)).toEqual([])

    const account = await storedAccount(signedIn.accountKey)
    expect(account.refresh_token).not.toBe(signedIn.tokens.refresh_token)
    expect(account.access_token).not.toBe(signedIn.tokens.access_token)
    expect(account.expires_at as number).toBeGreaterThan(Date.now() / 1000 + 60)
    // The adapter's other fields are untouched.
    expect(account).toMatchObject({
      userId: signedIn.userId,
      provider: 'oidc',
      providerAccountId: signedIn.providerAccountId,
      type: 'oauth',
      scope: signedIn.tokens.scope,
    })
    expect(new Set(responses.map((response) => response.seen))).toEqual(new Set([account.access_token]))
    expect(await userinfoStatus(account.access_token as string)).toBe(200)
    // The rotated refresh token is the live one: the provider accepts it (this direct use is the second refresh).
    // Past the token's 120-second life: the fresh account counts as due (quiet about that on purpose).
    const refresher = nodeRefresher({ skewSeconds: 150, logger: quietLogger })
    expect(await refresher.refresh(signedIn.userId)).toMatchObject({ reason: 'refreshed' })
    expect(await hooks().stats(signedIn.login)).toMatchObject({ refreshRequests: 2, refreshSucceeded: 2, reuseDetected: 0 })

    // No token in the clear in Redis except in the adapter's own account record.
    const latest = await storedAccount(signedIn.accountKey)
    const contents = await redisContents()
    const secrets = [signedIn.tokens, account, latest].flatMap((tokens) => [tokens.access_token as string, tokens.refresh_token as string])
    const holding = contents.filter(({ value }) => secrets.some((secret) => value.includes(secret))).map(({ key }) => key)
    expect(holding).toEqual([signedIn.accountKey])
    const latencies = responses.map((response) => response.latencyMs).sort((a, b) => a - b)
    console.log(
      JSON.stringify({
        test: 'database-edge storm',
        isolates: ISOLATES,
        requests: REQUESTS,
        providerRefreshes: counts.refreshRequests,
        reuse: counts.reuseDetected,
        p50Ms: Math.round(latencies[Math.floor(latencies.length / 2)]!),
        maxMs: Math.round(latencies.at(-1)!),
        keysHoldingTokens: holding,
      }),
    )
  })

  it('invalid_grant: a page navigation goes to sign-in once, the account keeps no dead refresh token, the session callback reports RefreshTokenError', async () => {
    const signedIn = await signInThroughAdapter()
    await hooks().revoke(signedIn.tokens.refresh_token)
    const [first, ...rest] = await startDatabaseIsolates(2, exampleEnv())

    const ended = await first!.handle(`${ORIGIN}/protected?tab=1`, signedIn.cookie)
    expect(ended.status).toBe(307)
    expect(new URL(ended.location!).pathname).toBe('/api/auth/signin')
    expect(new URL(ended.location!).searchParams.get('callbackUrl')).toBe('/protected?tab=1')
    expect((await storedAccount(signedIn.accountKey)).refresh_token).toBeNull()

    // Later requests pass (no redirect loop, the sign-in page stays reachable) without calling the provider.
    expect((await rest[0]!.handle(`${ORIGIN}/protected`, signedIn.cookie)).status).toBe(200)
    expect((await first!.handle(`${ORIGIN}/api/auth/signin`, signedIn.cookie)).status).toBe(200)
    expect(await hooks().stats(signedIn.login)).toMatchObject({ refreshRequests: 1, reuseDetected: 0 })

    // What the page renders next: next-auth's session callback (Node) marks the session.
    const refresher = nodeRefresher()
    const session = await databaseSessionCallbacks(refresher).session({
      session: { user: { name: signedIn.login } },
      user: { id: signedIn.userId },
    })
    expect(session).toMatchObject({ error: 'RefreshTokenError' })
  })

  it('an unknown session token, a session of another strategy or garbage passes untouched, with no provider call', async () => {
    const [isolate] = await startDatabaseIsolates(1, exampleEnv())
    for (const cookie of [
      'next-auth.session-token=unknown',
      'next-auth.session-token=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..x.y.z',
      `authjs.session-token=${'%'.repeat(50)}`,
      '',
    ]) {
      expect((await isolate!.handle(`${ORIGIN}/protected`, cookie)).status).toBe(200)
    }
  })

  it('the example (middleware.ts, auth.ts, refresh-options.ts) type-checks with strict tsc against next-auth v4 and the built package', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url))
    const tsc = promisify(execFile)(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'examples/database-sessions/tsconfig.json', '--noEmit'],
      { cwd: root },
    )
    await expect(
      tsc.then(
        () => 'no errors',
        (error: { stdout?: string }) => error.stdout ?? String(error),
      ),
    ).resolves.toBe('no errors')
  }, 120_000)
})
