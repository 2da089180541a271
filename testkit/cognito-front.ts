/**
 * A small HTTP front in front of cognito-local (the Amazon Cognito emulator), for tests. Node only.
 *
 * What is the emulator's (cognito-local 5.3.0, forwarded unchanged): user pools, app clients,
 * users, `InitiateAuth` USER_PASSWORD_AUTH / REFRESH_TOKEN_AUTH token minting (RS256 JWTs),
 * `RevokeToken` of its own refresh tokens, `/oauth2/token`, `/.well-known/*`, `/health`, and
 * every other API target.
 *
 * What is the front's (written from the Amazon Cognito API reference, because the emulator
 * lacks it):
 * - SECRET_HASH checking for `InitiateAuth` with a client that has a secret:
 *   Base64(HMAC-SHA256(key = client secret, message = username + clientId)); the username of a
 *   REFRESH_TOKEN_AUTH is the `cognito:username` of the token's owner, learnt from the sign-in
 *   responses that pass through. Missing or wrong → 400 NotAuthorizedException
 *   "Unable to verify secret hash for client <clientId>". (The emulator ignores SECRET_HASH.)
 * - `GetTokensFromRefreshToken` (the emulator has no such target) with refresh-token rotation
 *   and reuse detection: every call mints new access/id tokens through the emulator's
 *   REFRESH_TOKEN_AUTH on the underlying emulator token, returns a NEW opaque refresh token and
 *   marks the presented one used; presenting a used one again revokes the whole family.
 *   No retry grace period (Cognito's RetryGracePeriodSeconds = 0).
 * - Revocation of whole token families (reuse, or `RevokeToken` of any member), answered with
 *   NotAuthorizedException "Refresh Token has been revoked"; the underlying emulator token is
 *   revoked in the emulator too, so its `/oauth2/token` refuses it as well.
 * - `ExpiresIn` and `TokenType: "Bearer"` in `AuthenticationResult` where the emulator leaves
 *   them out (it never sends them from InitiateAuth): ExpiresIn = access token `exp - iat`.
 * - Test hooks under `/__test/` (loopback only): stats, reset, latency, fail.
 *
 * The front learns client secrets from the `CreateUserPoolClient` / `DescribeUserPoolClient` /
 * `UpdateUserPoolClient` responses that pass through it (or from {@link CognitoFront.registerClient}):
 * a client it has never seen is treated as a public client. Front-issued refresh tokens (from
 * GetTokensFromRefreshToken) are only understood by the front's JSON API, not by the emulator's
 * `/oauth2/token`, which is forwarded unchanged.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import { isLoopback, readBody, readJson, sendJson } from './http-json'

/** Content type of the AWS JSON 1.1 protocol. */
export const AMZ_JSON = 'application/x-amz-json-1.1'
/** Prefix of the `x-amz-target` header of the Cognito user pools API. */
export const TARGET_PREFIX = 'AWSCognitoIdentityProviderService.'

/** Counters of `GET /__test/stats`; refresh calls count whatever their outcome. */
export interface CognitoFrontStats {
  /** `InitiateAuth` with AuthFlow REFRESH_TOKEN_AUTH (or REFRESH_TOKEN). */
  initiateAuthRefresh: number
  /** `GetTokensFromRefreshToken` calls. */
  getTokensFromRefreshToken: number
  /** `POST /oauth2/token` with grant_type=refresh_token. */
  tokenEndpointRefresh: number
  /** Requests refused for a missing or wrong SECRET_HASH / ClientSecret. */
  secretHashRejected: number
  /** Rotated-out refresh tokens presented again (each revoked a family). */
  reuseDetected: number
}

export interface CognitoFront {
  /** `http://127.0.0.1:<port>`: the endpoint clients should use. */
  url: string
  /** Tells the front a client's secret (`undefined` = public client). */
  registerClient(clientId: string, clientSecret: string | undefined): void
  stats(): CognitoFrontStats
  /** Zeroes the counters and clears latency and pending failures (not the token families). */
  reset(): void
  stop(): Promise<void>
}

export interface CognitoFrontOptions {
  /** Base URL of the running cognito-local, e.g. `http://127.0.0.1:9229`. */
  emulatorEndpoint: string
  /** Port to listen on (0 = any free port, the default). */
  port?: number
  /**
   * Error type answered when a rotated-out refresh token is presented again (the family is revoked
   * either way). Default `NotAuthorizedException` "Refresh Token has been revoked"; the Cognito API
   * reference also lists a `RefreshTokenReuseException` ("a refresh token that has been invalidated
   * by refresh-token rotation"), whose exact message it does not give.
   */
  reuseErrorType?: 'NotAuthorizedException' | 'RefreshTokenReuseException'
}

/** Upper bound of `POST /__test/latency` (milliseconds), so a typo cannot hang a test run. */
const MAX_LATENCY_MS = 60_000
/** Upper bound of `POST /__test/fail` counts. */
const MAX_FAIL_COUNT = 1_000
/** Upper bound of remembered refresh tokens, so a long run cannot grow without limit. */
const MAX_TOKENS = 100_000

interface Family {
  /** The emulator's refresh token behind every member of the family. */
  emulatorRefreshToken: string
  /** `cognito:username` of the owner (the SECRET_HASH username of REFRESH_TOKEN_AUTH). */
  username: string
  clientId: string
  revoked: boolean
}

interface TokenEntry {
  family: Family
  /** Rotated out by GetTokensFromRefreshToken: presenting it again is reuse. */
  used: boolean
}

interface Answer {
  status: number
  headers?: Record<string, string>
  body: unknown
}

class CognitoApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message)
  }
}

const notAuthorized = (message: string) => new CognitoApiError('NotAuthorizedException', message)
const revokedError = () => notAuthorized('Refresh Token has been revoked')
const invalidRefreshToken = () => notAuthorized('Invalid Refresh Token')
const secretHashError = (clientId: string) => notAuthorized(`Unable to verify secret hash for client ${clientId}`)

/** The Cognito SECRET_HASH: Base64(HMAC-SHA256(key = client secret, message = username + clientId)). */
export function computeSecretHash(username: string, clientId: string, clientSecret: string): string {
  return createHmac('sha256', clientSecret)
    .update(username + clientId)
    .digest('base64')
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/** Payload of a JWT without verifying it (the tokens come from the emulator we started). */
export function decodeJwtPayload(token: unknown): Record<string, unknown> | undefined {
  if (typeof token !== 'string') return undefined
  const parts = token.split('.')
  if (parts.length !== 3 || !parts[1]) return undefined
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown
    return payload && typeof payload === 'object' ? (payload as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function errorAnswer(error: CognitoApiError): Answer {
  return {
    status: error.status,
    headers: { 'x-amzn-errortype': error.type },
    body: { __type: error.type, message: error.message },
  }
}

function sendAmz(res: ServerResponse, answer: Answer): void {
  const body = JSON.stringify(answer.body)
  res.writeHead(answer.status, {
    'content-type': AMZ_JSON,
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': crypto.randomUUID(),
    ...answer.headers,
  })
  res.end(body)
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
  'host',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
])

/** Starts the front on 127.0.0.1 and resolves once it listens. */
export async function startCognitoFront(options: CognitoFrontOptions): Promise<CognitoFront> {
  const emulator = options.emulatorEndpoint.replace(/\/+$/, '')
  const clientSecrets = new Map<string, string | undefined>()
  const tokens = new Map<string, TokenEntry>()
  const zero = (): CognitoFrontStats => ({
    initiateAuthRefresh: 0,
    getTokensFromRefreshToken: 0,
    tokenEndpointRefresh: 0,
    secretHashRejected: 0,
    reuseDetected: 0,
  })
  let stats = zero()
  let latencyMs = 0
  let failure: { status: number; remaining: number } | undefined

  const remember = (token: string, entry: TokenEntry) => {
    if (tokens.size >= MAX_TOKENS) {
      // Oldest first (Map keeps insertion order): forgetting an old token only makes it "unknown".
      const oldest = tokens.keys().next().value
      if (oldest !== undefined) tokens.delete(oldest)
    }
    tokens.set(token, entry)
  }

  const learnClient = (body: unknown) => {
    if (!isRecord(body) || !isRecord(body.UserPoolClient)) return
    const client = body.UserPoolClient
    if (typeof client.ClientId !== 'string') return
    clientSecrets.set(client.ClientId, typeof client.ClientSecret === 'string' ? client.ClientSecret : undefined)
  }

  /** Registers the refresh token of a sign-in response as the root of a new family. */
  const learnSignIn = (body: unknown, clientId: string, fallbackUsername: unknown) => {
    if (!isRecord(body) || !isRecord(body.AuthenticationResult)) return
    const result = body.AuthenticationResult
    if (typeof result.RefreshToken !== 'string') return
    const idClaims = decodeJwtPayload(result.IdToken)
    const accessClaims = decodeJwtPayload(result.AccessToken)
    const username =
      (typeof idClaims?.['cognito:username'] === 'string' && idClaims['cognito:username']) ||
      (typeof accessClaims?.username === 'string' && accessClaims.username) ||
      (typeof fallbackUsername === 'string' ? fallbackUsername : '')
    remember(result.RefreshToken, {
      family: { emulatorRefreshToken: result.RefreshToken, username, clientId, revoked: false },
      used: false,
    })
  }

  /** Fills `ExpiresIn` (access token `exp - iat`) and `TokenType` where the emulator left them out. */
  const completeResult = (result: Record<string, unknown>) => {
    if (typeof result.ExpiresIn !== 'number') {
      const claims = decodeJwtPayload(result.AccessToken)
      if (typeof claims?.exp === 'number' && typeof claims.iat === 'number') result.ExpiresIn = claims.exp - claims.iat
    }
    if (typeof result.TokenType !== 'string' && typeof result.AccessToken === 'string') result.TokenType = 'Bearer'
  }

  const callEmulator = async (op: string, body: unknown): Promise<Answer> => {
    const response = await fetch(`${emulator}/`, {
      method: 'POST',
      headers: { 'content-type': AMZ_JSON, 'x-amz-target': `${TARGET_PREFIX}${op}` },
      body: JSON.stringify(body),
    })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text ? (JSON.parse(text) as unknown) : {}
    } catch {
      // not JSON: hand the text back as is
    }
    const headers: Record<string, string> = {}
    if (response.status >= 400 && isRecord(parsed) && typeof parsed.__type === 'string') {
      headers['x-amzn-errortype'] = parsed.__type
    }
    return { status: response.status, headers, body: parsed }
  }

  const revokeFamily = async (family: Family) => {
    if (family.revoked) return
    family.revoked = true
    // Keep the emulator consistent (its /oauth2/token and InitiateAuth then refuse the token too).
    await callEmulator('RevokeToken', { Token: family.emulatorRefreshToken, ClientId: family.clientId }).catch(() => undefined)
  }

  /** Latency and injected failures shared by every kind of refresh call. */
  const refreshFaults = async (): Promise<CognitoApiError | undefined> => {
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs))
    if (failure && failure.remaining > 0) {
      failure.remaining -= 1
      const { status } = failure
      if (failure.remaining === 0) failure = undefined
      return status === 429
        ? new CognitoApiError('TooManyRequestsException', 'Rate exceeded', 429)
        : new CognitoApiError('InternalErrorException', 'Internal server error', status)
    }
    return undefined
  }

  /** Checks a client's secret credential: `presented` is a SECRET_HASH (or a ClientSecret). */
  const checkSecret = (clientId: string, check: (secret: string) => boolean) => {
    const secret = clientSecrets.get(clientId)
    if (secret === undefined) return
    if (!check(secret)) {
      stats.secretHashRejected += 1
      throw secretHashError(clientId)
    }
  }

  const checkSecretHash = (clientId: string, username: string | undefined, presented: unknown) =>
    checkSecret(
      clientId,
      (secret) =>
        typeof presented === 'string' && username !== undefined && safeEqual(presented, computeSecretHash(username, clientId, secret)),
    )

  const checkClientSecret = (clientId: string, presented: unknown) =>
    checkSecret(clientId, (secret) => typeof presented === 'string' && safeEqual(presented, secret))

  /** A presented refresh token that is known: refuses revoked families and reuse. */
  const admit = async (token: string): Promise<TokenEntry | undefined> => {
    const entry = tokens.get(token)
    if (!entry) return undefined
    if (entry.family.revoked) throw revokedError()
    if (entry.used) {
      stats.reuseDetected += 1
      await revokeFamily(entry.family)
      throw options.reuseErrorType === 'RefreshTokenReuseException'
        ? new CognitoApiError('RefreshTokenReuseException', 'Refresh token has been invalidated by refresh token rotation')
        : revokedError()
    }
    return entry
  }

  const initiateAuth = async (body: Record<string, unknown>): Promise<Answer> => {
    const clientId = typeof body.ClientId === 'string' ? body.ClientId : ''
    const params = isRecord(body.AuthParameters) ? body.AuthParameters : {}
    const flow = body.AuthFlow
    if (flow === 'REFRESH_TOKEN_AUTH' || flow === 'REFRESH_TOKEN') {
      stats.initiateAuthRefresh += 1
      const fault = await refreshFaults()
      if (fault) throw fault
      const presented = typeof params.REFRESH_TOKEN === 'string' ? params.REFRESH_TOKEN : undefined
      const known = presented === undefined ? undefined : tokens.get(presented)
      // A token the front has not seen may still be an emulator token (its payload names the user).
      const username = known?.family.username ?? (decodeJwtPayload(presented)?.['cognito:username'] as string | undefined)
      // Client authentication first: a caller without the secret must not be able to revoke a family.
      checkSecretHash(clientId, username, params.SECRET_HASH)
      const entry = presented === undefined ? undefined : await admit(presented)
      if (entry && entry.family.clientId !== clientId) throw invalidRefreshToken()
      const forwarded = entry ? { ...body, AuthParameters: { ...params, REFRESH_TOKEN: entry.family.emulatorRefreshToken } } : body
      const answer = await callEmulator('InitiateAuth', forwarded)
      if (answer.status === 200 && isRecord(answer.body) && isRecord(answer.body.AuthenticationResult)) {
        completeResult(answer.body.AuthenticationResult)
      }
      return answer
    }
    if (flow === 'USER_PASSWORD_AUTH') {
      checkSecretHash(clientId, typeof params.USERNAME === 'string' ? params.USERNAME : undefined, params.SECRET_HASH)
    }
    const answer = await callEmulator('InitiateAuth', body)
    if (answer.status === 200) {
      learnSignIn(answer.body, clientId, params.USERNAME)
      if (isRecord(answer.body) && isRecord(answer.body.AuthenticationResult)) {
        completeResult(answer.body.AuthenticationResult)
      }
    }
    return answer
  }

  const getTokensFromRefreshToken = async (body: Record<string, unknown>): Promise<Answer> => {
    stats.getTokensFromRefreshToken += 1
    const fault = await refreshFaults()
    if (fault) throw fault
    const { RefreshToken: presented, ClientId: clientId } = body
    if (typeof presented !== 'string' || !presented) {
      throw new CognitoApiError('InvalidParameterException', 'Missing required parameter RefreshToken')
    }
    if (typeof clientId !== 'string' || !clientId) {
      throw new CognitoApiError('InvalidParameterException', 'Missing required parameter ClientId')
    }
    checkClientSecret(clientId, body.ClientSecret)
    const entry = await admit(presented)
    if (!entry || entry.family.clientId !== clientId) throw invalidRefreshToken()
    const minted = await callEmulator('InitiateAuth', {
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      ClientId: clientId,
      AuthParameters: { REFRESH_TOKEN: entry.family.emulatorRefreshToken },
    })
    if (minted.status !== 200 || !isRecord(minted.body) || !isRecord(minted.body.AuthenticationResult)) return minted
    // Rotation: the presented token is spent, a new member of the same family replaces it.
    entry.used = true
    const rotated = randomBytes(48).toString('base64url')
    remember(rotated, { family: entry.family, used: false })
    const result = minted.body.AuthenticationResult
    const authenticationResult: Record<string, unknown> = {
      AccessToken: result.AccessToken,
      IdToken: result.IdToken,
      RefreshToken: rotated,
    }
    completeResult(authenticationResult)
    return { status: 200, body: { AuthenticationResult: authenticationResult } }
  }

  const revokeToken = async (body: Record<string, unknown>): Promise<Answer> => {
    const { Token: token, ClientId: clientId } = body
    if (typeof token !== 'string' || typeof clientId !== 'string') {
      throw new CognitoApiError('InvalidParameterException', 'Missing required parameter Token or ClientId')
    }
    checkClientSecret(clientId, body.ClientSecret)
    const entry = tokens.get(token)
    if (!entry) return callEmulator('RevokeToken', body)
    if (entry.family.clientId !== clientId) {
      throw new CognitoApiError('UnauthorizedException', 'Client is not authorized to revoke this token')
    }
    await revokeFamily(entry.family)
    return { status: 200, body: {} }
  }

  const handleApi = async (req: IncomingMessage, res: ServerResponse, target: string): Promise<void> => {
    const raw = await readBody(req)
    const op = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : ''
    let body: unknown
    try {
      body = raw.length ? (JSON.parse(raw.toString('utf8')) as unknown) : {}
    } catch {
      sendAmz(res, errorAnswer(new CognitoApiError('SerializationException', 'Request body is not valid JSON')))
      return
    }
    let answer: Answer
    try {
      if (op === 'InitiateAuth' && isRecord(body)) answer = await initiateAuth(body)
      else if (op === 'GetTokensFromRefreshToken' && isRecord(body)) answer = await getTokensFromRefreshToken(body)
      else if (op === 'RevokeToken' && isRecord(body)) answer = await revokeToken(body)
      else {
        await forward(req, res, raw)
        return
      }
    } catch (error) {
      if (!(error instanceof CognitoApiError)) throw error
      answer = errorAnswer(error)
    }
    sendAmz(res, answer)
  }

  /** Passes a request to the emulator unchanged and streams its answer back. */
  const forward = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue
      for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item)
    }
    const method = req.method ?? 'GET'
    const response = await fetch(`${emulator}${req.url ?? '/'}`, {
      method,
      headers,
      body: method === 'GET' || method === 'HEAD' ? undefined : new Uint8Array(body),
      redirect: 'manual',
    })
    const bytes = Buffer.from(await response.arrayBuffer())
    // Learn client secrets from the client-management responses passing through.
    const target = req.headers['x-amz-target']
    if (response.status === 200 && typeof target === 'string' && /\.(Create|Describe|Update)UserPoolClient$/.test(target)) {
      try {
        learnClient(JSON.parse(bytes.toString('utf8')))
      } catch {
        // not JSON: nothing to learn
      }
    }
    const outHeaders: Record<string, string | string[]> = {}
    response.headers.forEach((value, name) => {
      if (!HOP_BY_HOP.has(name) && name !== 'set-cookie') outHeaders[name] = value
    })
    const cookies = response.headers.getSetCookie()
    if (cookies.length) outHeaders['set-cookie'] = cookies
    outHeaders['content-length'] = String(bytes.length)
    res.writeHead(response.status, outHeaders)
    res.end(bytes)
  }

  const handleTokenEndpoint = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req)
    const grantType = new URLSearchParams(raw.toString('utf8')).get('grant_type')
    if (grantType === 'refresh_token') {
      stats.tokenEndpointRefresh += 1
      const fault = await refreshFaults()
      if (fault) {
        sendJson(res, fault.status, {
          error: fault.status === 429 ? 'too_many_requests' : 'server_error',
          error_description: fault.message,
        })
        return
      }
    }
    await forward(req, res, raw)
  }

  const handleHook = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    if (!isLoopback(req)) {
      sendJson(res, 403, { error: 'test hooks answer loopback only' })
      return
    }
    if (req.method === 'GET' && path === '/__test/stats') {
      sendJson(res, 200, stats)
      return
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'POST expected' })
      return
    }
    const body = await readJson(req)
    const options = isRecord(body) ? body : {}
    if (path === '/__test/reset') {
      front.reset()
      sendJson(res, 200, stats)
    } else if (path === '/__test/latency') {
      const ms = options.ms
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_LATENCY_MS) {
        sendJson(res, 400, { error: `ms must be a number from 0 to ${MAX_LATENCY_MS}` })
        return
      }
      latencyMs = ms
      sendJson(res, 200, { ms })
    } else if (path === '/__test/fail') {
      const { status, count } = options
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
        sendJson(res, 400, { error: 'status must be an HTTP error status (400-599)' })
        return
      }
      const remaining = count === undefined ? 1 : count
      if (typeof remaining !== 'number' || !Number.isInteger(remaining) || remaining < 0 || remaining > MAX_FAIL_COUNT) {
        sendJson(res, 400, { error: `count must be an integer from 0 to ${MAX_FAIL_COUNT}` })
        return
      }
      failure = remaining > 0 ? { status, remaining } : undefined
      sendJson(res, 200, { status, count: remaining })
    } else {
      sendJson(res, 404, { error: `unknown test hook ${path}` })
    }
  }

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const target = req.headers['x-amz-target']
    const work = path.startsWith('/__test/')
      ? handleHook(req, res, path)
      : req.method === 'POST' && path === '/' && typeof target === 'string'
        ? handleApi(req, res, target)
        : req.method === 'POST' && path === '/oauth2/token'
          ? handleTokenEndpoint(req, res)
          : readBody(req).then((body) => forward(req, res, body))
    work.catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      sendAmz(res, errorAnswer(new CognitoApiError('InternalErrorException', `front: ${String(error)}`, 500)))
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo

  const front: CognitoFront = {
    url: `http://127.0.0.1:${port}`,
    registerClient(clientId, clientSecret) {
      clientSecrets.set(clientId, clientSecret)
    },
    stats: () => ({ ...stats }),
    reset() {
      stats = zero()
      latencyMs = 0
      failure = undefined
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
  return front
}
