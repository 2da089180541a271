/**
 * The refresh library's options, built from the validated environment. Shared by `middleware.ts`
 * (Edge runtime) and `auth.ts` (Node runtime), so both refresh with the same secret, providers,
 * store and session max age. Edge-safe: Web APIs and `@upstash/redis` only.
 */
import { Redis } from '@upstash/redis'
import {
  cognito,
  google,
  memoryStore,
  oidc,
  upstashStore,
  type RefreshOptions,
  type RefreshMiddlewareOptions,
  type RefreshProvider,
  type RefreshStore,
} from 'next-auth-edge-refresh'
import { SESSION_MAX_AGE_SECONDS, type AppEnv } from './env'

/** next-auth's sign-in page (`pages.signIn`), and where the middleware sends a page navigation whose login has ended. */
export const SIGN_IN_PATH = '/signin'

/** Refresh providers keyed by the next-auth provider id stored in the session (`provider`). */
export function refreshProviders(env: AppEnv): Record<string, RefreshProvider> {
  const providers: Record<string, RefreshProvider> = {}
  for (const provider of env.providers) {
    if (provider.id === 'cognito')
      providers.cognito = cognito({ issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret })
    else if (provider.id === 'google') providers.google = google({ clientId: provider.clientId, clientSecret: provider.clientSecret })
    else providers.oidc = oidc({ issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret })
  }
  return providers
}

/**
 * Upstash Redis when configured (shared by every isolate, region and server), else memory.
 * The memory store coordinates one isolate only: the Edge middleware and the Node route handlers
 * each hold their own, so `auth.ts` keeps its callbacks from refreshing early (see there).
 */
export function refreshStore(env: AppEnv): RefreshStore {
  if (!env.upstash) return memoryStore()
  // The package bounds each store call itself (storeTimeoutMs, then a store outage); the client's
  // own retries (seconds of back-off) would only delay that.
  const redis = new Redis({ url: env.upstash.url, token: env.upstash.token, retry: false, enableTelemetry: false })
  return upstashStore(redis, { prefix: 'edge-refresh:' })
}

/**
 * Everything the middleware and the callbacks share. The skew is the middleware's alone (see
 * {@link middlewareOptions}): the callbacks keep their default of 0.
 */
export function refreshOptions(env: AppEnv): RefreshOptions {
  return {
    secret: env.secret,
    providers: refreshProviders(env),
    store: refreshStore(env),
    sessionMaxAge: SESSION_MAX_AGE_SECONDS,
  }
}

/** The middleware's options: the shared ones, its skew, and the app's sign-in page. */
export function middlewareOptions(env: AppEnv): RefreshMiddlewareOptions {
  return {
    ...refreshOptions(env),
    ...(env.skewSeconds !== undefined ? { skewSeconds: env.skewSeconds } : {}),
    signInPath: SIGN_IN_PATH,
  }
}
