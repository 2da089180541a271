// @vitest-environment node
/**
 * The demo shows the single flight: the protected page's storm panel, driven in Chromium against
 * `next start` (the demo's proxy.ts on Node; in-memory store, as `npm run dev` has it) and the real
 * oidc-provider. The panel
 * sends 20 requests with the same cookie just after the access token expired, and reads the
 * provider's own refresh counters; the test reads them too and compares. A second run, started
 * half a second before the next expiry, checks that the panel waits for the token its own first
 * request brought (inside the refresh window that request refreshes), not for the one the page shows.
 *
 * Writes artifacts/screenshots/storm-panel.png; `UPDATE_README_SCREENSHOT=1` copies it to
 * docs/storm-panel.png, the README's picture.
 */
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium, type ChromiumSession } from '../testkit/chromium'
import { findFreePort } from '../testkit/http-json'
import { ARTIFACTS, ROOT, ensureNextBuild, startNextServer, type NextServer } from '../testkit/next-app'
import { nextAuthClient, startLocalProvider, type LocalProvider } from '../testkit/oidc-provider'
import { providerHooks } from '../testkit/provider-hooks'
import { loginAtProvider } from '../testkit/provider-login'

/** Access-token lifetime at the provider, seconds: the panel waits this out once. */
const TTL_SECONDS = 8
const STORM = 20
const LOGIN = 'storm-user'
const SCREENSHOT = join(ARTIFACTS, 'screenshots', 'storm-panel.png')

let provider: LocalProvider
let app: NextServer
let context: BrowserContext
let browser: ChromiumSession | undefined

describe('the demo storm panel (Chromium, next start, in-memory store)', () => {
  beforeAll(async () => {
    await ensureNextBuild()
    const port = await findFreePort()
    provider = await startLocalProvider({
      accessTokenTtlSeconds: TTL_SECONDS,
      testHooks: true,
      clients: [nextAuthClient('storm-app', 'storm-secret', [port])],
    })
    app = await startNextServer({
      port,
      name: 'storm-panel',
      env: {
        NEXTAUTH_URL: `http://127.0.0.1:${port}`,
        NEXTAUTH_SECRET: 'storm-panel-test-secret-0123456789abcdef',
        OIDC_ISSUER: provider.issuer,
        OIDC_CLIENT_ID: 'storm-app',
        OIDC_CLIENT_SECRET: 'storm-secret',
        // Nothing refreshes before the storm: the token is due only in its last second.
        REFRESH_SKEW_SECONDS: '1',
      },
    })
    browser = await launchChromium({ width: 1100, height: 1400 }, 20_000)
    context = browser.context
  }, 420_000)

  afterAll(async () => {
    await browser?.close()
    await app?.stop().catch(() => undefined)
    await provider?.stop().catch(() => undefined)
  }, 60_000)

  it(`${STORM} requests just after expiry: the panel shows the provider's count of 1, one leader and ${STORM - 1} pick-ups`, async () => {
    const page = context.pages()[0] ?? (await context.newPage())
    await page.goto(`${app.url}/`)
    await page.getByTestId('sign-in').click()
    await loginAtProvider(page, provider.issuer, LOGIN)
    await page.waitForURL(`${app.url}/protected`)

    const before = await providerHooks(provider.issuer).stats(LOGIN)
    await page.getByTestId('storm-size').selectOption(String(STORM))
    await page.getByTestId('storm-run').click()
    const panel = page.locator('[data-testid="storm-panel"][data-phase="done"]')
    await panel.waitFor({ timeout: (TTL_SECONDS + 20) * 1000 })

    expect(await page.getByTestId('storm-refresh-calls').getAttribute('data-value')).toBe('1')
    expect(await page.getByTestId('storm-reuse').getAttribute('data-value')).toBe('0')
    const outcomes = await page
      .locator('[data-testid="storm-history"] tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-outcome')))
    expect(outcomes).toHaveLength(STORM)
    expect(outcomes.filter((outcome) => outcome === 'refreshed at the provider')).toHaveLength(1)
    expect(outcomes.filter((outcome) => outcome === 'picked up the result')).toHaveLength(STORM - 1)
    // The provider's counters, read by the test itself, agree with the panel.
    const after = await providerHooks(provider.issuer).stats(LOGIN)
    expect(after.refreshRequests - before.refreshRequests).toBe(1)
    expect(after.reuseDetected).toBe(0)
    // What answered the storm was the proxy (proxy.ts), on Node, with a waitUntil.
    const probe = await fetch(`${app.url}/api/storm/probe`)
    expect(probe.headers.get('x-edge-refresh-runtime')).toBe('nodejs; waitUntil=function')

    mkdirSync(join(ARTIFACTS, 'screenshots'), { recursive: true })
    await page.getByTestId('storm-panel').screenshot({ path: SCREENSHOT })
    // The README's picture is a tracked file: refreshed on request only, so a test run leaves the work tree clean.
    if (process.env.UPDATE_README_SCREENSHOT === '1') copyFileSync(SCREENSHOT, join(ROOT, 'docs', 'storm-panel.png'))
  }, 120_000)

  it('a run started inside the refresh window waits for the token its own first request brought, then storms', async () => {
    const page = context.pages()[0]!
    const state = page.getByTestId('session-state')
    // The first storm's router.refresh() re-renders the page with the token the storm brought.
    await expect
      .poll(async () => Number(await state.getAttribute('data-expires-at')), { timeout: 10_000 })
      .toBeGreaterThan(Date.now() / 1000)
    const expiresAt = Number(await state.getAttribute('data-expires-at'))
    // Click half a second before expiry: inside the 1 s skew, so the panel's first request (the
    // counters) refreshes the token, and the cookie the storm would send is already the new one.
    const clickAt = expiresAt * 1000 - 500
    expect(clickAt).toBeGreaterThan(Date.now())
    await new Promise((resolve) => setTimeout(resolve, clickAt - Date.now()))
    const before = await providerHooks(provider.issuer).stats(LOGIN)
    await page.getByTestId('storm-run').click()
    await page.locator('[data-testid="storm-panel"][data-phase="waiting"]').waitFor({ timeout: 5_000 })
    await page.locator('[data-testid="storm-panel"][data-phase="done"]').waitFor({ timeout: (TTL_SECONDS + 20) * 1000 })

    expect(await page.getByTestId('storm-refresh-calls').getAttribute('data-value')).toBe('1')
    expect(await page.getByTestId('storm-reuse').getAttribute('data-value')).toBe('0')
    const outcomes = await page
      .locator('[data-testid="storm-history"] tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-outcome')))
    expect(outcomes.filter((outcome) => outcome === 'refreshed at the provider')).toHaveLength(1)
    expect(outcomes.filter((outcome) => outcome === 'picked up the result')).toHaveLength(STORM - 1)
    // Two at the provider: the counters request's own, before the panel's first reading, and the storm's.
    const after = await providerHooks(provider.issuer).stats(LOGIN)
    expect(after.refreshRequests - before.refreshRequests).toBe(2)
    expect(after.reuseDetected).toBe(0)
  }, 60_000)
})
