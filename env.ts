/**
 * The app's environment: the ONLY module that reads `process.env`. Everything else (auth.ts,
 * proxy.ts, the pages, local/dev.ts) asks {@link loadEnv} and gets typed, validated values.
 *
 * Literal names: every variable below is read as `process.env.NAME`, never through a computed key.
 * The proxy (proxy.ts) runs on Node and sees the whole environment; but the same module may be
 * bundled for an edge `middleware.ts`, where only variables named literally exist on some platforms.
 *
 * The refresh store, by precedence: `REDIS_URL` (an ordinary Redis over TCP, client chosen with
 * `REDIS_CLIENT`: node-redis or ioredis), else `UPSTASH_REDIS_REST_URL` + `_TOKEN`, else
 * `KV_REST_API_URL` + `_TOKEN`, else memory (one server process). See {@link AppEnv.store}.
 *
 * Embedded defaults (the zero-config demo): when NO provider is configured, the app signs in
 * against the local OpenID provider that `npm run dev` starts (`local/dev.ts`):
 * issuer {@link DEMO_PROVIDER.issuer}, client {@link DEMO_PROVIDER.clientId}, as next-auth provider
 * id `oidc`. When neither NEXTAUTH_SECRET nor AUTH_SECRET is set, a fixed, public development secret
 * ({@link DEMO_ONLY_INSECURE_SECRET}) is used. Both defaults apply only outside production
 * (`NODE_ENV !== 'production'`) or when `DEMO_DEFAULTS=1` is set explicitly, which is what the e2e
 * tests and a local `next start` use. A production deployment without configuration fails with an
 * error that names every missing variable instead of silently running the demo.
 */

/** Access tokens of the embedded provider live this long; refresh this close to the end (seconds). */
export const DEMO_SKEW_SECONDS = 10

/** The embedded local provider (started by `npm run dev`) and the client registered there. */
export const DEMO_PROVIDER = {
  issuer: 'http://127.0.0.1:9400',
  port: 9400,
  clientId: 'edge-refresh-demo',
  clientSecret: 'edge-refresh-demo-secret',
  appUrl: 'http://localhost:3000',
} as const

/**
 * Development-only session secret. It is public (it is in this file), so sessions signed with it
 * protect nothing: it is only ever used outside production or with an explicit `DEMO_DEFAULTS=1`.
 */
export const DEMO_ONLY_INSECURE_SECRET = 'demo-only-insecure-secret--never-use-in-production--edge-refresh'

/** Scope requested from a generic OIDC provider when OIDC_SCOPE is not set. */
export const DEFAULT_OIDC_SCOPE = 'openid profile email offline_access'

/** next-auth's session max age (its default, 30 days), shared by next-auth and the proxy. Seconds. */
export const SESSION_MAX_AGE_SECONDS = 30 * 24 * 60 * 60

/** The raw variables, by name. Tests and `local/dev.ts` may pass their own. */
export interface RawEnv {
  NODE_ENV?: string | undefined
  DEMO_DEFAULTS?: string | undefined
  COGNITO_CLIENT_ID?: string | undefined
  COGNITO_CLIENT_SECRET?: string | undefined
  COGNITO_ISSUER?: string | undefined
  AUTH_GOOGLE_ID?: string | undefined
  AUTH_GOOGLE_SECRET?: string | undefined
  OIDC_ISSUER?: string | undefined
  OIDC_CLIENT_ID?: string | undefined
  OIDC_CLIENT_SECRET?: string | undefined
  OIDC_SCOPE?: string | undefined
  NEXTAUTH_SECRET?: string | undefined
  AUTH_SECRET?: string | undefined
  NEXTAUTH_URL?: string | undefined
  UPSTASH_REDIS_REST_URL?: string | undefined
  UPSTASH_REDIS_REST_TOKEN?: string | undefined
  KV_REST_API_URL?: string | undefined
  KV_REST_API_TOKEN?: string | undefined
  REDIS_URL?: string | undefined
  REDIS_CLIENT?: string | undefined
  REFRESH_SKEW_SECONDS?: string | undefined
  DATABASE_URL?: string | undefined
}

/** Reads every variable by its literal name (see the note above). */
export function readProcessEnv(): RawEnv {
  return {
    NODE_ENV: process.env.NODE_ENV,
    DEMO_DEFAULTS: process.env.DEMO_DEFAULTS,
    COGNITO_CLIENT_ID: process.env.COGNITO_CLIENT_ID,
    COGNITO_CLIENT_SECRET: process.env.COGNITO_CLIENT_SECRET,
    COGNITO_ISSUER: process.env.COGNITO_ISSUER,
    AUTH_GOOGLE_ID: process.env.AUTH_GOOGLE_ID,
    AUTH_GOOGLE_SECRET: process.env.AUTH_GOOGLE_SECRET,
    OIDC_ISSUER: process.env.OIDC_ISSUER,
    OIDC_CLIENT_ID: process.env.OIDC_CLIENT_ID,
    OIDC_CLIENT_SECRET: process.env.OIDC_CLIENT_SECRET,
    OIDC_SCOPE: process.env.OIDC_SCOPE,
    NEXTAUTH_SECRET: process.env.NEXTAUTH_SECRET,
    AUTH_SECRET: process.env.AUTH_SECRET,
    NEXTAUTH_URL: process.env.NEXTAUTH_URL,
    UPSTASH_REDIS_REST_URL: process.env.UPSTASH_REDIS_REST_URL,
    UPSTASH_REDIS_REST_TOKEN: process.env.UPSTASH_REDIS_REST_TOKEN,
    KV_REST_API_URL: process.env.KV_REST_API_URL,
    KV_REST_API_TOKEN: process.env.KV_REST_API_TOKEN,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_CLIENT: process.env.REDIS_CLIENT,
    REFRESH_SKEW_SECONDS: process.env.REFRESH_SKEW_SECONDS,
    DATABASE_URL: process.env.DATABASE_URL,
  }
}

/** A configured sign-in provider, keyed by its next-auth provider id. */
export type ProviderEnv =
  | { id: 'cognito'; issuer: string; clientId: string; clientSecret: string }
  | { id: 'google'; clientId: string; clientSecret: string }
  | { id: 'oidc'; issuer: string; clientId: string; clientSecret: string; scope: string; demo: boolean }

/** The Redis clients the demo can talk to an ordinary Redis with (`REDIS_CLIENT`). */
export const REDIS_CLIENTS = ['node-redis', 'ioredis'] as const

/** An ordinary Redis over TCP: `REDIS_URL`, and which client library opens it. */
export interface RedisEnv {
  /** `redis://…` or `rediss://…` (TLS). */
  url: string
  client: (typeof REDIS_CLIENTS)[number]
}

/** The validated configuration. */
export interface AppEnv {
  /** The session secret next-auth signs and encrypts with; the proxy must use the same. */
  secret: string
  secretSource: 'NEXTAUTH_SECRET' | 'AUTH_SECRET' | 'demo default'
  /** `NEXTAUTH_URL`, when set. */
  url: string | undefined
  /** At least one. */
  providers: ProviderEnv[]
  /**
   * The refresh store the app uses, by precedence: `redis` when REDIS_URL is set (an ordinary Redis
   * over TCP, for the Node proxy and `next start` replicas), else `upstash` when UPSTASH_REDIS_REST_*
   * (or KV_REST_API_*) is set, else `memory` (one server process only).
   */
  store: 'redis' | 'upstash' | 'memory'
  /** `REDIS_URL` and the client that talks to it (`REDIS_CLIENT`, default node-redis). Wins over {@link AppEnv.upstash}. */
  redis: RedisEnv | undefined
  /** Upstash Redis over REST, when configured (used when REDIS_URL is not set). */
  upstash: { url: string; token: string; source: 'UPSTASH_REDIS_REST' | 'KV_REST_API' } | undefined
  /** `REFRESH_SKEW_SECONDS`, or the demo's value, or undefined (the library default, 60). */
  skewSeconds: number | undefined
  /**
   * `DATABASE_URL`: next-auth's database session strategy on PostgreSQL (`@auth/pg-adapter`), the
   * provider tokens in the `accounts` table. Absent → the JWT strategy (the default).
   */
  database: { url: string } | undefined
  /** True when the embedded demo provider is used (nothing configured). */
  demo: boolean
  /** True when embedded defaults are allowed (non-production, or DEMO_DEFAULTS=1). */
  demoDefaultsAllowed: boolean
}

/** Thrown by {@link loadEnv}; `problems` has one line per missing or malformed variable. */
export class EnvError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(
      `Invalid environment for next-auth-edge-refresh (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((problem) => `  - ${problem}`).join('\n') +
        '\nSee .env.example for every variable.',
    )
    this.name = 'EnvError'
    this.problems = problems
  }
}

const PROVIDER_CHOICES =
  'OIDC_ISSUER + OIDC_CLIENT_ID + OIDC_CLIENT_SECRET, or COGNITO_ISSUER + COGNITO_CLIENT_ID + COGNITO_CLIENT_SECRET, or AUTH_GOOGLE_ID + AUTH_GOOGLE_SECRET'

/**
 * Parses and validates the environment. Collects every problem first and throws ONE
 * {@link EnvError} naming each missing or malformed variable.
 *
 * @param raw Default: `process.env`, read by literal names.
 */
export function loadEnv(raw: RawEnv = readProcessEnv()): AppEnv {
  const problems: string[] = []
  const value = (name: keyof RawEnv): string | undefined => {
    const v = raw[name]?.trim()
    return v ? v : undefined
  }
  const demoDefaultsAllowed = value('NODE_ENV') !== 'production' || value('DEMO_DEFAULTS') === '1'

  // A group of variables is all-or-nothing: naming one means the provider was meant to be used.
  const group = <K extends keyof RawEnv>(label: string, names: readonly K[]): Record<K, string> | undefined => {
    const present = names.filter((name) => value(name) !== undefined)
    if (present.length === 0) return undefined
    const missing = names.filter((name) => value(name) === undefined)
    if (missing.length > 0) {
      for (const name of missing) problems.push(`${name} is missing: ${label} is half-configured (${present.join(', ')} set)`)
      return undefined
    }
    return Object.fromEntries(names.map((name) => [name, value(name)!])) as Record<K, string>
  }

  const providers: ProviderEnv[] = []

  // Issuers are checked whenever present, so a half-configured provider reports everything at once.
  const cognitoIssuerOk = value('COGNITO_ISSUER') === undefined || checkIssuer('COGNITO_ISSUER', value('COGNITO_ISSUER')!, problems)
  const oidcIssuerOk = value('OIDC_ISSUER') === undefined || checkIssuer('OIDC_ISSUER', value('OIDC_ISSUER')!, problems)

  const cognito = group('Cognito', ['COGNITO_ISSUER', 'COGNITO_CLIENT_ID', 'COGNITO_CLIENT_SECRET'] as const)
  if (cognito && cognitoIssuerOk) {
    providers.push({
      id: 'cognito',
      issuer: stripSlash(cognito.COGNITO_ISSUER),
      clientId: cognito.COGNITO_CLIENT_ID,
      clientSecret: cognito.COGNITO_CLIENT_SECRET,
    })
  }

  const google = group('Google', ['AUTH_GOOGLE_ID', 'AUTH_GOOGLE_SECRET'] as const)
  if (google) providers.push({ id: 'google', clientId: google.AUTH_GOOGLE_ID, clientSecret: google.AUTH_GOOGLE_SECRET })

  // OIDC_SCOPE alone does not configure a provider (it only tunes one).
  const oidcEnv = group('the OIDC provider', ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET'] as const)
  const scope = value('OIDC_SCOPE') ?? DEFAULT_OIDC_SCOPE
  if (!scope.split(/\s+/).includes('openid')) problems.push(`OIDC_SCOPE is malformed: it must include "openid" (got "${scope}")`)
  if (oidcEnv && oidcIssuerOk) {
    providers.push({
      id: 'oidc',
      issuer: stripSlash(oidcEnv.OIDC_ISSUER),
      clientId: oidcEnv.OIDC_CLIENT_ID,
      clientSecret: oidcEnv.OIDC_CLIENT_SECRET,
      scope,
      demo: false,
    })
  }

  const anyProviderVariable = (
    [
      'COGNITO_ISSUER',
      'COGNITO_CLIENT_ID',
      'COGNITO_CLIENT_SECRET',
      'AUTH_GOOGLE_ID',
      'AUTH_GOOGLE_SECRET',
      'OIDC_ISSUER',
      'OIDC_CLIENT_ID',
      'OIDC_CLIENT_SECRET',
    ] as const
  ).some((name) => value(name) !== undefined)
  let demo = false
  if (!anyProviderVariable) {
    if (demoDefaultsAllowed) {
      demo = true
      providers.push({
        id: 'oidc',
        issuer: DEMO_PROVIDER.issuer,
        clientId: DEMO_PROVIDER.clientId,
        clientSecret: DEMO_PROVIDER.clientSecret,
        scope,
        demo: true,
      })
    } else {
      problems.push(`no sign-in provider is configured: set ${PROVIDER_CHOICES} (or DEMO_DEFAULTS=1 for the local demo provider)`)
    }
  }

  let secret: string | undefined
  let secretSource: AppEnv['secretSource'] = 'demo default'
  if (value('NEXTAUTH_SECRET')) {
    secret = value('NEXTAUTH_SECRET')
    secretSource = 'NEXTAUTH_SECRET'
  } else if (value('AUTH_SECRET')) {
    secret = value('AUTH_SECRET')
    secretSource = 'AUTH_SECRET'
  } else if (demoDefaultsAllowed) {
    secret = DEMO_ONLY_INSECURE_SECRET
  } else {
    problems.push('NEXTAUTH_SECRET (or AUTH_SECRET) is missing: generate one with `openssl rand -base64 32`')
  }

  const url = value('NEXTAUTH_URL')
  if (url !== undefined && !isHttpUrl(url))
    problems.push(`NEXTAUTH_URL is malformed: expected an absolute http(s) URL such as https://app.example.com, got "${url}"`)

  let upstash: AppEnv['upstash']
  const upstashEnv = group('Upstash Redis', ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'] as const)
  const kvEnv = upstashEnv ? undefined : group('Vercel KV (Upstash) Redis', ['KV_REST_API_URL', 'KV_REST_API_TOKEN'] as const)
  if (upstashEnv) {
    if (checkRestUrl('UPSTASH_REDIS_REST_URL', upstashEnv.UPSTASH_REDIS_REST_URL, problems)) {
      upstash = { url: upstashEnv.UPSTASH_REDIS_REST_URL, token: upstashEnv.UPSTASH_REDIS_REST_TOKEN, source: 'UPSTASH_REDIS_REST' }
    }
  } else if (kvEnv) {
    if (checkRestUrl('KV_REST_API_URL', kvEnv.KV_REST_API_URL, problems)) {
      upstash = { url: kvEnv.KV_REST_API_URL, token: kvEnv.KV_REST_API_TOKEN, source: 'KV_REST_API' }
    }
  }

  // REDIS_URL (a TCP Redis) takes precedence over the Upstash REST variables; both are validated.
  let redis: RedisEnv | undefined
  const redisUrl = value('REDIS_URL')
  const redisClient = value('REDIS_CLIENT')
  let client: RedisEnv['client'] = 'node-redis'
  if (redisClient !== undefined) {
    if ((REDIS_CLIENTS as readonly string[]).includes(redisClient)) client = redisClient as RedisEnv['client']
    else problems.push(`REDIS_CLIENT is malformed: expected ${REDIS_CLIENTS.join(' or ')}, got "${redisClient}"`)
    if (redisUrl === undefined) problems.push('REDIS_URL is missing: REDIS_CLIENT is set, but it only chooses the client for REDIS_URL')
  }
  if (redisUrl !== undefined && checkRedisUrl(redisUrl, problems)) redis = { url: redisUrl, client }
  const store: AppEnv['store'] = redis ? 'redis' : upstash ? 'upstash' : 'memory'

  let skewSeconds: number | undefined = demo ? DEMO_SKEW_SECONDS : undefined
  const skew = value('REFRESH_SKEW_SECONDS')
  if (skew !== undefined) {
    if (/^\d+$/.test(skew) && Number(skew) <= 3600) skewSeconds = Number(skew)
    else problems.push(`REFRESH_SKEW_SECONDS is malformed: expected a whole number of seconds from 0 to 3600, got "${skew}"`)
  }

  let database: AppEnv['database']
  const databaseUrl = value('DATABASE_URL')
  if (databaseUrl !== undefined) {
    if (/^postgres(ql)?:\/\/[^\s]+$/.test(databaseUrl)) database = { url: databaseUrl }
    else problems.push('DATABASE_URL is malformed: expected a PostgreSQL URL such as postgres://user:password@host:5432/db')
  }

  if (problems.length > 0) throw new EnvError(problems)
  return { secret: secret!, secretSource, url, providers, store, redis, upstash, skewSeconds, database, demo, demoDefaultsAllowed }
}

let cached: AppEnv | undefined

/** {@link loadEnv} on `process.env`, once per process / isolate. */
export function appEnv(): AppEnv {
  cached ??= loadEnv()
  return cached
}

/**
 * Whether a URL hostname is this machine (`localhost`, `127.x.x.x`, `[::1]`): the only place the
 * demo accepts plain http (its local provider, a local Redis REST server).
 */
export function isLoopbackHostname(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname)
}

/** The issuer a provider's tokens come from (for discovery of its userinfo endpoint). */
export function issuerOf(provider: ProviderEnv): string {
  return provider.id === 'google' ? 'https://accounts.google.com' : provider.issuer
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, '')
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:'
  } catch {
    return false
  }
}

/**
 * Parses a URL that must use https, or plain http on loopback only (a local provider or Redis),
 * as the refresh library requires. Records the problem and returns undefined otherwise.
 */
function secureUrl(name: string, value: string, example: string, problems: string[]): URL | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    problems.push(`${name} is malformed: expected an absolute URL such as ${example}, got "${value}"`)
    return undefined
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHostname(url.hostname))) return url
  problems.push(`${name} is malformed: it must use https (plain http only for 127.0.0.1 / localhost), got "${value}"`)
  return undefined
}

function checkIssuer(name: string, value: string, problems: string[]): boolean {
  const url = secureUrl(name, value, 'https://issuer.example.com', problems)
  if (!url) return false
  if (url.search || url.hash) {
    problems.push(`${name} is malformed: an issuer has no query or fragment, got "${value}"`)
    return false
  }
  return true
}

function checkRestUrl(name: string, value: string, problems: string[]): boolean {
  return secureUrl(name, value, 'https://xyz.upstash.io', problems) !== undefined
}

/**
 * A Redis URL: `redis://` or `rediss://` (TLS) with a host. Plain `redis://` is accepted anywhere:
 * self-hosted replicas usually reach Redis on a private network (`redis://redis:6379`).
 */
function checkRedisUrl(value: string, problems: string[]): boolean {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    url = undefined
  }
  if (url && (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname) return true
  // Never echo the URL: it may hold a password.
  problems.push('REDIS_URL is malformed: expected redis://[user:password@]host:port[/db] or rediss://… (TLS)')
  return false
}

/**
 * The startup check: `next.config.ts` calls it when `next dev` / `next start` boot, so a bad
 * environment stops the server at once with one {@link EnvError} instead of failing requests.
 * `next build` checks only on Vercel (`VERCEL=1`), where the deployment's variables are present
 * at build time; elsewhere a build may legitimately run without them (CI, Docker).
 */
export function checkEnvAtStartup(phase: 'dev' | 'start' | 'build'): void {
  if (phase === 'build' && process.env.VERCEL !== '1') return
  loadEnv()
}
