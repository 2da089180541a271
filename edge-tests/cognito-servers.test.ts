// @vitest-environment node
/**
 * Checks the Amazon Cognito test infrastructure itself (issue 9): a real cognito-local (the
 * emulator) behind the front of testkit/cognito-front.ts (SECRET_HASH, GetTokensFromRefreshToken
 * with rotation and reuse detection, family revocation, test hooks).
 *
 * It also pins what the bare emulator does where it differs from Amazon Cognito, observed with
 * cognito-local 5.3.0 (if an upgrade changes any of it, the "observed emulator behaviour" tests
 * fail and say what moved):
 * - `/<poolId>/.well-known/openid-configuration` answers only `issuer`, `jwks_uri` and
 *   `id_token_signing_alg_values_supported`, with a hard-coded `http://localhost:9229` origin that
 *   is neither its real address nor the tokens' `iss` (`http://127.0.0.1:<port>/<poolId>`); it
 *   has no `token_endpoint` nor `authorization_endpoint`. Discovery cannot be used against it.
 * - `POST /oauth2/token` with grant_type=refresh_token accepts any known refresh token with just
 *   `client_id` (no client authentication, even for a client with a secret), returns
 *   access_token, id_token, token_type=Bearer and a hard-coded `expires_in: 3600` whatever the
 *   access token's real lifetime (`exp - iat`), and no refresh_token (no rotation).
 * - `InitiateAuth` answers carry no `ExpiresIn` nor `TokenType` (the front fills them in from the
 *   access token: ExpiresIn = exp - iat); REFRESH_TOKEN_AUTH returns no RefreshToken.
 * - SECRET_HASH is ignored, and there is no GetTokensFromRefreshToken target; RevokeToken
 *   exists and forgets one refresh token.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'

import {
  callCognito,
  computeSecretHash,
  decodeJwtPayload,
  startCognito,
  type CognitoAuthenticationResult,
  type CognitoTestEnv,
} from '../testkit/cognito'

/** Access-token lifetime of the test clients (seconds): not 3600, so a hard-coded 3600 shows. */
const ACCESS_TOKEN_SECONDS = 300

interface AuthResponse {
  AuthenticationResult?: Partial<CognitoAuthenticationResult>
  __type?: string
  message?: string
}

let env: CognitoTestEnv

beforeAll(async () => {
  env = await startCognito({ accessTokenValiditySeconds: ACCESS_TOKEN_SECONDS })
})

afterAll(async () => {
  await env?.stop()
})

beforeEach(async () => {
  await env.reset()
})

const secretHashError = () => ({
  __type: 'NotAuthorizedException',
  message: `Unable to verify secret hash for client ${env.secretClient.clientId}`,
})

const revoked = { __type: 'NotAuthorizedException', message: 'Refresh Token has been revoked' }

function refreshViaInitiateAuth(clientId: string, refreshToken: string, secretHash?: string) {
  const AuthParameters: Record<string, string> = { REFRESH_TOKEN: refreshToken }
  if (secretHash !== undefined) AuthParameters.SECRET_HASH = secretHash
  return callCognito<AuthResponse>(env.endpoint, 'InitiateAuth', {
    AuthFlow: 'REFRESH_TOKEN_AUTH',
    ClientId: clientId,
    AuthParameters,
  })
}

/** `clientSecret: null` leaves ClientSecret out of the request. */
function getTokens(refreshToken: string, clientSecret: string | null = env.secretClient.clientSecret) {
  return callCognito<AuthResponse>(env.endpoint, 'GetTokensFromRefreshToken', {
    RefreshToken: refreshToken,
    ClientId: env.secretClient.clientId,
    ...(clientSecret === null ? {} : { ClientSecret: clientSecret }),
  })
}

const rightHash = () => computeSecretHash(env.username, env.secretClient.clientId, env.secretClient.clientSecret)

describe('cognito-local behind the front', () => {
  it('signs in with both clients; tokens are RS256 JWTs from the emulator, ExpiresIn = exp - iat', async () => {
    const jwks = createRemoteJWKSet(new URL(`${env.emulatorEndpoint}/${env.userPoolId}/.well-known/jwks.json`))
    for (const kind of ['secret', 'public'] as const) {
      const result = await env.signIn(kind)
      const clientId = kind === 'secret' ? env.secretClient.clientId : env.publicClient.clientId
      const { payload: access } = await jwtVerify(result.AccessToken, jwks, { issuer: env.issuer })
      const { payload: id } = await jwtVerify(result.IdToken, jwks, { issuer: env.issuer, audience: clientId })
      expect(access).toMatchObject({ token_use: 'access', client_id: clientId, username: env.username })
      expect(id).toMatchObject({ token_use: 'id', 'cognito:username': env.username })
      expect(result.TokenType).toBe('Bearer')
      expect(result.ExpiresIn).toBe(ACCESS_TOKEN_SECONDS)
      expect(access.exp! - access.iat!).toBe(ACCESS_TOKEN_SECONDS)
      expect(typeof result.RefreshToken).toBe('string')
    }
  })

  it('USER_PASSWORD_AUTH with the secret client needs the SECRET_HASH', async () => {
    const missing = await callCognito(env.endpoint, 'InitiateAuth', {
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: env.secretClient.clientId,
      AuthParameters: { USERNAME: env.username, PASSWORD: env.password },
    })
    expect(missing.status).toBe(400)
    expect(missing.errorType).toBe('NotAuthorizedException')
    expect(missing.body).toEqual(secretHashError())
    expect((await env.stats()).secretHashRejected).toBe(1)
  })

  it('InitiateAuth REFRESH_TOKEN_AUTH: right SECRET_HASH succeeds, wrong or missing gets NotAuthorizedException', async () => {
    const { RefreshToken } = await env.signIn('secret')

    const ok = await refreshViaInitiateAuth(env.secretClient.clientId, RefreshToken, rightHash())
    expect(ok.status).toBe(200)
    expect(ok.body.AuthenticationResult).toMatchObject({ TokenType: 'Bearer', ExpiresIn: ACCESS_TOKEN_SECONDS })
    expect(ok.body.AuthenticationResult?.AccessToken).toMatch(/^eyJ/)
    expect(ok.body.AuthenticationResult?.IdToken).toMatch(/^eyJ/)
    // REFRESH_TOKEN_AUTH does not rotate: no new refresh token, the old one stays valid.
    expect(ok.body.AuthenticationResult?.RefreshToken).toBeUndefined()

    const wrongHash = computeSecretHash(env.username, env.secretClient.clientId, 'not-the-secret')
    for (const hash of [wrongHash, undefined, '']) {
      const refused = await refreshViaInitiateAuth(env.secretClient.clientId, RefreshToken, hash)
      expect(refused.status, `SECRET_HASH ${JSON.stringify(hash)}`).toBe(400)
      expect(refused.errorType).toBe('NotAuthorizedException')
      expect(refused.body).toEqual(secretHashError())
    }
    // The hash of another user name is wrong too: the username is the token owner's.
    const otherUser = await refreshViaInitiateAuth(
      env.secretClient.clientId,
      RefreshToken,
      computeSecretHash('someone-else', env.secretClient.clientId, env.secretClient.clientSecret),
    )
    expect(otherUser.body).toEqual(secretHashError())

    const again = await refreshViaInitiateAuth(env.secretClient.clientId, RefreshToken, rightHash())
    expect(again.status).toBe(200)
    expect(await env.stats()).toMatchObject({ initiateAuthRefresh: 6, secretHashRejected: 4, reuseDetected: 0 })
  })

  it('the public client needs no SECRET_HASH', async () => {
    const { RefreshToken } = await env.signIn('public')
    const ok = await refreshViaInitiateAuth(env.publicClient.clientId, RefreshToken)
    expect(ok.status).toBe(200)
    expect(ok.body.AuthenticationResult?.AccessToken).toMatch(/^eyJ/)
    expect(decodeJwtPayload(ok.body.AuthenticationResult?.AccessToken)).toMatchObject({
      client_id: env.publicClient.clientId,
    })
    expect((await env.stats()).secretHashRejected).toBe(0)
  })

  it('GetTokensFromRefreshToken rotates; the rotated-out token presented again revokes the family', async () => {
    const signIn = await env.signIn('secret')
    const first = await getTokens(signIn.RefreshToken)
    expect(first.status).toBe(200)
    const r1 = first.body.AuthenticationResult!
    expect(r1).toMatchObject({ TokenType: 'Bearer', ExpiresIn: ACCESS_TOKEN_SECONDS })
    expect(r1.RefreshToken).toBeTruthy()
    expect(r1.RefreshToken).not.toBe(signIn.RefreshToken)
    expect(decodeJwtPayload(r1.AccessToken)).toMatchObject({ username: env.username })

    const second = await getTokens(r1.RefreshToken!)
    expect(second.status).toBe(200)
    const r2 = second.body.AuthenticationResult!
    expect(r2.RefreshToken).not.toBe(r1.RefreshToken)

    // r1 was rotated out: presenting it again is reuse.
    const reuse = await getTokens(r1.RefreshToken!)
    expect(reuse.status).toBe(400)
    expect(reuse.errorType).toBe('NotAuthorizedException')
    expect(reuse.body).toEqual(revoked)
    // The whole family is gone: the newest member, the sign-in token, and the token in the emulator.
    expect((await getTokens(r2.RefreshToken!)).body).toEqual(revoked)
    expect((await refreshViaInitiateAuth(env.secretClient.clientId, signIn.RefreshToken, rightHash())).body).toEqual(revoked)
    const inEmulator = await callCognito(env.emulatorEndpoint, 'InitiateAuth', {
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      ClientId: env.secretClient.clientId,
      AuthParameters: { REFRESH_TOKEN: signIn.RefreshToken },
    })
    expect(inEmulator.status).toBe(400)
    expect(inEmulator.body).toMatchObject({ __type: 'NotAuthorizedException' })

    expect(await env.stats()).toMatchObject({ getTokensFromRefreshToken: 4, initiateAuthRefresh: 1, reuseDetected: 1 })

    // A fresh sign-in starts a new, unaffected family.
    const fresh = await env.signIn('secret')
    expect((await getTokens(fresh.RefreshToken)).status).toBe(200)
  })

  it('reuse can answer RefreshTokenReuseException instead (startCognito({ reuseErrorType }))', async () => {
    const other = await startCognito({ reuseErrorType: 'RefreshTokenReuseException' })
    try {
      const signIn = await other.signIn('public')
      const call = (token: string) =>
        callCognito<AuthResponse>(other.endpoint, 'GetTokensFromRefreshToken', {
          RefreshToken: token,
          ClientId: other.publicClient.clientId,
        })
      const rotated = await call(signIn.RefreshToken)
      expect(rotated.status).toBe(200)
      const reuse = await call(signIn.RefreshToken)
      expect(reuse.status).toBe(400)
      expect(reuse.errorType).toBe('RefreshTokenReuseException')
      expect(reuse.body).toMatchObject({ __type: 'RefreshTokenReuseException' })
      // The family is revoked all the same.
      expect((await call(rotated.body.AuthenticationResult!.RefreshToken!)).body).toEqual(revoked)
      expect((await other.stats()).reuseDetected).toBe(1)
    } finally {
      await other.stop()
    }
  })

  it('a rotated-out token presented with a wrong SECRET_HASH is refused without revoking the family', async () => {
    const signIn = await env.signIn('secret')
    const rotated = (await getTokens(signIn.RefreshToken)).body.AuthenticationResult!.RefreshToken!
    const refused = await refreshViaInitiateAuth(env.secretClient.clientId, signIn.RefreshToken, 'wrong')
    expect(refused.body).toEqual(secretHashError())
    expect((await env.stats()).reuseDetected).toBe(0)
    expect((await getTokens(rotated)).status).toBe(200)
  })

  it('GetTokensFromRefreshToken with the secret client needs its ClientSecret; unknown tokens are refused', async () => {
    const { RefreshToken } = await env.signIn('secret')
    for (const secret of ['wrong-secret', null]) {
      const refused = await getTokens(RefreshToken, secret)
      expect(refused.status, `ClientSecret ${String(secret)}`).toBe(400)
      expect(refused.errorType).toBe('NotAuthorizedException')
      expect(refused.body).toEqual(secretHashError())
    }
    // Refused attempts did not spend the token.
    expect((await getTokens(RefreshToken)).status).toBe(200)
    const unknown = await getTokens('not-a-refresh-token')
    expect(unknown.status).toBe(400)
    expect(unknown.body).toMatchObject({ __type: 'NotAuthorizedException' })
    expect(await env.stats()).toMatchObject({ getTokensFromRefreshToken: 4, secretHashRejected: 2, reuseDetected: 0 })
  })

  it('RevokeToken: later refreshes with that token (and its family) are rejected', async () => {
    const signIn = await env.signIn('secret')
    const rotated = (await getTokens(signIn.RefreshToken)).body.AuthenticationResult!.RefreshToken!

    const badSecret = await callCognito(env.endpoint, 'RevokeToken', {
      Token: rotated,
      ClientId: env.secretClient.clientId,
      ClientSecret: 'wrong',
    })
    expect(badSecret.status).toBe(400)
    expect(badSecret.errorType).toBe('NotAuthorizedException')

    const revoke = await callCognito(env.endpoint, 'RevokeToken', {
      Token: rotated,
      ClientId: env.secretClient.clientId,
      ClientSecret: env.secretClient.clientSecret,
    })
    expect(revoke.status).toBe(200)
    expect(revoke.body).toEqual({})

    const viaGetTokens = await getTokens(rotated)
    expect(viaGetTokens.status).toBe(400)
    expect(viaGetTokens.errorType).toBe('NotAuthorizedException')
    expect(viaGetTokens.body).toEqual(revoked)
    const viaInitiateAuth = await refreshViaInitiateAuth(env.secretClient.clientId, signIn.RefreshToken, rightHash())
    expect(viaInitiateAuth.status).toBe(400)
    expect(viaInitiateAuth.body).toEqual(revoked)
    // Revocation is not reuse.
    expect((await env.stats()).reuseDetected).toBe(0)

    // Revoking the public client's sign-in token directly works the same way.
    const pub = await env.signIn('public')
    expect((await callCognito(env.endpoint, 'RevokeToken', { Token: pub.RefreshToken, ClientId: env.publicClient.clientId })).status).toBe(
      200,
    )
    const afterPublic = await refreshViaInitiateAuth(env.publicClient.clientId, pub.RefreshToken)
    expect(afterPublic.status).toBe(400)
    expect(afterPublic.body).toEqual(revoked)
  })

  it('test hooks: fail answers the next refresh calls without forwarding, latency delays them, reset zeroes', async () => {
    const { RefreshToken } = await env.signIn('public')
    const hook = async (path: string, body: unknown) => {
      const response = await fetch(`${env.endpoint}/__test/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      expect(response.status, `/__test/${path}`).toBe(200)
    }

    await hook('fail', { status: 500, count: 2 })
    for (let i = 0; i < 2; i++) {
      const failed = await refreshViaInitiateAuth(env.publicClient.clientId, RefreshToken)
      expect(failed.status).toBe(500)
      expect(failed.errorType).toBe('InternalErrorException')
      expect(failed.body).toMatchObject({ __type: 'InternalErrorException' })
    }
    expect((await refreshViaInitiateAuth(env.publicClient.clientId, RefreshToken)).status).toBe(200)

    await hook('fail', { status: 429, count: 1 })
    const throttled = await refreshViaInitiateAuth(env.publicClient.clientId, RefreshToken)
    expect(throttled.status).toBe(429)
    expect(throttled.body).toMatchObject({ __type: 'TooManyRequestsException' })

    await hook('latency', { ms: 300 })
    const started = performance.now()
    expect((await refreshViaInitiateAuth(env.publicClient.clientId, RefreshToken)).status).toBe(200)
    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
    await hook('latency', { ms: 0 })

    const stats = (await (await fetch(`${env.endpoint}/__test/stats`)).json()) as Record<string, number>
    expect(stats).toEqual({
      initiateAuthRefresh: 5,
      getTokensFromRefreshToken: 0,
      tokenEndpointRefresh: 0,
      secretHashRejected: 0,
      reuseDetected: 0,
    })
    await hook('reset', {})
    expect(await env.stats()).toEqual({
      initiateAuthRefresh: 0,
      getTokensFromRefreshToken: 0,
      tokenEndpointRefresh: 0,
      secretHashRejected: 0,
      reuseDetected: 0,
    })
    const bad = await fetch(`${env.endpoint}/__test/fail`, { method: 'POST', body: JSON.stringify({ status: 200 }) })
    expect(bad.status).toBe(400)
  })
})

describe('observed emulator behaviour (cognito-local 5.3.0)', () => {
  it('/oauth2/token (forwarded unchanged, counted): refresh without client auth, hard-coded expires_in 3600, no rotation', async () => {
    const { RefreshToken } = await env.signIn('secret')
    const response = await fetch(`${env.endpoint}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      // No client_secret, no Authorization header, although the client has a secret.
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: RefreshToken,
        client_id: env.secretClient.clientId,
      }),
    })
    expect(response.status).toBe(200)
    const body = (await response.json()) as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'id_token', 'token_type'])
    expect(body.token_type).toBe('Bearer')
    expect(body.expires_in).toBe(3600)
    const claims = decodeJwtPayload(body.access_token)!
    // expires_in differs from the access token's real lifetime.
    expect((claims.exp as number) - (claims.iat as number)).toBe(ACCESS_TOKEN_SECONDS)
    expect(claims.iss).toBe(env.issuer)
    expect((await env.stats()).tokenEndpointRefresh).toBe(1)

    const unknown = await fetch(`${env.endpoint}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'nope', client_id: env.secretClient.clientId }),
    })
    expect(unknown.status).toBe(400)
    expect(await unknown.json()).toEqual({ error: 'invalid_grant', error_description: 'Invalid refresh token' })
    expect((await env.stats()).tokenEndpointRefresh).toBe(2)
  })

  it('openid-configuration: three fields with a hard-coded localhost:9229 origin, no token_endpoint', async () => {
    const response = await fetch(`${env.endpoint}/${env.userPoolId}/.well-known/openid-configuration`)
    expect(response.status).toBe(200)
    const discovery = (await response.json()) as Record<string, unknown>
    expect(discovery).toEqual({
      id_token_signing_alg_values_supported: ['RS256'],
      jwks_uri: `http://localhost:9229/${env.userPoolId}/.well-known/jwks.json`,
      issuer: `http://localhost:9229/${env.userPoolId}`,
    })
    // The tokens' iss is the emulator's real address, so discovery's issuer does not match it.
    expect(discovery.issuer).not.toBe(env.issuer)
    expect(discovery.token_endpoint).toBeUndefined()
  })

  it('bare InitiateAuth: no ExpiresIn/TokenType, SECRET_HASH ignored, no GetTokensFromRefreshToken', async () => {
    const signIn = await callCognito<AuthResponse>(env.emulatorEndpoint, 'InitiateAuth', {
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: env.secretClient.clientId,
      AuthParameters: { USERNAME: env.username, PASSWORD: env.password, SECRET_HASH: 'wrong' },
    })
    expect(signIn.status).toBe(200)
    expect(Object.keys(signIn.body.AuthenticationResult!).sort()).toEqual(['AccessToken', 'IdToken', 'RefreshToken'])
    const refreshed = await callCognito<AuthResponse>(env.emulatorEndpoint, 'InitiateAuth', {
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      ClientId: env.secretClient.clientId,
      AuthParameters: { REFRESH_TOKEN: signIn.body.AuthenticationResult!.RefreshToken!, SECRET_HASH: 'wrong' },
    })
    expect(refreshed.status).toBe(200)
    expect(Object.keys(refreshed.body.AuthenticationResult!).sort()).toEqual(['AccessToken', 'IdToken'])
    const missing = await callCognito(env.emulatorEndpoint, 'GetTokensFromRefreshToken', {
      RefreshToken: signIn.body.AuthenticationResult!.RefreshToken,
      ClientId: env.secretClient.clientId,
      ClientSecret: env.secretClient.clientSecret,
    })
    expect(missing.status).toBe(500)
    expect(missing.body).toMatchObject({ __type: 'CognitoLocal#Unsupported' })
  })
})
