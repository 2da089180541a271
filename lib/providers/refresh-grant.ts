import * as oauth from 'oauth4webapi'
import { accessTokenExpiry } from '../session/access-token-expiry.js'
import { isLoopbackHostname } from '../util/loopback.js'
import { DEFAULTS } from '../defaults.js'
import { ProviderDiscoveryError, RefreshConfigError, describeError } from '../errors.js'
import type { FetchLike, RefreshOutcome } from '../types.js'
import type { RefreshProvider } from './provider.js'

/** How the client authenticates at the token endpoint. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none'

/** Settings of an OpenID provider reached through discovery and the refresh-token grant. */
export interface RefreshGrantSettings {
  kind: string
  /** Issuer identifier; discovery reads `{issuer}/.well-known/openid-configuration`. */
  issuer: string
  clientId: string
  clientSecret?: string
  /** Default: `client_secret_basic` with a secret, `none` without. */
  clientAuth?: ClientAuthMethod
  /** Lifetime assumed when the provider sends neither `expires_in` nor a JWT access token, seconds. Default `DEFAULTS.expiresInSeconds` (3600). */
  defaultExpiresInSeconds?: number
  /** The token endpoint, for servers whose discovery document lacks one: discovery is then skipped. */
  tokenEndpoint?: string
  /** Also send `client_id` in the body whatever the client authentication (Cognito's `/oauth2/token` wants it). */
  clientIdInBody?: boolean
}

/**
 * Builds a provider on oauth4webapi: discovery (cached per provider, retried after a failure, under
 * its own budget of `DEFAULTS.discoveryTimeoutMs`), then the refresh-token grant under the caller's
 * `context.signal`, and response validation. oauth4webapi is used instead of a hand-written POST
 * because it validates the response (including a returned ID token's claims).
 *
 * @throws {RefreshConfigError} `CONFIG_PROVIDER_INVALID` for a missing or malformed setting.
 */
export function refreshGrantProvider(settings: RefreshGrantSettings): RefreshProvider {
  const issuerUrl = absoluteUrl(settings.kind, 'issuer', settings.issuer)
  if (!settings.clientId) throw new RefreshConfigError('CONFIG_PROVIDER_INVALID', `${settings.kind}: clientId is required`)
  const method = settings.clientAuth ?? (settings.clientSecret ? 'client_secret_basic' : 'none')
  if (method !== 'none' && !settings.clientSecret) {
    throw new RefreshConfigError('CONFIG_PROVIDER_INVALID', `${settings.kind}: clientAuth "${method}" needs a clientSecret`)
  }
  const clientAuth =
    method === 'none'
      ? oauth.None()
      : method === 'client_secret_post'
        ? oauth.ClientSecretPost(settings.clientSecret!)
        : oauth.ClientSecretBasic(settings.clientSecret!)
  const client: oauth.Client = { client_id: settings.clientId }
  // Plain http is refused by oauth4webapi; allow it only for loopback issuers (local providers, tests).
  const insecure = issuerUrl.protocol === 'http:' && isLoopbackHostname(issuerUrl.hostname)
  const defaultExpiresIn = expiresInSetting(settings.kind, settings.defaultExpiresInSeconds)

  // Shared by every refresh of this provider until it fails (then the next refresh tries again).
  let discovery: Promise<oauth.AuthorizationServer> | undefined
  if (settings.tokenEndpoint !== undefined) {
    const tokenEndpoint = absoluteUrl(settings.kind, 'tokenEndpoint', settings.tokenEndpoint)
    discovery = Promise.resolve({ issuer: issuerUrl.href.replace(/\/$/, ''), token_endpoint: tokenEndpoint.href })
  }
  const discover = (fetch: FetchLike): Promise<oauth.AuthorizationServer> => {
    if (discovery) return discovery
    const attempt = discoverOnce(issuerUrl, settings.issuer, fetch, insecure)
    discovery = attempt
    // Also handles the rejection when every caller has stopped waiting for it.
    attempt.catch(() => {
      if (discovery === attempt) discovery = undefined
    })
    return attempt
  }

  return {
    kind: settings.kind,
    async refresh(refreshToken, context): Promise<RefreshOutcome> {
      try {
        // This caller stops waiting when its own signal aborts; the shared discovery goes on for the
        // others (aborting it would fail every refresh that joined it).
        let as: oauth.AuthorizationServer
        try {
          as = await untilAborted(discover(context.fetch), context.signal)
        } catch (error) {
          return notSent(classify(error, context.nowMs()))
        }
        // Aborted while discovery finished: the token request never leaves.
        if (context.signal.aborted) return { reason: 'transient', detail: 'aborted before the token request', notSent: true }
        const response = await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, {
          [oauth.customFetch]: context.fetch,
          [oauth.allowInsecureRequests]: insecure,
          signal: context.signal,
          ...(settings.clientIdInBody ? { additionalParameters: { client_id: settings.clientId } } : {}),
        })
        const result = await oauth.processRefreshTokenResponse(as, client, response)
        const expiresAt = expiryOf(result.access_token, result.expires_in, context.nowSeconds(), defaultExpiresIn)
        return {
          reason: 'refreshed',
          tokens: {
            access_token: result.access_token,
            expires_at: expiresAt,
            // Providers that do not rotate (Google, Cognito by default) send none: keep the old one.
            refresh_token: result.refresh_token ?? refreshToken,
            ...(result.id_token ? { id_token: result.id_token } : {}),
          },
        }
      } catch (error) {
        return classify(error, context.nowMs())
      }
    },
  }
}

/**
 * One discovery request and its validation, under its own budget (`DEFAULTS.discoveryTimeoutMs`)
 * and never a caller's signal: it is shared by every refresh that joins it. The budget is a plain
 * timer rather than `AbortSignal.timeout` so that tests on a fake clock can run it out.
 *
 * @throws {ProviderDiscoveryError} when the document cannot be fetched in time or does not validate.
 */
async function discoverOnce(issuerUrl: URL, issuer: string, fetch: FetchLike, insecure: boolean): Promise<oauth.AuthorizationServer> {
  const budget = new AbortController()
  const timer = setTimeout(
    () => budget.abort(new DOMException(`discovery took longer than ${DEFAULTS.discoveryTimeoutMs} ms`, 'TimeoutError')),
    DEFAULTS.discoveryTimeoutMs,
  )
  try {
    const response = await oauth.discoveryRequest(issuerUrl, {
      algorithm: 'oidc',
      [oauth.customFetch]: fetch,
      [oauth.allowInsecureRequests]: insecure,
      signal: budget.signal,
    })
    return await oauth.processDiscoveryResponse(issuerUrl, response)
  } catch (error) {
    throw new ProviderDiscoveryError(issuer, error)
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Resolves or rejects like `promise`, or rejects with the signal's reason as soon as `signal`
 * aborts. Only the wait ends: `promise` itself goes on (it may be shared with other callers).
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as unknown)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as unknown)
    signal.addEventListener('abort', onAbort, { once: true })
    void promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * A `defaultExpiresInSeconds` option, checked: a positive finite number of seconds, or
 * `DEFAULTS.expiresInSeconds` (3600) when absent.
 *
 * @throws {RefreshConfigError} `CONFIG_PROVIDER_INVALID`, naming the provider.
 */
export function expiresInSetting(kind: string, value: number | undefined): number {
  if (value === undefined) return DEFAULTS.expiresInSeconds
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RefreshConfigError(
      'CONFIG_PROVIDER_INVALID',
      `${kind}: defaultExpiresInSeconds must be a positive number of seconds, got ${String(value)}`,
    )
  }
  return value
}

/**
 * When new tokens expire, epoch seconds: `now + expires_in`, but never later than the access
 * token's own `exp` when it is a JWT (an emulator or a proxy that answers a fixed `expires_in`
 * would otherwise have a dead token kept for longer), and `defaultExpiresIn` when neither is known.
 */
export function expiryOf(accessToken: string, expiresIn: number | undefined, nowSeconds: number, defaultExpiresIn: number): number {
  const ownExp = accessTokenExpiry(accessToken)
  const stated = typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? Math.floor(nowSeconds + expiresIn) : undefined
  if (stated !== undefined && ownExp !== undefined) return Math.min(stated, ownExp)
  return stated ?? ownExp ?? nowSeconds + defaultExpiresIn
}

/**
 * Parses a provider option that must be an absolute URL.
 *
 * @throws {RefreshConfigError} `CONFIG_PROVIDER_INVALID`, naming the provider and the option.
 */
export function absoluteUrl(kind: string, option: string, value: string): URL {
  try {
    return new URL(value)
  } catch {
    throw new RefreshConfigError('CONFIG_PROVIDER_INVALID', `${kind}: ${option} must be an absolute URL, got "${value}"`)
  }
}

/**
 * The error codes of RFC 6749 §5.2 and the registered extensions a token endpoint may answer. Only
 * these are ever logged: the `error` field is the provider's free text, and a broken or hostile one
 * could carry the refresh token itself or a forged log line.
 */
const KNOWN_ERROR_CODES = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'server_error',
  'temporarily_unavailable',
  'slow_down',
])

/** `invalid_grant` is the only answer that ends a login; every other failure is transient. `nowMs`: epoch ms, for `Retry-After` dates. */
function classify(error: unknown, nowMs: number): RefreshOutcome {
  if (error instanceof oauth.ResponseBodyError) {
    // The description is free text from the provider, so it is not kept (see KNOWN_ERROR_CODES).
    if (error.error === 'invalid_grant') return { reason: 'invalid_grant' }
    const code = KNOWN_ERROR_CODES.has(error.error) ? error.error : 'unrecognised error code'
    return withRetryAfter({ reason: 'transient', detail: `${code} (HTTP ${error.status})` }, error.response, nowMs)
  }
  const cause = error instanceof Error ? error.cause : undefined
  return withRetryAfter({ reason: 'transient', detail: describeError(error) }, cause instanceof Response ? cause : undefined, nowMs)
}

/**
 * Adds the provider's `Retry-After` (seconds, or an HTTP date) to a transient outcome. A date is
 * read against `nowMs` (epoch ms, the core's clock), not `Date.now()`, so it agrees with every other
 * time the core computes.
 */
function withRetryAfter(outcome: { reason: 'transient'; detail: string }, response: Response | undefined, nowMs: number): RefreshOutcome {
  const header = response?.headers.get('retry-after')?.trim()
  if (!header) return outcome
  const seconds = /^\d+$/.test(header) ? Number(header) : (Date.parse(header) - nowMs) / 1000
  return Number.isFinite(seconds) && seconds > 0 ? { ...outcome, retryAfterSeconds: Math.ceil(seconds) } : outcome
}

/** A failure before the token request left: the provider cannot have used the refresh token. */
function notSent(outcome: RefreshOutcome): RefreshOutcome {
  return outcome.reason === 'transient' ? { ...outcome, notSent: true } : outcome
}
