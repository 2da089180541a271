/**
 * A real OpenID Connect provider on loopback (`oidc-provider`, the library behind many
 * production servers), configured like the strict providers this project must survive:
 * refresh tokens rotate on every use, and presenting a used one revokes the whole login.
 *
 * Used by the edge tests (with `testHooks`) and by `npm run dev` as the embedded provider.
 * Node-only: nothing under lib/ may import this.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http'

import Provider, { type ClientMetadata, type Configuration } from 'oidc-provider'

import { isLoopback, readBody, readJson, sendJson } from './http-json'
import { signInWithCodeFlow } from './oidc-signin'

/** A client registered at the local provider. */
export interface LocalClient {
  /** The client_id it authenticates with. */
  client_id: string
  /** Omit for a public client (then `token_endpoint_auth_method` defaults to `none`). */
  client_secret?: string
  /** Exact redirect URIs, e.g. `http://localhost:3000/api/auth/callback/oidc` for next-auth. */
  redirect_uris: string[]
  /**
   * `client_secret_basic`, `client_secret_post` or `none`.
   * Default: `client_secret_basic` when there is a secret, else `none`.
   */
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'none'
}

/** The client registered when `clients` is not given. */
export const DEFAULT_TEST_CLIENT = {
  client_id: 'edge-refresh-test',
  client_secret: 'edge-refresh-test-secret',
  redirect_uris: ['http://127.0.0.1/callback'],
  token_endpoint_auth_method: 'client_secret_basic',
} as const satisfies LocalClient

/** Options for {@link startLocalProvider}. */
/**
 * A confidential client for next-auth apps on `next start` at these loopback ports, with the
 * callback next-auth v4 uses for the provider id `oidc`.
 */
export function nextAuthClient(clientId: string, clientSecret: string, ports: readonly number[]): LocalClient {
  return {
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: ports.map((port) => `http://127.0.0.1:${port}/api/auth/callback/oidc`),
    token_endpoint_auth_method: 'client_secret_basic',
  }
}

export interface LocalProviderOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. Default 0. */
  port?: number
  /** Access-token lifetime (seconds). Default 30. */
  accessTokenTtlSeconds?: number
  /** Registered clients. Default: [{@link DEFAULT_TEST_CLIENT}]. */
  clients?: LocalClient[]
  /** Serve the `/__test/` hooks (see {@link startLocalProvider}). Default false. */
  testHooks?: boolean
}

/** A running provider. */
export interface LocalProvider {
  /** Issuer URL, `http://127.0.0.1:<port>` (no trailing slash); discovery is below it. */
  issuer: string
  /** The TCP port it listens on. */
  port: number
  /** Stops the HTTP server and drops open connections. */
  stop(): Promise<void>
}

/** Counters served by `GET /__test/stats`, all about token requests with grant_type=refresh_token. */
export interface RefreshStats {
  /** HTTP refresh requests received (injected failures included), each counted once. */
  refreshRequests: number
  /** Of those, answered 200 with tokens. */
  refreshSucceeded: number
  /** Of those, answered with anything else (invalid_grant, injected 503, bad client auth, ...). */
  refreshFailed: number
  /** Refreshes that presented an already-used refresh token (the provider revoked that grant). */
  reuseDetected: number
}

/** The token endpoint path (set explicitly so the hooks and the config cannot disagree). */
const TOKEN_PATH = '/token'
/** Header the signin hook sends so its own token request skips latency and fault injection. */
const INTERNAL_HEADER = 'x-local-provider-internal'

const zeroStats = (): RefreshStats => ({ refreshRequests: 0, refreshSucceeded: 0, refreshFailed: 0, reuseDetected: 0 })

function toClientMetadata(client: LocalClient): ClientMetadata {
  return {
    client_id: client.client_id,
    ...(client.client_secret === undefined ? {} : { client_secret: client.client_secret }),
    redirect_uris: client.redirect_uris,
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? (client.client_secret === undefined ? 'none' : 'client_secret_basic'),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }
}

function buildConfiguration(options: Required<Pick<LocalProviderOptions, 'accessTokenTtlSeconds' | 'clients'>>): Configuration {
  // One RS256 key per start: id_tokens are signed with it and published at /jwks.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: randomBytes(8).toString('hex') }

  return {
    clients: options.clients.map(toClientMetadata),
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    routes: { token: TOKEN_PATH },
    responseTypes: ['code'],
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    // next-auth builds the profile from the id_token; by default oidc-provider keeps profile
    // claims out of code-flow id_tokens (they are only at userinfo). Put them in both.
    conformIdTokenClaims: false,
    // Any login name is an account; the dev login page takes any password.
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => ({ sub, name: sub, email: `${sub}@example.test`, email_verified: true }),
    }),
    // Rotate on EVERY use (the default rotates only late in a token's life). With rotation, a
    // used token presented again revokes the grant: oidc-provider does that natively.
    rotateRefreshToken: () => true,
    issueRefreshToken: (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    // PKCE is checked whenever it is sent (next-auth sends it) and required only from public
    // clients, which have no other proof of who redeems the code.
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
    },
    ttl: {
      AccessToken: options.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      RefreshToken: 14 * 24 * 60 * 60,
      Interaction: 60 * 60,
      Session: 14 * 24 * 60 * 60,
      Grant: 14 * 24 * 60 * 60,
    },
  }
}

/**
 * Starts an oidc-provider on 127.0.0.1 with authorization_code + refresh_token, scopes
 * `openid profile email offline_access`, opaque access tokens (accepted at userinfo), RS256
 * id_tokens, and its development login/consent pages (any login, any password; the account's
 * claims are `name` = login, `email` = `login@example.test`). A refresh token is issued only
 * when `offline_access` was granted, which oidc-provider allows only with `prompt=consent`.
 *
 * With `testHooks: true`, JSON endpoints under `/__test/` (loopback only, no auth):
 * - `GET /__test/stats[?login=L]` → {@link RefreshStats}, global or for refresh tokens of login L;
 *   `POST /__test/reset` zeroes them and clears latency and fault injection.
 * - `POST /__test/signin` `{ client_id?, scope?, login? }` → the token endpoint JSON of a real
 *   code flow over HTTP (defaults: first client, `openid profile email offline_access`, `test-user`).
 *   Its own code exchange is neither counted, delayed nor failed.
 * - `POST /__test/revoke` `{ refresh_token }` → revokes that token's grant (all its tokens).
 * - `POST /__test/latency` `{ ms, login? }` → waits `ms` milliseconds before handling each token
 *   request (with `login`: only refreshes of that login's tokens).
 * - `POST /__test/answer-delay` `{ ms, login? }` → handles each token request at once (a refresh
 *   rotates the token) and holds the answer back `ms` milliseconds: a provider that answers late.
 * - `POST /__test/fail` `{ status, count?, login? }` → the next `count` (default 1) token requests
 *   (with `login`: refreshes of that login) get `status` with a plain-text body and are not
 *   processed, so the refresh token stays valid.
 *
 * Parallel test files share this provider: sign in with a unique `login` and pass it to the hooks.
 */
export async function startLocalProvider(options: LocalProviderOptions = {}): Promise<LocalProvider> {
  const clients = options.clients ?? [DEFAULT_TEST_CLIENT]
  const configuration = buildConfiguration({ accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 30, clients })

  // The issuer must contain the port, so listen first and create the provider afterwards.
  let handler: RequestListener | undefined
  const server: Server = createServer((req, res) => {
    if (handler) handler(req, res)
    else sendJson(res, 503, { error: 'starting' })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (typeof address !== 'object' || !address) throw new Error('provider server has no address')
  const issuer = `http://127.0.0.1:${address.port}`
  let provider: Provider
  try {
    provider = new Provider(issuer, configuration)
  } catch (error) {
    server.close()
    throw error
  }
  // Before provider.callback(): Koa composes its middleware list when callback() is called.
  const hooks = options.testHooks ? installTestHooks(provider, issuer, clients) : undefined
  const providerCallback = provider.callback()

  if (hooks) {
    handler = (req, res) => {
      const path = new URL(req.url ?? '/', issuer).pathname
      // Koa answers its own errors; nothing here waits for the request to finish.
      if (!path.startsWith('/__test/')) return void providerCallback(req, res)
      if (!isLoopback(req)) return sendJson(res, 403, { error: 'test hooks are loopback-only' })
      void hooks(`${req.method ?? 'GET'} ${path}`, req).then(
        ([status, body]) => sendJson(res, status, body),
        (error: unknown) => sendJson(res, 500, { error: error instanceof Error ? error.message : String(error) }),
      )
    }
  } else {
    handler = (req, res) => void providerCallback(req, res)
  }

  return {
    issuer,
    port: address.port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

type HookHandler = (route: string, req: IncomingMessage) => Promise<[number, unknown]>

const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}

/** Counts refresh traffic, injects latency/faults at the token endpoint, and routes `/__test/` requests. */
function installTestHooks(provider: Provider, issuer: string, clients: LocalClient[]): HookHandler {
  // Everything below is kept globally and per login (the account of the refresh token), so test
  // files that run in parallel against this one provider can each sign in as their own login and
  // neither read nor inject into each other's traffic. The key '' is the global entry.
  let stats = new Map<string, RefreshStats>()
  let latencyMs = new Map<string, number>()
  let answerDelayMs = new Map<string, number>()
  let failures = new Map<string, { status: number; remaining: number }>()
  const internalSecret = randomBytes(16).toString('hex')

  const statsFor = (key: string): RefreshStats => {
    let entry = stats.get(key)
    if (!entry) stats.set(key, (entry = zeroStats()))
    return entry
  }
  const record = (login: string | undefined, field: keyof RefreshStats) => {
    statsFor('')[field]++
    if (login !== undefined) statsFor(login)[field]++
  }
  // Opaque refresh token value (its jti) → login, remembered when the provider saves the token:
  // a revoked or reused token is destroyed, and its later refreshes must still count for its login.
  const loginByToken = new Map<string, string>()
  provider.on('refresh_token.saved', (token) => {
    if (token.jti && token.accountId) loginByToken.set(token.jti, token.accountId)
  })
  const loginOf = (refreshToken: string | null) => (refreshToken ? loginByToken.get(refreshToken) : undefined)

  // Koa middleware in front of the provider's router: it sees every HTTP request to the token
  // endpoint once, before and after the provider handles it.
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== TOKEN_PATH) return next()
    // The signin hook's own code exchange: not part of the traffic under test.
    if (ctx.get(INTERNAL_HEADER) === internalSecret) return next()

    // The login is needed before the provider runs (to scope injected faults), so read the form
    // here and hand it on: with the stream consumed, oidc-provider parses req.body instead
    // (and warns once per process about an upstream body parser, which is expected here).
    const raw = (await readBody(ctx.req)).toString('utf8')
    ;(ctx.req as IncomingMessage & { body?: string }).body = raw
    const form = new URLSearchParams(raw)
    const isRefresh = form.get('grant_type') === 'refresh_token'
    const login = isRefresh ? loginOf(form.get('refresh_token')) : undefined
    ctx.state.refreshLogin = login

    const delay = (login !== undefined ? latencyMs.get(login) : undefined) ?? latencyMs.get('') ?? 0
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))

    const failure = [login !== undefined ? failures.get(login) : undefined, failures.get('')].find((f) => f && f.remaining > 0)
    if (failure) {
      failure.remaining--
      // Answer without letting the provider see the request, so the refresh token is not used
      // up, as when a gateway in front of a real provider fails.
      if (isRefresh) {
        record(login, 'refreshRequests')
        record(login, 'refreshFailed')
      }
      ctx.status = failure.status
      ctx.type = 'text/plain'
      ctx.body = `injected failure: HTTP ${failure.status}`
      return
    }

    await next()
    if (isRefresh) {
      record(login, 'refreshRequests')
      record(login, ctx.status === 200 ? 'refreshSucceeded' : 'refreshFailed')
    }
    // The provider has handled (and rotated) it; only the answer is late.
    const answerDelay = (login !== undefined ? answerDelayMs.get(login) : undefined) ?? answerDelayMs.get('') ?? 0
    if (answerDelay > 0) await new Promise((resolve) => setTimeout(resolve, answerDelay))
  })

  provider.on('grant.error', (ctx, error) => {
    // The provider's own reuse detection: it has just destroyed the token and revoked the grant.
    if (ctx.oidc.params?.grant_type === 'refresh_token' && error.error_detail === 'refresh token already used') {
      record(ctx.state.refreshLogin as string | undefined, 'reuseDetected')
    }
  })

  /** `login` from a hook body: a non-empty string scopes the hook to that login, else global (''). */
  const scopeOf = (body: Record<string, unknown>) => (typeof body.login === 'string' ? body.login : '')

  return async (route, req) => {
    switch (route) {
      case 'GET /__test/stats': {
        const login = new URL(req.url ?? '/', issuer).searchParams.get('login') ?? ''
        return [200, stats.get(login) ?? zeroStats()]
      }
      case 'POST /__test/reset':
        stats = new Map()
        latencyMs = new Map()
        answerDelayMs = new Map()
        failures = new Map()
        return [200, zeroStats()]
      case 'POST /__test/latency': {
        const body = asRecord(await readJson(req))
        const ms = Number(body.ms)
        if (!Number.isFinite(ms) || ms < 0) return [400, { error: 'ms must be a number >= 0' }]
        latencyMs.set(scopeOf(body), ms)
        return [200, { ms, login: scopeOf(body) || null }]
      }
      case 'POST /__test/answer-delay': {
        const body = asRecord(await readJson(req))
        const ms = Number(body.ms)
        if (!Number.isFinite(ms) || ms < 0) return [400, { error: 'ms must be a number >= 0' }]
        answerDelayMs.set(scopeOf(body), ms)
        return [200, { ms, login: scopeOf(body) || null }]
      }
      case 'POST /__test/fail': {
        const body = asRecord(await readJson(req))
        const status = Number(body.status ?? 503)
        const count = Number(body.count ?? 1)
        if (!Number.isInteger(status) || status < 400 || status > 599)
          return [400, { error: 'status must be an HTTP error status (400-599)' }]
        if (!Number.isInteger(count) || count < 0) return [400, { error: 'count must be an integer >= 0' }]
        failures.set(scopeOf(body), { status, remaining: count })
        return [200, { status, count, login: scopeOf(body) || null }]
      }
      case 'POST /__test/signin': {
        const body = asRecord(await readJson(req))
        const clientId = typeof body.client_id === 'string' ? body.client_id : clients[0]?.client_id
        const client = clients.find((c) => c.client_id === clientId)
        if (!client) return [400, { error: `unknown client_id ${String(clientId)}` }]
        const tokens = await signInWithCodeFlow({
          issuer,
          client,
          scope: typeof body.scope === 'string' ? body.scope : 'openid profile email offline_access',
          login: typeof body.login === 'string' && body.login ? body.login : 'test-user',
          tokenRequestHeaders: { [INTERNAL_HEADER]: internalSecret },
        })
        return [200, tokens]
      }
      case 'POST /__test/revoke': {
        const value = asRecord(await readJson(req)).refresh_token
        if (typeof value !== 'string') return [400, { error: 'refresh_token (string) is required' }]
        const token = await provider.RefreshToken.find(value, { ignoreExpiration: true })
        if (!token?.grantId) return [404, { error: 'unknown refresh token' }]
        const { grantId } = token
        const grant = await provider.Grant.find(grantId)
        await Promise.all([
          provider.AccessToken.revokeByGrantId(grantId),
          provider.RefreshToken.revokeByGrantId(grantId),
          provider.AuthorizationCode.revokeByGrantId(grantId),
          grant?.destroy(),
        ])
        return [200, { revoked: true, grantId }]
      }
      default:
        return [404, { error: `no test hook ${route}` }]
    }
  }
}
