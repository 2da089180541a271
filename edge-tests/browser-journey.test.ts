// @vitest-environment node
/**
 * The whole system, as a user meets it: `next build` + two `next start` servers (the refresh in
 * the demo's `proxy.ts`, Next 16, on Node) sharing only a Redis (behind the Upstash REST protocol), the real oidc-provider with 5-second access tokens and
 * rotating refresh tokens, and headless Chromium driven by playwright-core.
 *
 * 1. Sign-in through the provider's real login and consent pages.
 * 2. Two tabs browse protected pages for more than four access-token lifetimes: full navigations,
 *    client-side navigations (next/link, with its prefetches), reloads, a server action and a
 *    route handler. Every page's userinfo call succeeds, nobody is sent to sign-in, and the
 *    provider sees one refresh per token lifetime, not one per tab or request.
 * 3. The two servers (127.0.0.1, two ports: the browser sends the same cookies to both) are hit at
 *    the same moment across an expiry: one refresh, and the session goes on on both.
 * 4. The login is revoked at the provider: the next page navigation goes to sign-in with a
 *    same-origin callbackUrl, and a page rendered afterwards shows the error, then starts sign-in.
 *
 * No response in the journey may be a 5xx.
 */
import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findFreePort } from '../testkit/http-json'
import { nextAuthClient, startLocalProvider, type LocalProvider } from '../testkit/oidc-provider'
import { providerHooks } from '../testkit/provider-hooks'
import { loginAtProvider } from '../testkit/provider-login'
import { readSessionCookie } from '../lib/session/session-cookie'
import { ARTIFACTS, ROOT, ensureNextBuild, startNextServer, type NextServer } from '../testkit/next-app'
import { startRedisRest, type RedisRestServer } from '../testkit/upstash-rest'
import { launchChromium, requireChromium, type ChromiumSession } from '../testkit/chromium'

/** Access-token lifetime at the provider, seconds. */
const TTL_SECONDS = 10
/**
 * REFRESH_SKEW_SECONDS of the app: refresh when 1 s or less is left. Small against the lifetime, so
 * that a token is replaced once per lifetime (give or take the whole-second rounding of
 * `expires_at`), which is what the refresh count is checked against.
 */
const SKEW_SECONDS = 1
/** Browse for at least this many access-token lifetimes. */
const JOURNEY_LIFETIMES = 4
/** Hard bound on journey steps, whatever the clock says. */
const MAX_STEPS = 400
const LOGIN = 'e2e-user'
const SCREENSHOTS = join(ARTIFACTS, 'screenshots')

/** What `[data-testid=session-state]` exposes. */
interface PageState {
  page: string
  sub: string
  provider: string
  fingerprint: string
  expiresAt: number
  error: string
  userinfoStatus: string
  userinfoSub: string
}

/** One token the app used, seen by the test at time `t` (epoch ms). */
interface Observation {
  t: number
  fingerprint: string
  expiresAt: number | undefined
  where: string
}

let provider: LocalProvider
let redis: RedisRestServer
let appA: NextServer
let appB: NextServer
let context: BrowserContext
let browser: ChromiumSession | undefined
const secret = randomBytes(32).toString('base64')
const clientId = 'edge-refresh-e2e'
const clientSecret = randomBytes(16).toString('hex')

/** Every 5xx the browser received, and every visit to a sign-in page, as `status url`. */
const serverErrors: string[] = []
const signInVisits: string[] = []
const prefetches: string[] = []

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let inFlight = 0
let lastActivity = 0

/**
 * Waits until the browser has had no request in flight for `quietMs`: the prefetches a page load
 * starts are over, so the cookie the test reads is the one the next request will carry.
 */
async function networkQuiet(quietMs = 500, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (inFlight > 0 || Date.now() - lastActivity < quietMs) {
    if (Date.now() > deadline) throw new Error(`browser network not quiet after ${timeoutMs} ms (${inFlight} requests in flight)`)
    await sleep(50)
  }
}

const fingerprintOf = (token: unknown) => createHash('sha256').update(String(token)).digest('hex').slice(0, 8)
const nowSeconds = () => Math.floor(Date.now() / 1000)

const hooks = () => providerHooks(provider.issuer)
const stats = () => hooks().stats()
const resetStats = () => hooks().reset()

/** Reads the session state a protected page rendered. */
async function readState(page: Page, path?: string): Promise<PageState> {
  const selector = path ? `[data-testid="session-state"][data-page="${path}"]` : '[data-testid="session-state"]'
  const locator = page.locator(selector)
  await locator.waitFor({ timeout: 15_000 })
  const data = await locator.evaluate((element) => ({ ...(element as HTMLElement).dataset }))
  return {
    page: data.page ?? '',
    sub: data.sub ?? '',
    provider: data.provider ?? '',
    fingerprint: data.fingerprint ?? '',
    expiresAt: Number(data.expiresAt),
    error: data.error ?? '',
    userinfoStatus: data.userinfoStatus ?? '',
    userinfoSub: data.userinfoSub ?? '',
  }
}

/** The page must show a live session whose token the provider accepted during the render. */
function expectHealthy(state: PageState, where: string): void {
  expect(state.error, `${where}: session error`).toBe('')
  expect(state.userinfoStatus, `${where}: userinfo status`).toBe('200')
  expect(state.userinfoSub, `${where}: userinfo sub`).toBe(LOGIN)
  expect(state.sub, `${where}: session sub`).toBe(LOGIN)
  expect(state.fingerprint, `${where}: fingerprint`).toMatch(/^[0-9a-f]{8}$/)
}

const otherPath = (path: string) => (path === '/protected' ? '/protected/other' : '/protected')

/** Clicks a button that reports into `[data-testid=<resultId>]` and waits for a new answer. */
async function probe(page: Page, buttonId: string, resultId: string) {
  const result = page.getByTestId(resultId)
  const before = (await result.getAttribute('data-at')) ?? ''
  await page.getByTestId(buttonId).click()
  await page.locator(`[data-testid="${resultId}"][data-state="done"]:not([data-at="${before}"])`).waitFor({ timeout: 15_000 })
  const data = await result.evaluate((element) => ({ ...(element as HTMLElement).dataset }))
  return { status: data.status ?? '', sub: data.sub ?? '', fingerprint: data.fingerprint ?? '' }
}

/** The session cookie as the app would read it (the test knows the secret). */
async function sessionPayload(): Promise<Record<string, unknown>> {
  const cookies = await context.cookies('http://127.0.0.1')
  const session = await readSessionCookie({ getAll: () => cookies.map(({ name, value }) => ({ name, value })) }, { secrets: [secret] })
  if (!session) throw new Error('no readable session cookie in the browser')
  return session.payload
}

function watch(page: Page): void {
  page.on('framenavigated', (frame) => {
    if (frame !== page.mainFrame()) return
    const url = new URL(frame.url())
    if (url.pathname === '/signin' || url.pathname.startsWith('/api/auth/signin') || url.origin === provider.issuer)
      signInVisits.push(frame.url())
  })
}

describe('browser journey: next start ×2 + Redis + oidc-provider + Chromium', () => {
  beforeAll(async () => {
    requireChromium()
    await ensureNextBuild()

    const [portA, portB] = [await findFreePort(), await findFreePort()]
    redis = await startRedisRest()
    provider = await startLocalProvider({
      accessTokenTtlSeconds: TTL_SECONDS,
      testHooks: true,
      clients: [nextAuthClient(clientId, clientSecret, [portA!, portB!])],
    })
    // The same configuration on both servers; only NEXTAUTH_URL differs. They share nothing but Redis.
    const env = (port: number) => ({
      NEXTAUTH_URL: `http://127.0.0.1:${port}`,
      NEXTAUTH_SECRET: secret,
      OIDC_ISSUER: provider.issuer,
      OIDC_CLIENT_ID: clientId,
      OIDC_CLIENT_SECRET: clientSecret,
      UPSTASH_REDIS_REST_URL: redis.url,
      UPSTASH_REDIS_REST_TOKEN: redis.token,
      REFRESH_SKEW_SECONDS: String(SKEW_SECONDS),
    })
    ;[appA, appB] = await Promise.all([
      startNextServer({ port: portA!, env: env(portA!), name: 'journey-server-a' }),
      startNextServer({ port: portB!, env: env(portB!), name: 'journey-server-b' }),
    ])

    mkdirSync(SCREENSHOTS, { recursive: true })
    mkdirSync(join(ROOT, 'docs'), { recursive: true })
    browser = await launchChromium({ width: 1100, height: 760 }, 15_000)
    context = browser.context
    context.on('response', (response) => {
      if (response.status() >= 500) serverErrors.push(`${response.status()} ${response.request().method()} ${response.url()}`)
    })
    context.on('request', (request) => {
      inFlight++
      lastActivity = Date.now()
      if (request.headers()['next-router-prefetch'] === '1') prefetches.push(request.url())
    })
    const done = () => {
      inFlight = Math.max(0, inFlight - 1)
      lastActivity = Date.now()
    }
    context.on('requestfinished', done)
    context.on('requestfailed', done)
    context.on('page', watch)
    for (const page of context.pages()) watch(page)
  }, 420_000)

  afterAll(async () => {
    await browser?.close()
    await Promise.all([appA?.stop(), appB?.stop()].map((stop) => stop?.catch(() => undefined)))
    await provider?.stop().catch(() => undefined)
    await redis?.stop().catch(() => undefined)
  }, 60_000)

  it("signs in through the provider's real login and consent pages", async () => {
    const page = context.pages()[0] ?? (await context.newPage())
    await page.goto(`${appA.url}/`)
    expect(await page.getByTestId('home').getAttribute('data-signed-in')).toBe('false')
    await page.getByTestId('sign-in').click()

    await loginAtProvider(page, provider.issuer, LOGIN)

    await page.waitForURL(`${appA.url}/protected`)
    const state = await readState(page, '/protected')
    expectHealthy(state, 'after sign-in')
    expect(state.provider).toBe('oidc')

    const cookie = (await context.cookies(appA.url)).find((candidate) => candidate.name === 'next-auth.session-token')
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' })
    const payload = await sessionPayload()
    expect(typeof payload.refresh_token).toBe('string')
    expect(payload.provider).toBe('oidc')
    expect(serverErrors).toEqual([])
    // Sign-in visits so far were this sign-in; the journey below must add none.
    signInVisits.length = 0
  }, 60_000)

  it(`keeps two tabs signed in across ${JOURNEY_LIFETIMES}+ access-token lifetimes, one provider refresh per lifetime`, async () => {
    const tab1 = context.pages()[0]!
    const tab2 = await context.newPage()
    await resetStats()
    const observations: Observation[] = []
    const record = (fingerprint: string, expiresAt: number | undefined, where: string) =>
      observations.push({ t: Date.now(), fingerprint, expiresAt, where })

    await tab2.goto(`${appA.url}/protected/other`)
    const first = await readState(tab2, '/protected/other')
    expectHealthy(first, 'tab 2 first load')
    record(first.fingerprint, first.expiresAt, 'tab2 goto')
    await tab2.screenshot({ path: join(SCREENSHOTS, 'protected-before-refresh.png') })
    const firstFingerprint = first.fingerprint
    let afterShot = false

    const kinds = ['link', 'action', 'link', 'goto', 'api', 'reload'] as const
    const started = Date.now()
    const journeyMs = JOURNEY_LIFETIMES * TTL_SECONDS * 1000 + 1500
    let steps = 0
    for (; steps < MAX_STEPS && Date.now() - started < journeyMs; steps++) {
      const tab = steps % 2 === 0 ? tab1 : tab2
      const label = `step ${steps} (tab ${steps % 2 === 0 ? 1 : 2})`
      const kind = kinds[Math.floor(steps / 2) % kinds.length]!
      const current = await readState(tab)
      if (kind === 'link') {
        // Client-side navigation through next/link: an RSC request the middleware must not redirect.
        const target = otherPath(current.page)
        await tab.locator(`a[href="${target}"]`).first().click()
        const state = await readState(tab, target)
        expectHealthy(state, `${label} link → ${target}`)
        record(state.fingerprint, state.expiresAt, `${label} link`)
      } else if (kind === 'goto') {
        const target = otherPath(current.page)
        await tab.goto(`${appA.url}${target}`)
        const state = await readState(tab, target)
        expectHealthy(state, `${label} goto ${target}`)
        record(state.fingerprint, state.expiresAt, `${label} goto`)
      } else if (kind === 'reload') {
        await tab.reload()
        const state = await readState(tab, current.page)
        expectHealthy(state, `${label} reload`)
        record(state.fingerprint, state.expiresAt, `${label} reload`)
      } else {
        const result =
          kind === 'action' ? await probe(tab, 'run-action', 'action-result') : await probe(tab, 'call-api-me', 'api-me-result')
        expect(result.status, `${label} ${kind}: userinfo status`).toBe('200')
        expect(result.sub, `${label} ${kind}: userinfo sub`).toBe(LOGIN)
        record(result.fingerprint, undefined, `${label} ${kind}`)
      }
      const last = observations.at(-1)!
      if (!afterShot && last.fingerprint !== firstFingerprint && kind !== 'action' && kind !== 'api') {
        await tab.screenshot({ path: join(SCREENSHOTS, 'protected-after-refresh.png') })
        afterShot = true
      }
      await sleep(150)
    }
    const elapsedSeconds = (Date.now() - started) / 1000
    const result = await stats()

    // Tokens in the order the app used them; a token never comes back once replaced.
    const tokens: Observation[] = []
    for (const observation of observations) {
      if (tokens.at(-1)?.fingerprint === observation.fingerprint) continue
      expect(
        tokens.map((token) => token.fingerprint),
        `token ${observation.fingerprint} came back at ${observation.where}`,
      ).not.toContain(observation.fingerprint)
      tokens.push(observation)
    }
    // No token was replaced before its refresh window opened (one refresh per lifetime, not per tab).
    for (let index = 1; index < tokens.length; index++) {
      const previous = observations.find(
        (observation) => observation.fingerprint === tokens[index - 1]!.fingerprint && observation.expiresAt !== undefined,
      )
      if (previous?.expiresAt !== undefined) expect(tokens[index]!.t / 1000).toBeGreaterThanOrEqual(previous.expiresAt - SKEW_SECONDS - 1)
    }

    const summary = `${steps} steps in ${elapsedSeconds.toFixed(1)} s, ${tokens.length} tokens, provider ${JSON.stringify(result)}, prefetches ${prefetches.length}`
    console.info(
      `[journey] ${summary}, ${((Date.now() / 1000 - (first.expiresAt - TTL_SECONDS)) / TTL_SECONDS).toFixed(2)} lifetimes since the first token`,
    )
    expect(elapsedSeconds, summary).toBeGreaterThanOrEqual(JOURNEY_LIFETIMES * TTL_SECONDS)
    expect(result.reuseDetected, summary).toBe(0)
    expect(result.refreshFailed, summary).toBe(0)
    // Each refresh the provider saw is a token the pages then used (±1: one may land just after the last step).
    expect(Math.abs(result.refreshRequests - (tokens.length - 1)), summary).toBeLessThanOrEqual(1)
    // …and that is one per access-token lifetime elapsed since the first token was issued, give or
    // take one: not one per tab, per request or per prefetch.
    const lifetimesElapsed = (Date.now() / 1000 - (first.expiresAt - TTL_SECONDS)) / TTL_SECONDS
    expect(Math.abs(result.refreshRequests - lifetimesElapsed), `${summary}, ${lifetimesElapsed.toFixed(2)} lifetimes`).toBeLessThanOrEqual(
      1,
    )
    expect(tokens.length, summary).toBeGreaterThanOrEqual(JOURNEY_LIFETIMES)
    expect(prefetches.length, 'next/link prefetches went through the middleware').toBeGreaterThan(0)
    expect(signInVisits, summary).toEqual([])
    expect(serverErrors, summary).toEqual([])
    expect(afterShot).toBe(true)
    // The README's picture is a tracked file: refreshed on request only, so a test run leaves the
    // work tree clean.
    if (process.env.UPDATE_README_SCREENSHOT === '1')
      copyFileSync(join(SCREENSHOTS, 'protected-after-refresh.png'), join(ROOT, 'docs', 'protected-page.png'))
  }, 120_000)

  it('two next start servers sharing only Redis, hit at once across an expiry: one refresh, the session goes on', async () => {
    const [tab1, tab2] = context.pages() as [Page, Page]
    await tab1.goto(`${appA.url}/protected`)
    const onA = await readState(tab1, '/protected')
    expectHealthy(onA, 'server A')
    await tab2.goto(`${appB.url}/protected/other`)
    const onB = await readState(tab2, '/protected/other')
    expectHealthy(onB, 'server B')

    // Let the prefetches of those loads finish, then wait (no requests) until the token the browser
    // holds is due, and hit both servers at the same moment with it.
    await networkQuiet()
    const held = await sessionPayload()
    const due = (held.expires_at as number) - SKEW_SECONDS
    const waitMs = due * 1000 - Date.now() + 100
    expect(waitMs).toBeLessThan(TTL_SECONDS * 1000 + 1000)
    if (waitMs > 0) await sleep(waitMs)
    const before = await stats()
    await Promise.all([tab1.goto(`${appA.url}/protected/other`), tab2.goto(`${appB.url}/protected`)])
    const [afterA, afterB] = await Promise.all([readState(tab1, '/protected/other'), readState(tab2, '/protected')])
    const after = await stats()
    expectHealthy(afterA, 'server A after the expiry')
    expectHealthy(afterB, 'server B after the expiry')
    expect(afterA.fingerprint).not.toBe(fingerprintOf(held.access_token))
    expect(afterB.fingerprint).toBe(afterA.fingerprint)
    expect(after.refreshRequests - before.refreshRequests).toBe(1)
    expect(after.reuseDetected).toBe(0)

    // Alternate between the servers within the new token's life: nothing more to refresh.
    for (const [tab, app, path] of [
      [tab1, appA, '/protected'],
      [tab2, appB, '/protected/other'],
      [tab1, appA, '/protected/other'],
    ] as const) {
      if (nowSeconds() >= afterA.expiresAt - SKEW_SECONDS) break
      await tab.goto(`${app.url}${path}`)
      const state = await readState(tab, path)
      expectHealthy(state, `alternating on ${app.url}`)
    }
    const settled = await stats()
    expect(settled.reuseDetected).toBe(0)
    expect(settled.refreshFailed).toBe(0)

    // The hand-off went through Redis, and Redis holds no token in the clear.
    const commands = (await (await fetch(`${redis.url}/__test/commands`)).json()) as { byCommand: Record<string, number> }
    expect(commands.byCommand.EVAL ?? 0).toBeGreaterThan(0)
    const payload = await sessionPayload()
    const dump = JSON.stringify(await (await fetch(`${redis.url}/__test/scan`)).json())
    for (const field of ['access_token', 'refresh_token'] as const) {
      expect(typeof payload[field]).toBe('string')
      expect(dump).not.toContain(payload[field] as string)
    }
    expect(signInVisits).toEqual([])
    expect(serverErrors).toEqual([])
  }, 60_000)

  it('a login revoked at the provider: the next navigation goes to sign-in (same-origin callbackUrl), the client shows the error', async () => {
    const [tab1, tab2] = context.pages() as [Page, Page]
    await tab1.goto(`${appA.url}/protected`)
    const current = await readState(tab1, '/protected')
    expectHealthy(current, 'before the revocation')
    await tab2.goto(`${appB.url}/protected`)
    await readState(tab2, '/protected')
    await networkQuiet()

    // End the login at the provider: the grant of the refresh token in the browser's cookie.
    const payload = await sessionPayload()
    await hooks().revoke(payload.refresh_token as string)
    const due = (payload.expires_at as number) - SKEW_SECONDS
    const waitMs = due * 1000 - Date.now() + 100
    if (waitMs > 0) await sleep(waitMs)

    // A full page navigation: the middleware's refresh gets invalid_grant and redirects to sign-in,
    // which says why before offering to sign in again.
    const response = await tab1.goto(`${appA.url}/protected/other?tab=1`)
    const landed = new URL(tab1.url())
    expect(landed.origin).toBe(appA.url)
    expect(landed.pathname).toBe('/signin')
    expect(landed.searchParams.get('callbackUrl')).toBe('/protected/other?tab=1')
    const redirected = response?.request().redirectedFrom()
    expect(redirected?.url()).toBe(`${appA.url}/protected/other?tab=1`)
    expect([302, 303, 307]).toContain((await redirected!.response())?.status())
    expect(redirected?.redirectedFrom()).toBeNull()
    expect(await tab1.getByTestId('signin-page').getAttribute('data-callback-url')).toBe('/protected/other?tab=1')
    await expect(tab1.getByTestId('signin-error').textContent()).resolves.toContain('RefreshTokenError')
    await tab1.screenshot({ path: join(SCREENSHOTS, 'sign-in-after-revocation.png') })
    expect((await sessionPayload()).error).toBe('RefreshTokenError')

    // The other tab, on the other server, navigates client-side: the page shows the error first…
    await tab2.bringToFront()
    await tab2.locator('a[href="/protected/other"]').first().click()
    const alert = tab2.getByTestId('session-error')
    await alert.waitFor()
    await expect(alert.textContent()).resolves.toContain('RefreshTokenError')
    expect((await readState(tab2, '/protected/other')).error).toBe('RefreshTokenError')
    await tab2.screenshot({ path: join(SCREENSHOTS, 'session-ended.png') })
    // …then calls signIn("oidc"), which leaves for the provider.
    await tab2.waitForURL((url) => url.origin === provider.issuer, { timeout: 20_000 })

    expect(serverErrors).toEqual([])
  }, 60_000)
})
