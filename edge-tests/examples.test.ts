// @vitest-environment node
/**
 * The example apps as real consumers of the published package (examples/next-auth-v4: next-auth
 * v4 + Next 15; examples/authjs-v5: Auth.js v5 + Next 16; examples/authjs-plain-gate: an existing
 * Auth.js 5.0.0-beta.29 + Next 15.3 app adopting the package):
 *
 * 1. `npm pack` of lib/, each app copied to a temporary directory outside the repository and
 *    installed with the tarball as its `next-auth-edge-refresh`. The plain-gate app is installed
 *    as a user adds the package to an app: `npm ci` from its committed lockfile (jose 6.0.x,
 *    oauth4webapi 3.5.x, made without the package), then `npm install <tarball>`; the app's locked
 *    versions stay, and npm warns about nothing of ours.
 * 2. Strict `tsc --noEmit` in the copy, and no `any`, `@ts-ignore`, `@ts-expect-error` or `as`
 *    cast in the wiring files.
 * 3. `next build` with no secret and no provider settings in the environment (the apps read them
 *    on first request), with no warning about this package or its dependencies (except the
 *    documented ones in {@link ALLOWED_BUILD_WARNINGS}).
 * 4. Per store (memory, then Upstash via a real redis-server behind the REST protocol): `next start`
 *    with a fresh oidc-provider (8-second access tokens, rotating refresh tokens, reuse revokes),
 *    and headless Chromium: the app's own gate, sign-in through the provider's pages, the access
 *    token used by the page, one refresh after the expiry, then a storm of 10 page + 10 session
 *    requests with one expired cookie: one refresh, no reuse, no error, no 5xx.
 * 5. The plain-gate app on `next start` with a local provider and minted session cookies: a refresh
 *    with the app's own jose/oauth4webapi, and an ended login sent to the app's own
 *    `/login?from=%2Fprotected`.
 * 6. A client component importing the server entry fails `next build` with the package's message:
 *    with webpack (Next 15, plain-gate app) and Turbopack (Next 16, authjs-v5 app).
 *
 * Each app × store prints one JSON line of figures (`[examples] {...}`).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { get as httpGet } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encode as encodeAuthjs } from 'next-auth-v5/jwt'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { protectedPageChecks, providerStatsDelta } from './support/protected-page'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findFreePort } from '../testkit/http-json'
import { startLocalProvider, type LocalProvider } from '../testkit/oidc-provider'
import { providerHooks, type RefreshStats } from '../testkit/provider-hooks'
import { loginAtProvider } from '../testkit/provider-login'
import {
  adoptIntoExample,
  blocksNaming,
  buildEnv,
  buildExample,
  buildWithServerEntryInClient,
  EXAMPLES_DIR,
  installExample,
  packLib,
  startExample,
  tail,
  typecheckExample,
  warningLines,
  withoutAliases,
  withoutComments,
  type AdoptedExample,
  type ExampleServer,
  type InstalledExample,
} from './support/example-apps'
import { startRedisRest, type CommandStats, type RedisRestServer } from '../testkit/upstash-rest'
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from '../testkit/chromium'

/** Access-token lifetime at the provider, seconds. */
const TTL_SECONDS = 8
/** Requests of each kind in the storm. */
const STORM_EACH = 10
const LOGIN = 'example-user'
/** Packages whose name in a `next build` warning fails the build step (unless allowed below). */
const WATCHED_PACKAGES = ['next-auth-edge-refresh', 'jose', 'oauth4webapi', '@upstash/redis'] as const

interface ExampleApp {
  /** Folder under examples/. */
  name: 'next-auth-v4' | 'authjs-v5'
  /** next-auth's basePath. */
  basePath: string
  /** The variable next-auth reads its secret from. */
  secretVariable: 'NEXTAUTH_SECRET' | 'AUTH_SECRET'
  /** Files that wire the package in: no `any`, no suppression, no cast. */
  wiringFiles: string[]
}

const APPS: ExampleApp[] = [
  {
    name: 'next-auth-v4',
    basePath: '/api/auth',
    secretVariable: 'NEXTAUTH_SECRET',
    wiringFiles: ['middleware.ts', 'auth.ts', 'refresh-options.ts', 'app/api/auth/[...nextauth]/route.ts'],
  },
  {
    name: 'authjs-v5',
    basePath: '/auth',
    secretVariable: 'AUTH_SECRET',
    wiringFiles: ['proxy.ts', 'auth.ts', 'refresh-options.ts', 'app/auth/[...nextauth]/route.ts'],
  },
]

/**
 * The app that adopts the package (examples/authjs-plain-gate): not in {@link APPS}, whose journeys
 * need withAuth / Auth.js `authorized` gates and a sign-in page at /signin.
 */
const PLAIN_GATE = {
  name: 'authjs-plain-gate',
  wiringFiles: ['middleware.ts', 'auth.ts', 'refresh-options.ts', 'app/api/auth/[...nextauth]/route.ts', 'app/session-watcher.tsx'],
  /** What its committed lockfile must keep through the adoption. */
  lockedMajorMinor: { jose: '6.0.', oauth4webapi: '3.5.' },
  /** Auth.js v5's session cookie on http; its JWE salt is the cookie name. */
  sessionCookie: 'authjs.session-token',
} as const

/**
 * `next build` warnings that name a watched package and are known, with why they stay. Each block
 * of build output that names a watched package must match one of these for its app.
 */
const ALLOWED_BUILD_WARNINGS: ReadonlyArray<{ app: ExampleApp['name']; pattern: RegExp; why: string }> = [
  // Empty on purpose. Next 15 once warned here about jose's deflate.js (CompressionStream): the
  // package now seals store values with Web Crypto and imports only jose's JWT-decode and base64url
  // modules, so no JWE (and no DEFLATE) code reaches an app's edge bundle.
]

/**
 * The app variables `next build` runs with: none of the apps' own. `next build` evaluates route
 * modules and middleware; the examples read their environment on the first request, so a build (a
 * Docker image, a CI step) needs no secret and no provider settings.
 */
const BUILD_ENV: Record<string, string> = {
  // The lockfile npm writes here lists the @next/swc binaries of this platform only; Next 15 would
  // try to fetch the others from the registry during the build to "patch" it.
  NEXT_IGNORE_INCORRECT_LOCKFILE: '1',
}

/** Variables the apps read at run time, which no build may see. */
const RUNTIME_ONLY = /SECRET|^AUTH_|^NEXTAUTH_|^OIDC_|^UPSTASH_/

/** Fails when the environment `next build` gets names a secret or an app setting. */
function expectNoSecretInBuildEnv(): void {
  const names = Object.keys(buildEnv(BUILD_ENV))
  expect(
    names.filter((name) => RUNTIME_ONLY.test(name)),
    'variables next build would see',
  ).toEqual([])
}

/** The package's message when a client bundle imports its server entry. */
const SERVER_ONLY_MESSAGE = 'next-auth-edge-refresh is server-only'

let workDir: string | undefined
let redis: RedisRestServer | undefined
let browser: Browser | undefined
let tarball: string
const installs = new Map<string, Promise<InstalledExample>>()
let adoption: Promise<AdoptedExample> | undefined
const built = new Set<string>()
/** Servers, providers and contexts of a run that failed before stopping them. */
const leftovers = new Set<() => Promise<unknown>>()

beforeAll(async () => {
  requireChromium()
  // Throws "redis-server not found: run `apt-get install -y redis-server`" when it is missing.
  redis = await startRedisRest()
  workDir = mkdtempSync(join(tmpdir(), 'edge-refresh-examples-'))
  tarball = await packLib(join(workDir, 'pack'))
  // Both installs at once (network and disk bound); each app's tests wait for their own.
  for (const app of APPS) {
    const install = installExample(app.name, tarball, workDir)
    install.catch(() => undefined)
    installs.set(app.name, install)
  }
  adoption = adoptIntoExample(PLAIN_GATE.name, tarball, workDir)
  adoption.catch(() => undefined)
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
}, 180_000)

afterAll(async () => {
  for (const cleanup of leftovers) await cleanup().catch(() => undefined)
  await browser?.close().catch(() => undefined)
  await redis?.stop().catch(() => undefined)
  // Let pending installs settle before removing their directories.
  await Promise.allSettled([...installs.values(), ...(adoption ? [adoption] : [])])
  if (workDir) rmSync(workDir, { recursive: true, force: true })
}, 60_000)

/** Checks the files that wire the package in: no `any`, no suppression, no cast. */
function expectCleanWiring(name: string, files: readonly string[]): void {
  for (const file of files) {
    const code = withoutComments(readFileSync(join(EXAMPLES_DIR, name, file), 'utf8'))
    expect(code, `${name}/${file}: any`).not.toMatch(/\bany\b/)
    expect(code, `${name}/${file}: @ts-ignore`).not.toContain('@ts-ignore')
    expect(code, `${name}/${file}: @ts-expect-error`).not.toContain('@ts-expect-error')
    expect(withoutAliases(code), `${name}/${file}: as cast`).not.toMatch(/ as /)
  }
}

/** `next build` with no app variables: succeeds, and no output block names a watched package (but the allowed ones). */
async function expectCleanBuild(example: InstalledExample, name: string): Promise<void> {
  expectNoSecretInBuildEnv()
  const result = await buildExample(example, BUILD_ENV)
  expect(result.code, `next build of ${name} with no secret in the environment:\n${tail(result.output, 60)}`).toBe(0)
  const named = blocksNaming(result.output, WATCHED_PACKAGES)
  const allowed = ALLOWED_BUILD_WARNINGS.filter((entry) => entry.app === name)
  const unexpected = named.filter((block) => !allowed.some((entry) => entry.pattern.test(block)))
  console.log(
    `[examples] ${JSON.stringify({ example: name, step: 'next build', secretInEnv: false, buildMs: result.durationMs, warningLines: warningLines(result.output), allowListed: named.length - unexpected.length })}`,
  )
  expect(unexpected, 'next build output naming a watched package').toEqual([])
  // Next 16 calls middleware.ts deprecated (proxy.ts replaces it); an app on Next 16 must not see that.
  expect(
    result.output.split('\n').filter((line) => /middleware.*deprecat|deprecat.*middleware/i.test(line)),
    `${name}: middleware deprecation warning`,
  ).toEqual([])
}

/** A client component importing the server entry: `next build` fails, with the package's message. */
async function expectServerEntryRefused(example: InstalledExample, name: string, bundler: 'webpack' | 'Turbopack'): Promise<void> {
  const result = await buildWithServerEntryInClient(example, BUILD_ENV)
  const usedTurbopack = /\(Turbopack\)|--turbopack|Turbopack build/i.test(result.output)
  console.log(
    `[examples] ${JSON.stringify({ example: name, step: 'next build, client component importing the server entry', bundler: usedTurbopack ? 'Turbopack' : 'webpack', exitCode: result.code, buildMs: result.durationMs })}`,
  )
  expect(usedTurbopack, `next build of ${name} used ${bundler}:\n${tail(result.output, 20)}`).toBe(bundler === 'Turbopack')
  expect(result.code, `next build of ${name} with the server entry in a client component:\n${tail(result.output, 40)}`).not.toBe(0)
  expect(result.output, `next build output of ${name}`).toContain(SERVER_ONLY_MESSAGE)
}

/** What a page navigation got back (redirects not followed). */
interface NavigationAnswer {
  status: number
  location: string | null
  setCookie: string[]
  body: string
}

/**
 * A GET as a browser's top-level navigation sends it (`Sec-Fetch-Mode: navigate`), over node:http:
 * Node's fetch replaces the Sec-Fetch-Mode header with `cors`, which no middleware would treat as
 * a navigation. Bounded by 20 s.
 */
function navigation(url: string, cookie?: string): Promise<NavigationAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpGet(
      url,
      {
        headers: {
          ...(cookie ? { cookie } : {}),
          accept: 'text/html',
          'sec-fetch-mode': 'navigate',
          'sec-fetch-dest': 'document',
        },
        timeout: 20_000,
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('error', reject)
        response.on('end', () => {
          const setCookie = response.headers['set-cookie'] ?? []
          resolve({
            status: response.statusCode ?? 0,
            location: response.headers.location ?? null,
            setCookie,
            body: Buffer.concat(chunks).toString('utf8'),
          })
        })
      },
    )
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: no answer in 20 s`)))
    request.on('error', reject)
  })
}

/** The provider's refresh counters. */
function providerStats(provider: LocalProvider): Promise<RefreshStats> {
  return providerHooks(provider.issuer).stats()
}

/** Commands the Redis behind the Upstash REST server received since the last reset. */
async function redisCommands(server: RedisRestServer, reset = false): Promise<CommandStats> {
  const response = await fetch(`${server.url}/__test/${reset ? 'reset-commands' : 'commands'}`, {
    method: reset ? 'POST' : 'GET',
    signal: AbortSignal.timeout(5_000),
  })
  if (!response.ok) throw new Error(`redis commands: HTTP ${response.status}`)
  return (await response.json()) as CommandStats
}

const { readProtected, expectHealthy, waitForExpiry } = protectedPageChecks({ login: LOGIN, ttlSeconds: TTL_SECONDS, waitMs: 15_000 })

/** One request of the storm. */
interface StormAnswer {
  kind: 'page' | 'session'
  status: number
  ms: number
  body: string
}

/** The figures printed per app × store. */
interface RunFigures {
  example: string
  store: 'memory' | 'upstash'
  versions: InstalledExample['versions']
  ttlSeconds: number
  signInMs: number
  refreshAfterExpiry: { navigationMs: number; provider: RefreshStats }
  storm: {
    requests: number
    durationMs: number
    maxLatencyMs: number
    medianLatencyMs: number
    statuses: Record<string, number>
    distinctAccessTokens: number
    provider: RefreshStats
  }
  afterStorm: { provider: RefreshStats }
  later: { provider: RefreshStats }
  providerTotals: RefreshStats
  /** Redis commands behind the Upstash REST API during the run, by name. */
  redisCommands: Record<string, number>
}

/** Sign-in through the provider's real login and consent pages, from the app's sign-in page. */
async function signIn(page: Page, provider: LocalProvider, origin: string): Promise<void> {
  await page.getByTestId('sign-in').click()
  await loginAtProvider(page, provider.issuer, LOGIN)
  await page.waitForURL(`${origin}/protected`, { timeout: 20_000 })
}

/** 10 page + 10 session requests at once, all with the same cookie header, from Node. */
async function storm(origin: string, basePath: string, cookie: string): Promise<StormAnswer[]> {
  const one = async (kind: StormAnswer['kind']): Promise<StormAnswer> => {
    const started = Date.now()
    const response = await fetch(kind === 'page' ? `${origin}/protected` : `${origin}${basePath}/session`, {
      headers:
        kind === 'page'
          ? { cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }
          : { cookie, accept: 'application/json', 'content-type': 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(20_000),
    })
    const body = await response.text()
    return { kind, status: response.status, ms: Date.now() - started, body }
  }
  const kinds: StormAnswer['kind'][] = []
  for (let index = 0; index < STORM_EACH; index++) kinds.push('page', 'session')
  return Promise.all(kinds.map(one))
}

function sessionJson(answer: StormAnswer): Record<string, unknown> {
  const parsed: unknown = JSON.parse(answer.body)
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(`session answer is not an object: ${answer.body.slice(0, 200)}`)
  return parsed as Record<string, unknown>
}

/** The whole journey for one app and one store. */
async function journey(app: ExampleApp, example: InstalledExample, store: 'memory' | 'upstash'): Promise<RunFigures> {
  if (!browser || !redis) throw new Error('beforeAll did not finish')
  const port = await findFreePort()
  // The server binds 127.0.0.1, but the browser and the Node requests use `localhost`: `next start`
  // (15 and 16) hands middleware and route handlers `http://localhost:<port>/…` URLs whatever its
  // --hostname, so withAuth's redirect (Next 15) and Auth.js's callback URL (without AUTH_URL)
  // name localhost. On 127.0.0.1 the browser would lose its cookies across that host change and
  // Auth.js's token request would carry another redirect_uri than its authorization request.
  const origin = `http://localhost:${port}`
  const clientId = `example-${app.name}-${store}`
  const clientSecret = randomBytes(16).toString('hex')
  const secret = randomBytes(32).toString('base64')
  const stops: Array<() => Promise<unknown>> = []
  const cleanup = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined)
  }
  leftovers.add(cleanup)
  let server: ExampleServer | undefined
  try {
    await redisCommands(redis, true)
    const provider = await startLocalProvider({
      testHooks: true,
      accessTokenTtlSeconds: TTL_SECONDS,
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: [`${origin}${app.basePath}/callback/oidc`],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
    })
    stops.push(() => provider.stop())
    server = await startExample(example, {
      port,
      log: `${app.name}-${store}-next-start`,
      env: {
        [app.secretVariable]: secret,
        ...(app.name === 'next-auth-v4' ? { NEXTAUTH_URL: origin } : {}),
        OIDC_ISSUER: provider.issuer,
        OIDC_CLIENT_ID: clientId,
        OIDC_CLIENT_SECRET: clientSecret,
        ...(store === 'upstash' ? { UPSTASH_REDIS_REST_URL: redis.url, UPSTASH_REDIS_REST_TOKEN: redis.token } : {}),
      },
    })
    const running = server
    stops.push(() => running.stop())
    const context: BrowserContext = await browser.newContext()
    stops.push(() => context.close())
    context.setDefaultTimeout(15_000)
    const serverErrors: string[] = []
    context.on('response', (response) => {
      if (response.status() >= 500) serverErrors.push(`${response.status()} ${response.request().method()} ${response.url()}`)
    })
    const page = await context.newPage()

    // (a) Signed out: the app's own gate (withAuth / Auth.js `authorized`) sends the page to sign-in.
    const gated = await page.goto(`${origin}/protected`)
    const landed = new URL(page.url())
    expect(landed.origin).toBe(origin)
    expect(landed.pathname, 'signed-out visit to /protected').toBe('/signin')
    expect(new URL(landed.searchParams.get('callbackUrl') ?? '', origin).pathname).toBe('/protected')
    const gateResponse = await gated?.request().redirectedFrom()?.response()
    expect([302, 303, 307]).toContain(gateResponse?.status())

    // (b) Sign-in through the provider's login and consent pages.
    const signInStarted = Date.now()
    await signIn(page, provider, origin)
    const signInMs = Date.now() - signInStarted

    // (c) The page used the session's access token at the provider's userinfo endpoint.
    const first = await readProtected(page)
    expectHealthy(first, 'after sign-in')
    expect(first.expiresAt).toBeGreaterThan(Date.now() / 1000)

    // (d) Expired: one navigation, exactly one refresh at the provider.
    await waitForExpiry(first.expiresAt)
    const beforeRefresh = await providerStats(provider)
    const navigationStarted = Date.now()
    await page.goto(`${origin}/protected`)
    const refreshed = await readProtected(page)
    const navigationMs = Date.now() - navigationStarted
    const refreshDelta = providerStatsDelta(await providerStats(provider), beforeRefresh)
    expectHealthy(refreshed, 'first navigation after the expiry')
    expect(refreshed.expiresAt).toBeGreaterThan(first.expiresAt)
    expect(refreshDelta, 'one navigation after the expiry').toEqual({
      refreshRequests: 1,
      refreshSucceeded: 1,
      refreshFailed: 0,
      reuseDetected: 0,
    })

    // (e) Expired again: 10 pages + 10 session requests at once with the browser's one expired cookie.
    await waitForExpiry(refreshed.expiresAt)
    const cookie = (await context.cookies(origin)).map(({ name, value }) => `${name}=${value}`).join('; ')
    const beforeStorm = await providerStats(provider)
    const stormStarted = Date.now()
    const answers = await storm(origin, app.basePath, cookie)
    const stormMs = Date.now() - stormStarted
    const stormDelta = providerStatsDelta(await providerStats(provider), beforeStorm)
    const statuses: Record<string, number> = {}
    for (const answer of answers) statuses[answer.status] = (statuses[answer.status] ?? 0) + 1
    const latencies = answers.map((answer) => answer.ms).sort((a, b) => a - b)
    const accessTokens = new Set<unknown>()
    for (const answer of answers) {
      const label = `storm ${answer.kind} answer (HTTP ${answer.status})`
      expect(answer.status, label).toBeLessThan(500)
      expect(answer.status, `${label}: ${answer.body.slice(0, 300)}`).toBe(200)
      if (answer.kind === 'page') {
        expect(answer.body, label).toContain('data-userinfo-status="200"')
        expect(answer.body, label).toContain(`data-userinfo-sub="${LOGIN}"`)
        expect(answer.body, label).toContain('data-error=""')
      } else {
        const session = sessionJson(answer)
        expect(session.error, label).not.toBe('RefreshTokenError')
        expect(typeof session.accessToken, label).toBe('string')
        expect(session.expiresAt, label).toBeGreaterThan(refreshed.expiresAt)
        accessTokens.add(session.accessToken)
      }
    }
    expect(accessTokens.size, 'every session answer of the storm carries the same new access token').toBe(1)
    expect(stormDelta, `storm of ${answers.length} requests with one expired cookie`).toEqual({
      refreshRequests: 1,
      refreshSucceeded: 1,
      refreshFailed: 0,
      reuseDetected: 0,
    })

    // (f) The browser still holds the pre-storm cookie: the next navigation is served the storm's
    // tokens (no refresh) and the app's userinfo call works with them.
    const beforeAfterStorm = await providerStats(provider)
    await page.goto(`${origin}/protected`)
    const afterStorm = await readProtected(page)
    const afterStormDelta = providerStatsDelta(await providerStats(provider), beforeAfterStorm)
    expectHealthy(afterStorm, 'navigation after the storm')
    expect(afterStorm.expiresAt).toBeGreaterThan(refreshed.expiresAt)
    expect(afterStormDelta.refreshRequests, 'navigation right after the storm').toBe(0)

    // Later, once that token has expired too: the refresh token the storm got still works (the
    // grant was never revoked by a reuse).
    await waitForExpiry(afterStorm.expiresAt)
    const beforeLater = await providerStats(provider)
    await page.goto(`${origin}/protected`)
    const later = await readProtected(page)
    const laterDelta = providerStatsDelta(await providerStats(provider), beforeLater)
    expectHealthy(later, 'navigation after the storm token expired')
    expect(laterDelta).toEqual({ refreshRequests: 1, refreshSucceeded: 1, refreshFailed: 0, reuseDetected: 0 })

    const totals = await providerStats(provider)
    expect(totals.reuseDetected).toBe(0)
    expect(totals.refreshFailed).toBe(0)
    expect(serverErrors).toEqual([])
    expect(new URL(page.url()).pathname).toBe('/protected')
    // Nothing went wrong on the server's side either: no refresh failure, no next-auth error.
    const problems = running
      .output()
      .split('\n')
      .filter((line) => /\[edge-refresh\] (unexpected failure|refresh failed)|\[auth\]\[error\]|\[next-auth\]\[error\]|⨯/.test(line))
    expect(problems, 'server log').toEqual([])
    // The store in use is the one configured: Upstash's scripts ran, or Redis was never asked.
    const commands = await redisCommands(redis)
    if (store === 'upstash') expect(commands.byCommand.EVAL ?? 0, 'Redis EVAL calls with the Upstash store').toBeGreaterThan(0)
    else expect(commands.requests, 'Upstash REST requests with the memory store').toBe(0)

    return {
      example: app.name,
      store,
      versions: example.versions,
      ttlSeconds: TTL_SECONDS,
      signInMs,
      refreshAfterExpiry: { navigationMs, provider: refreshDelta },
      storm: {
        requests: answers.length,
        durationMs: stormMs,
        maxLatencyMs: latencies.at(-1) ?? 0,
        medianLatencyMs: latencies[Math.floor(latencies.length / 2)] ?? 0,
        statuses,
        distinctAccessTokens: accessTokens.size,
        provider: stormDelta,
      },
      afterStorm: { provider: afterStormDelta },
      later: { provider: laterDelta },
      providerTotals: totals,
      redisCommands: commands.byCommand,
    }
  } catch (error) {
    if (server && error instanceof Error)
      error.message += `\n--- next start output (${app.name}, ${store}) ---\n${tail(server.output(), 40)}`
    throw error
  } finally {
    await cleanup()
    leftovers.delete(cleanup)
  }
}

for (const app of APPS) {
  describe(`examples/${app.name}`, () => {
    const installed = async (): Promise<InstalledExample> => {
      const install = installs.get(app.name)
      if (!install) throw new Error('beforeAll did not start the install')
      return install
    }

    it('installs from the packed tarball, outside the repository', async () => {
      const example = await installed()
      expect(example.versions['next-auth-edge-refresh']).toBe('0.1.0')
      expect(example.dir.startsWith(workDir ?? '//')).toBe(true)
      console.log(
        `[examples] ${JSON.stringify({ example: app.name, step: 'install', versions: example.versions, installMs: example.installMs })}`,
      )
    }, 360_000)

    it('type-checks strictly; the wiring files have no any, no suppression, no cast', async () => {
      const example = await installed()
      const result = await typecheckExample(example)
      expect(result.code, `tsc --noEmit in ${example.dir}:\n${tail(result.output)}`).toBe(0)
      expect(result.output).not.toMatch(/error TS\d+/)
      expectCleanWiring(app.name, app.wiringFiles)
    }, 120_000)

    it(`next build succeeds with no secret in the environment, with no warning about ${WATCHED_PACKAGES.join(', ')}`, async () => {
      await expectCleanBuild(await installed(), app.name)
      built.add(app.name)
    }, 360_000)

    for (const store of ['memory', 'upstash'] as const) {
      it(`${store} store: gate, sign-in, token used, one refresh after expiry, a 20-request storm with one refresh`, async () => {
        expect(built.has(app.name), 'next build of this example failed above').toBe(true)
        const figures = await journey(app, await installed(), store)
        console.log(`[examples] ${JSON.stringify(figures)}`)
      }, 150_000)
    }

    if (app.name === 'authjs-v5') {
      // Last: the failed build leaves this copy's .next unusable.
      it('Turbopack (Next 16): a client component importing the server entry fails next build with the package message', async () => {
        await expectServerEntryRefused(await installed(), app.name, 'Turbopack')
      }, 360_000)
    }
  })
}

describe(`examples/${PLAIN_GATE.name}: an Auth.js 5.0.0-beta.29 + Next 15.3 app adopting the package`, () => {
  const adopted = async (): Promise<AdoptedExample> => {
    if (!adoption) throw new Error('beforeAll did not start the install')
    return adoption
  }
  let builtPlain = false

  it('npm ci from its lockfile, then npm install <tarball>: jose and oauth4webapi keep their locked versions, npm warns about nothing of ours', async () => {
    const example = await adopted()
    console.log(
      `[examples] ${JSON.stringify({ example: PLAIN_GATE.name, step: 'npm ci + npm install <tarball>', ciMs: example.ciMs, adoptMs: example.adoptMs, versions: example.versions, locked: example.locked, afterAdoption: example.afterAdoption, nested: example.nested, lockfileChanges: example.lockfileChanges, npmWarnings: example.npmWarnings })}`,
    )
    expect(example.versions['next-auth-edge-refresh']).toBe('0.1.0')
    expect(example.versions['next-auth']).toBe('5.0.0-beta.29')
    expect(example.versions.next.startsWith('15.3.'), `next ${example.versions.next}`).toBe(true)
    // The committed lockfile is the old app's: jose 6.0.x and oauth4webapi 3.5.x, as Auth.js beta.29 locked them.
    expect(example.locked.jose.startsWith(PLAIN_GATE.lockedMajorMinor.jose), `locked jose ${example.locked.jose}`).toBe(true)
    expect(
      example.locked.oauth4webapi.startsWith(PLAIN_GATE.lockedMajorMinor.oauth4webapi),
      `locked oauth4webapi ${example.locked.oauth4webapi}`,
    ).toBe(true)
    expect(example.afterAdoption, 'jose and oauth4webapi in node_modules after npm install <tarball>').toEqual(example.locked)
    expect(example.nested, 'copies nested under node_modules/next-auth-edge-refresh/node_modules').toEqual([])
    expect(example.lockfileChanges, "the app's lockfile entries changed by the adoption").toEqual([])
    expect(
      example.npmWarnings.filter((line) => /next-auth-edge-refresh|jose|oauth4webapi|peer/i.test(line)),
      'npm warnings naming the package, its dependencies or a peer',
    ).toEqual([])
  }, 360_000)

  it('type-checks strictly; the wiring files have no any, no suppression, no cast', async () => {
    const example = await adopted()
    const result = await typecheckExample(example)
    expect(result.code, `tsc --noEmit in ${example.dir}:\n${tail(result.output)}`).toBe(0)
    expect(result.output).not.toMatch(/error TS\d+/)
    expectCleanWiring(PLAIN_GATE.name, PLAIN_GATE.wiringFiles)
  }, 120_000)

  it(`next build succeeds with no secret in the environment, with no warning about ${WATCHED_PACKAGES.join(', ')}`, async () => {
    await expectCleanBuild(await adopted(), PLAIN_GATE.name)
    builtPlain = true
  }, 360_000)

  it("next start: a refresh with the app's own jose/oauth4webapi at a real provider; an ended login goes to /login?from=%2Fprotected", async () => {
    expect(builtPlain, 'next build of this example failed above').toBe(true)
    const example = await adopted()
    const port = await findFreePort()
    // localhost, as in the journeys above: `next start` hands middleware localhost URLs.
    const origin = `http://localhost:${port}`
    const clientId = 'example-plain-gate'
    const clientSecret = randomBytes(16).toString('hex')
    const secret = randomBytes(32).toString('base64')
    const stops: Array<() => Promise<unknown>> = []
    const cleanup = async () => {
      for (const stop of stops.reverse()) await stop().catch(() => undefined)
    }
    leftovers.add(cleanup)
    let server: ExampleServer | undefined
    try {
      const provider = await startLocalProvider({
        testHooks: true,
        accessTokenTtlSeconds: 300,
        clients: [
          {
            client_id: clientId,
            client_secret: clientSecret,
            redirect_uris: [`${origin}/api/auth/callback/oidc`, `${origin}/api/auth/callback/oidc-signup`],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ],
      })
      stops.push(() => provider.stop())
      server = await startExample(example, {
        port,
        log: `${PLAIN_GATE.name}-next-start`,
        env: { AUTH_SECRET: secret, OIDC_ISSUER: provider.issuer, OIDC_CLIENT_ID: clientId, OIDC_CLIENT_SECRET: clientSecret },
      })
      const running = server
      stops.push(() => running.stop())
      const hooks = providerHooks(provider.issuer)

      /** A session as refreshCallbacks writes it at sign-in, but with an access token expired 10 s ago. */
      const expiredSession = async (login: string, providerId: string) => {
        const tokens = await hooks.signIn({ login, client_id: clientId })
        const token = {
          sub: login,
          name: login,
          access_token: tokens.access_token,
          refresh_token: tokens.refresh_token,
          id_token: tokens.id_token,
          expires_at: Math.floor(Date.now() / 1000) - 10,
          provider: providerId,
        }
        const jwt = await encodeAuthjs({ token, secret, salt: PLAIN_GATE.sessionCookie, maxAge: 30 * 24 * 60 * 60 })
        return { tokens, cookie: `${PLAIN_GATE.sessionCookie}=${jwt}` }
      }
      const navigate = (path: string, cookie?: string) => navigation(`${origin}${path}`, cookie)

      // (a) The app's own gate, signed out: its plain function sends the page to /login?from=.
      const gated = await navigate('/protected')
      expect([302, 303, 307], 'signed-out navigation to /protected').toContain(gated.status)
      const gatedTo = new URL(gated.location ?? '', origin)
      expect(`${gatedTo.pathname}${gatedTo.search}`).toBe('/login?from=%2Fprotected')

      // (b) Expired, signed in under the second provider id: one refresh at the provider, through
      // the package on the app's locked jose and oauth4webapi; the gate lets the page through.
      const live = await expiredSession('gate-user', 'oidc-signup')
      const beforeRefresh = await hooks.stats()
      const refreshed = await navigate('/protected', live.cookie)
      const refreshedBody = refreshed.body
      const refreshDelta = providerStatsDelta(await hooks.stats(), beforeRefresh)
      expect(refreshed.status, `refreshed navigation: ${refreshedBody.slice(0, 300)}`).toBe(200)
      expect(refreshDelta, 'one navigation with an expired session').toEqual({
        refreshRequests: 1,
        refreshSucceeded: 1,
        refreshFailed: 0,
        reuseDetected: 0,
      })
      expect(refreshedBody).toContain('data-error=""')
      expect(refreshedBody).toContain('data-has-access-token="true"')
      const expiresAt = Number(/data-expires-at="(\d+)"/.exec(refreshedBody)?.[1])
      expect(expiresAt, 'the page sees the refreshed expiry').toBeGreaterThan(Date.now() / 1000)
      expect(
        refreshed.setCookie.some((line) => line.startsWith(`${PLAIN_GATE.sessionCookie}=`)),
        'the refreshed session cookie is written',
      ).toBe(true)

      // (c) Expired, and the provider refuses the refresh token (its grant revoked): the login has
      // ended, and the page navigation goes to the app's own sign-in page with its own parameter.
      const ended = await expiredSession('ended-user', 'oidc')
      await hooks.revoke(ended.tokens.refresh_token)
      const beforeEnded = await hooks.stats()
      const endedAnswer = await navigate('/protected', ended.cookie)
      const endedDelta = providerStatsDelta(await hooks.stats(), beforeEnded)
      expect(
        [302, 303, 307],
        `ended login: HTTP ${endedAnswer.status}, provider ${JSON.stringify(endedDelta)}, body ${endedAnswer.body.slice(0, 200)}`,
      ).toContain(endedAnswer.status)
      const endedTo = new URL(endedAnswer.location ?? '', origin)
      expect(`${endedTo.pathname}${endedTo.search}`, 'where an ended login goes').toBe('/login?from=%2Fprotected')
      expect(endedDelta, 'the one refusal behind the ended login').toEqual({
        refreshRequests: 1,
        refreshSucceeded: 0,
        refreshFailed: 1,
        reuseDetected: 0,
      })

      const problems = running
        .output()
        .split('\n')
        .filter((line) => /\[edge-refresh\] unexpected failure|\[auth\]\[error\]|⨯/.test(line))
      expect(problems, 'server log').toEqual([])
      console.log(
        `[examples] ${JSON.stringify({ example: PLAIN_GATE.name, step: 'next start', versions: example.afterAdoption, refresh: refreshDelta, endedLogin: { status: endedAnswer.status, location: `${endedTo.pathname}${endedTo.search}`, provider: endedDelta } })}`,
      )
    } catch (error) {
      if (server && error instanceof Error)
        error.message += `\n--- next start output (${PLAIN_GATE.name}) ---\n${tail(server.output(), 40)}`
      throw error
    } finally {
      await cleanup()
      leftovers.delete(cleanup)
    }
  }, 150_000)

  // Last: the failed build leaves this copy's .next unusable.
  it('webpack (Next 15): a client component importing the server entry fails next build with the package message', async () => {
    await expectServerEntryRefused(await adopted(), PLAIN_GATE.name, 'webpack')
  }, 360_000)
})

describe('examples/database-sessions (type-checked and run by database-edge.test.ts; no app of its own to build)', () => {
  it('importing middleware.ts and auth.ts reads no environment; the first use does', async () => {
    const names = [
      'NEXTAUTH_SECRET',
      'OIDC_ISSUER',
      'OIDC_CLIENT_ID',
      'OIDC_CLIENT_SECRET',
      'UPSTASH_REDIS_REST_URL',
      'UPSTASH_REDIS_REST_TOKEN',
    ]
    const saved = new Map(names.map((name) => [name, process.env[name]]))
    for (const name of names) delete process.env[name]
    try {
      const { middleware } = await import('../examples/database-sessions/middleware')
      const { authOptions, refresher } = await import('../examples/database-sessions/auth')
      expect(typeof middleware).toBe('function')
      expect(typeof refresher.refresh).toBe('function')
      expect(() => authOptions(), 'the first use, with no environment').toThrow(/is not set/)
    } finally {
      for (const [name, value] of saved) if (value !== undefined) process.env[name] = value
    }
  })
})
