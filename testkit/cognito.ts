/**
 * Amazon Cognito for tests (issue 9), Node only: a real cognito-local process (the emulator)
 * behind the small front of ./cognito-front.ts.
 *
 * What is the emulator's: the `cognito-local` process (npm devDependency, 5.3.0), started on
 * 127.0.0.1 with a free port and a temporary data directory; the user pool, the two app clients
 * and the user are created through its AWS JSON 1.1 API (plain fetch, no AWS SDK), and it mints
 * every JWT.
 * What is the front's: SECRET_HASH checks, GetTokensFromRefreshToken with rotation and reuse
 * detection, family revocation, the missing ExpiresIn/TokenType, and the `/__test/` hooks.
 * `endpoint` is the front; tests should talk to it, never to `emulatorEndpoint` (except to
 * observe the bare emulator).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

import { findFreePort } from './http-json'
import { guardChild, stopChild } from './child-guard'
import {
  AMZ_JSON,
  computeSecretHash,
  startCognitoFront,
  TARGET_PREFIX,
  type CognitoFront,
  type CognitoFrontOptions,
  type CognitoFrontStats,
} from './cognito-front'

export { computeSecretHash, decodeJwtPayload, type CognitoFrontStats } from './cognito-front'

/** The one-line message thrown when the emulator is not installed. */
export const COGNITO_LOCAL_NOT_FOUND_MESSAGE = 'cognito-local not found: run `npm ci` (it is a devDependency)'

/** How long a fresh cognito-local may take to answer /health (milliseconds). */
const READY_TIMEOUT_MS = 20_000
/** How long a stopped cognito-local may take to exit after SIGTERM before SIGKILL (milliseconds). */
const STOP_TIMEOUT_MS = 5_000
/** Lines of emulator output kept for error messages. */
const LOG_LINES = 40

export type CognitoClientKind = 'secret' | 'public'

/** `AuthenticationResult` of a sign-in through the front (the front fills ExpiresIn/TokenType). */
export interface CognitoAuthenticationResult {
  AccessToken: string
  IdToken: string
  RefreshToken: string
  ExpiresIn: number
  TokenType: string
}

export interface StartCognitoOptions {
  /** Access-token lifetime of both clients in seconds (default 3600, Cognito's default hour). */
  accessTokenValiditySeconds?: number
  /** Id-token lifetime of both clients in seconds (default: same as the access token). */
  idTokenValiditySeconds?: number
  /** User name of the test user (default `test-user`). */
  username?: string
  /** Permanent password of the test user (default a fixed strong one). */
  password?: string
  /** Error type of a rotated-out refresh token presented again (see {@link CognitoFrontOptions.reuseErrorType}). */
  reuseErrorType?: CognitoFrontOptions['reuseErrorType']
}

export interface CognitoTestEnv {
  /** The front's URL (`http://127.0.0.1:<port>`): the Cognito endpoint the code under test uses. */
  endpoint: string
  /** The bare cognito-local's URL, for observing the emulator itself. */
  emulatorEndpoint: string
  region: 'local'
  userPoolId: string
  /** Issuer of the tokens: `${emulatorEndpoint}/${userPoolId}` (cognito-local's IssuerDomain). */
  issuer: string
  secretClient: { clientId: string; clientSecret: string }
  publicClient: { clientId: string }
  username: string
  password: string
  /** InitiateAuth USER_PASSWORD_AUTH through the front (SECRET_HASH included for the secret client). */
  signIn(clientKind: CognitoClientKind): Promise<CognitoAuthenticationResult>
  /** The front's counters (same as `GET ${endpoint}/__test/stats`). */
  stats(): Promise<CognitoFrontStats>
  /** Zeroes the counters, latency and pending failures (same as `POST ${endpoint}/__test/reset`). */
  reset(): Promise<void>
  /** Stops the front and the emulator and deletes the data directory; safe to call twice. */
  stop(): Promise<void>
}

/** Result of one AWS JSON 1.1 call: the HTTP status, the `x-amzn-errortype` header and the parsed body. */
export interface CognitoCallResult<T = Record<string, unknown>> {
  status: number
  errorType: string | null
  body: T
}

/**
 * One call of the Cognito user pools API (`AWSCognitoIdentityProviderService.<op>`) with plain fetch.
 * Never throws on an HTTP error: check `status`.
 */
export async function callCognito<T = Record<string, unknown>>(endpoint: string, op: string, body: unknown): Promise<CognitoCallResult<T>> {
  const response = await fetch(`${endpoint}/`, {
    method: 'POST',
    headers: { 'content-type': AMZ_JSON, 'x-amz-target': `${TARGET_PREFIX}${op}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  })
  const text = await response.text()
  let parsed: unknown
  try {
    parsed = text ? JSON.parse(text) : {}
  } catch {
    throw new Error(`${op}: HTTP ${response.status} with a non-JSON body: ${text.slice(0, 200)}`)
  }
  return { status: response.status, errorType: response.headers.get('x-amzn-errortype'), body: parsed as T }
}

/** Like {@link callCognito} but throws with the status and body unless the answer is 200. */
async function callOk<T = Record<string, unknown>>(endpoint: string, op: string, body: unknown): Promise<T> {
  const result = await callCognito<T>(endpoint, op, body)
  if (result.status !== 200) throw new Error(`${op} failed: HTTP ${result.status} ${JSON.stringify(result.body)}`)
  return result.body
}

function resolveStartScript(): string {
  const require = createRequire(import.meta.url)
  try {
    return join(dirname(require.resolve('cognito-local/package.json')), 'lib', 'bin', 'start.js')
  } catch {
    throw new Error(COGNITO_LOCAL_NOT_FOUND_MESSAGE)
  }
}

/** Starts cognito-local in `dataDir` on a free loopback port and waits until /health answers. */
async function startEmulator(dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const script = resolveStartScript()
  const port = await findFreePort()
  const url = `http://127.0.0.1:${port}`
  // Plain user names: the emulator's default pool config makes user names e-mail addresses, and a
  // CreateUserPool `UsernameAttributes: []` cannot override it (it merges arrays by index).
  mkdirSync(join(dataDir, '.cognito'), { recursive: true })
  writeFileSync(join(dataDir, '.cognito', 'config.json'), JSON.stringify({ UserPoolDefaults: { UsernameAttributes: [] } }))
  // cognito-local keeps its config and data under `.cognito/` of its working directory and reads
  // PORT / HOST (also its token issuer, http://HOST:PORT/<poolId>) from the environment.
  const child = spawn(process.execPath, [script], {
    cwd: dataDir,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DEBUG: '', COGNITO_LOCAL_DEVMODE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  guardChild(child, 'cognito-watchdog')
  const output: string[] = []
  const collect = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    if (output.length > LOG_LINES) output.splice(0, output.length - LOG_LINES)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  let exitInfo: string | undefined
  child.once('exit', (code, signal) => {
    exitInfo = `exited with ${signal ?? code}`
  })

  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (exitInfo) break
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) })
      if (response.ok) return { url, child }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await stopChild(child, STOP_TIMEOUT_MS)
  throw new Error(
    `cognito-local did not become ready on ${url} (${exitInfo ?? `no /health within ${READY_TIMEOUT_MS} ms`}):\n${output.join('\n')}`,
  )
}

/**
 * Starts cognito-local and the front, and provisions a user pool, a client with a secret, a public
 * client and a user with a permanent password. Call `stop()` in afterAll.
 */
export async function startCognito(options: StartCognitoOptions = {}): Promise<CognitoTestEnv> {
  const accessSeconds = options.accessTokenValiditySeconds ?? 3600
  const idSeconds = options.idTokenValiditySeconds ?? accessSeconds
  const username = options.username ?? 'test-user'
  const password = options.password ?? 'Correct-Horse-9-Battery'

  const dataDir = mkdtempSync(join(tmpdir(), 'cognito-local-'))
  let emulator: { url: string; child: ChildProcess } | undefined
  let front: CognitoFront | undefined
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await front?.stop()
    if (emulator) await stopChild(emulator.child, STOP_TIMEOUT_MS)
    rmSync(dataDir, { recursive: true, force: true })
  }

  try {
    emulator = await startEmulator(dataDir)
    front = await startCognitoFront({ emulatorEndpoint: emulator.url, reuseErrorType: options.reuseErrorType })
    const endpoint = front.url

    const pool = await callOk<{ UserPool: { Id: string } }>(endpoint, 'CreateUserPool', {
      PoolName: 'next-auth-edge-refresh-tests',
    })
    const userPoolId = pool.UserPool.Id
    const clientSettings = {
      UserPoolId: userPoolId,
      ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'USER_PASSWORD_AUTH', 'REFRESH_TOKEN_AUTH'],
      AccessTokenValidity: accessSeconds,
      IdTokenValidity: idSeconds,
      RefreshTokenValidity: 30,
      TokenValidityUnits: { AccessToken: 'seconds', IdToken: 'seconds', RefreshToken: 'days' },
      EnableTokenRevocation: true,
    }
    const secret = await callOk<{ UserPoolClient: { ClientId: string; ClientSecret?: string } }>(endpoint, 'CreateUserPoolClient', {
      ...clientSettings,
      ClientName: 'secret-client',
      GenerateSecret: true,
    })
    const { ClientId: secretClientId, ClientSecret: clientSecret } = secret.UserPoolClient
    if (!clientSecret) throw new Error('CreateUserPoolClient with GenerateSecret: true returned no ClientSecret')
    const pub = await callOk<{ UserPoolClient: { ClientId: string } }>(endpoint, 'CreateUserPoolClient', {
      ...clientSettings,
      ClientName: 'public-client',
      GenerateSecret: false,
    })
    const publicClientId = pub.UserPoolClient.ClientId
    // The front learnt both from the responses; say it explicitly anyway.
    front.registerClient(secretClientId, clientSecret)
    front.registerClient(publicClientId, undefined)

    await callOk(endpoint, 'AdminCreateUser', {
      UserPoolId: userPoolId,
      Username: username,
      TemporaryPassword: `${password}-temporary`,
      MessageAction: 'SUPPRESS',
      UserAttributes: [
        { Name: 'email', Value: `${username}@example.test` },
        { Name: 'email_verified', Value: 'true' },
      ],
    })
    await callOk(endpoint, 'AdminSetUserPassword', {
      UserPoolId: userPoolId,
      Username: username,
      Password: password,
      Permanent: true,
    })

    const liveFront = front
    const signIn = async (clientKind: CognitoClientKind): Promise<CognitoAuthenticationResult> => {
      const clientId = clientKind === 'secret' ? secretClientId : publicClientId
      const AuthParameters: Record<string, string> = { USERNAME: username, PASSWORD: password }
      if (clientKind === 'secret') AuthParameters.SECRET_HASH = computeSecretHash(username, clientId, clientSecret)
      const body = await callOk<{ AuthenticationResult?: CognitoAuthenticationResult; ChallengeName?: string }>(endpoint, 'InitiateAuth', {
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: clientId,
        AuthParameters,
      })
      if (!body.AuthenticationResult) throw new Error(`InitiateAuth answered a challenge: ${JSON.stringify(body)}`)
      return body.AuthenticationResult
    }

    return {
      endpoint,
      emulatorEndpoint: emulator.url,
      region: 'local',
      userPoolId,
      issuer: `${emulator.url}/${userPoolId}`,
      secretClient: { clientId: secretClientId, clientSecret },
      publicClient: { clientId: publicClientId },
      username,
      password,
      signIn,
      stats: async () => liveFront.stats(),
      reset: async () => liveFront.reset(),
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}
