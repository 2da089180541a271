// @vitest-environment node
/**
 * Database sessions on Node: the demo in its database mode (DATABASE_URL) on two `next start`
 * instances that share PostgreSQL and Redis, signed in through next-auth over HTTP in Chromium.
 *
 * Whose part is whose: PostgreSQL is Debian's server (testkit/postgres-process.ts) with the
 * official @auth/pg-adapter and its schema; next-auth v4 writes the user, account and session rows
 * at sign-in; the provider is the real oidc-provider (rotation and reuse detection on); Redis is the
 * real redis-server behind the Upstash REST server that global-setup.ts starts. The test owns one
 * trigger on `accounts` that logs every change of the token columns, to count row writes.
 *
 * Expiry is forced by writing a past `expires_at` into the row: the provider's token is still
 * valid, but the app must treat it as expired, with no waiting.
 */
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { launchChromium, type ChromiumSession } from '../testkit/chromium'
import { findFreePort } from '../testkit/http-json'
import { ensureNextBuild, startNextServer, type NextServer } from '../testkit/next-app'
import { nextAuthClient, startLocalProvider, type LocalProvider } from '../testkit/oidc-provider'
import { startPostgres, type PostgresServer } from '../testkit/postgres-process'
import { providerHooks } from '../testkit/provider-hooks'
import { loginAtProvider } from '../testkit/provider-login'

/** Access tokens at the provider live this long (seconds): longer than the test, so only the forced expiries count. */
const TTL_SECONDS = 300
const STORM = 50
const LOGIN = 'db-user'
const SESSION_COOKIE = 'next-auth.session-token'

let postgres: PostgresServer
let provider: LocalProvider
let apps: NextServer[] = []
let context: BrowserContext
let browser: ChromiumSession | undefined
let cookie = ''

const hooks = () => providerHooks(provider.issuer)

interface AccountRow {
  access_token: string
  refresh_token: string | null
  expires_at: string
}

async function account(): Promise<AccountRow> {
  const { rows } = await postgres.pool.query<AccountRow>(
    `SELECT access_token, refresh_token, expires_at FROM accounts WHERE "providerAccountId" = $1`,
    [LOGIN],
  )
  if (!rows[0]) throw new Error('no account row for the test user')
  return rows[0]
}

async function expireAccount(): Promise<void> {
  await postgres.pool.query(`UPDATE accounts SET expires_at = extract(epoch from now())::bigint - 5 WHERE "providerAccountId" = $1`, [
    LOGIN,
  ])
}

async function rowWrites(): Promise<number> {
  return Number((await postgres.pool.query<{ count: string }>('SELECT count(*) FROM account_token_writes')).rows[0]!.count)
}

/** One request of the storm: a page, the session endpoint or the route handler, on one instance. */
async function request(app: NextServer, kind: number): Promise<{ path: string; status: number; body: string }> {
  const path = ['/protected', '/api/auth/session', '/api/me'][kind % 3]!
  const headers: Record<string, string> = {
    cookie,
    ...(path === '/protected' ? { accept: 'text/html', 'sec-fetch-mode': 'navigate' } : {}),
  }
  const response = await fetch(`${app.url}${path}`, { headers, redirect: 'manual', signal: AbortSignal.timeout(20_000) })
  return { path, status: response.status, body: await response.text() }
}

async function signIn(page: Page, app: NextServer): Promise<void> {
  await page.goto(`${app.url}/`)
  await page.getByTestId('sign-in').click()
  await loginAtProvider(page, provider.issuer, LOGIN)
  await page.waitForURL(`${app.url}/protected`)
}

describe('database sessions: PostgreSQL + @auth/pg-adapter, 2 next start instances sharing Redis', () => {
  beforeAll(async () => {
    postgres = await startPostgres()
    // The test's own audit of the token columns: one row per UPDATE that changed them.
    await postgres.pool.query(`
      CREATE TABLE account_token_writes (at timestamptz NOT NULL DEFAULT now(), refresh_token text);
      CREATE FUNCTION log_account_token_write() RETURNS trigger AS $$
      BEGIN INSERT INTO account_token_writes (refresh_token) VALUES (NEW.refresh_token); RETURN NEW; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER account_token_writes AFTER UPDATE ON accounts FOR EACH ROW
        WHEN (OLD.refresh_token IS DISTINCT FROM NEW.refresh_token OR OLD.access_token IS DISTINCT FROM NEW.access_token)
        EXECUTE FUNCTION log_account_token_write();
    `)
    await ensureNextBuild()
    const ports = [await findFreePort(), await findFreePort()]
    const clientId = 'db-sessions-app'
    const clientSecret = 'db-sessions-secret'
    provider = await startLocalProvider({
      accessTokenTtlSeconds: TTL_SECONDS,
      testHooks: true,
      clients: [nextAuthClient(clientId, clientSecret, ports)],
    })
    const env = (port: number) => ({
      NEXTAUTH_URL: `http://127.0.0.1:${port}`,
      NEXTAUTH_SECRET: 'database-sessions-test-secret-0123456789',
      OIDC_ISSUER: provider.issuer,
      OIDC_CLIENT_ID: clientId,
      OIDC_CLIENT_SECRET: clientSecret,
      UPSTASH_REDIS_REST_URL: inject('redisRestUrl'),
      UPSTASH_REDIS_REST_TOKEN: inject('redisRestToken'),
      DATABASE_URL: postgres.url,
      REFRESH_SKEW_SECONDS: '10',
    })
    apps = await Promise.all(ports.map((port, i) => startNextServer({ port, env: env(port), name: `database-sessions-${i}` })))
    browser = await launchChromium({ width: 1100, height: 900 }, 20_000)
    context = browser.context
  }, 420_000)

  afterAll(async () => {
    await browser?.close()
    await Promise.all(apps.map((app) => app.stop().catch(() => undefined)))
    await provider?.stop().catch(() => undefined)
    await postgres?.stop().catch(() => undefined)
  }, 60_000)

  it('signs in through next-auth with the database strategy: the account row holds the provider tokens', async () => {
    const page = context.pages()[0] ?? (await context.newPage())
    await signIn(page, apps[0]!)
    const session = (await context.cookies(apps[0]!.url)).find((candidate) => candidate.name === SESSION_COOKIE)
    // A database session's cookie is the session token itself, not a JWT.
    expect(session?.value).toMatch(/^[0-9a-f-]{36}$/)
    cookie = `${SESSION_COOKIE}=${session!.value}`
    const row = await account()
    expect(typeof row.refresh_token).toBe('string')
    expect(await rowWrites()).toBe(0)
  })

  it(`${STORM} parallel requests over both instances on an expired account: 1 provider refresh, the row written once, 0 reuse`, async () => {
    const before = await account()
    const statsBefore = await hooks().stats(LOGIN)
    await expireAccount()
    const started = performance.now()
    const responses = await Promise.all(Array.from({ length: STORM }, (_, i) => request(apps[i % 2]!, i)))
    const elapsedMs = Math.round(performance.now() - started)

    const stats = await hooks().stats(LOGIN)
    expect(stats.refreshRequests - statsBefore.refreshRequests).toBe(1)
    expect(stats.reuseDetected).toBe(0)
    expect(responses.filter((response) => response.status !== 200).map((response) => `${response.path} ${response.status}`)).toEqual([])
    const after = await account()
    expect(after.refresh_token).not.toBe(before.refresh_token)
    expect(after.access_token).not.toBe(before.access_token)
    expect(await rowWrites()).toBe(1)
    // The route handler used the new access token at the provider's userinfo endpoint.
    const me = responses
      .filter((response) => response.path === '/api/me')
      .map((response) => JSON.parse(response.body) as { userinfoStatus: number })
    expect(me.map((body) => body.userinfoStatus)).toEqual(me.map(() => 200))
    const sessions = responses
      .filter((response) => response.path === '/api/auth/session')
      .map((response) => JSON.parse(response.body) as { error?: string; expiresAt?: number })
    expect(sessions.every((body) => body.error === undefined && (body.expiresAt ?? 0) > Date.now() / 1000)).toBe(true)

    // No token in the clear in Redis: with PostgreSQL the adapter stores nothing there, and the package's own values are sealed.
    const scan = JSON.stringify(await (await fetch(`${inject('redisRestUrl')}/__test/scan`)).json())
    for (const token of [before.access_token, before.refresh_token!, after.access_token, after.refresh_token!])
      expect(scan.includes(token)).toBe(false)
    console.log(
      JSON.stringify({
        test: 'database-sessions storm',
        instances: 2,
        requests: STORM,
        providerRefreshes: stats.refreshRequests - statsBefore.refreshRequests,
        rowWrites: await rowWrites(),
        reuse: stats.reuseDetected,
        elapsedMs,
      }),
    )
  })

  it('the session survives the next expiry too: the rotated refresh token was the live one', async () => {
    const before = await account()
    const statsBefore = await hooks().stats(LOGIN)
    await expireAccount()
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => request(apps[i % 2]!, i)))
    expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200))
    const stats = await hooks().stats(LOGIN)
    expect(stats.refreshRequests - statsBefore.refreshRequests).toBe(1)
    expect(stats.refreshSucceeded - statsBefore.refreshSucceeded).toBe(1)
    expect(stats.reuseDetected).toBe(0)
    expect((await account()).refresh_token).not.toBe(before.refresh_token)
    expect(await rowWrites()).toBe(2)
  })

  it('invalid_grant: the session reports RefreshTokenError, the row keeps no dead refresh token, the page sends the user to sign in again', async () => {
    await hooks().revoke((await account()).refresh_token!)
    await expireAccount()
    const session = await request(apps[1]!, 1)
    expect(JSON.parse(session.body)).toMatchObject({ error: 'RefreshTokenError' })
    expect((await account()).refresh_token).toBeNull()

    // The client: the protected page shows the error and SessionErrorWatcher calls signIn() (the guide's advice).
    const page = context.pages()[0]!
    await page.goto(`${apps[0]!.url}/protected`)
    await page.getByText('RefreshTokenError').first().waitFor({ timeout: 10_000 })
    await loginAtProvider(page, provider.issuer, LOGIN)
    await page.waitForURL(`${apps[0]!.url}/protected`)
    // Signing in again wrote the new tokens into the row (next-auth alone would not: databaseSignInEvents).
    const renewed = await account()
    expect(typeof renewed.refresh_token).toBe('string')
    expect(JSON.parse((await request(apps[1]!, 1)).body)).not.toHaveProperty('error')
  })
})
