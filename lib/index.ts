/**
 * `next-auth-edge-refresh`: what an app wires into `middleware.ts` / `proxy.ts` and next-auth's
 * callbacks. Server only: in a client bundle this entry resolves to a module that fails the build
 * (see build.mjs); client code imports `next-auth-edge-refresh/client`. Database sessions are in
 * `next-auth-edge-refresh/database`.
 *
 * This file only re-exports: importing it has no side effects, so that the edge bundle of an app
 * that uses one provider carries no work for the others at start-up. What is not here is internal
 * and may change in any release; `api/next-auth-edge-refresh.api.md` records what is, and a test
 * fails when it changes by accident.
 *
 * @module next-auth-edge-refresh
 */
export {
  createRefreshMiddleware,
  type RefreshMiddleware,
  type RefreshMiddlewareOptions,
  type RefreshReport,
  type RefreshReason,
  type RefreshSource,
} from './next/middleware.js'
export type { EndedLoginOptions } from './next/ended-login.js'
export { withRefresh, type AppMiddleware, type ComposedMiddleware } from './next/compose.js'
export type { RefreshOptions } from './refresh/engine.js'
export type { StoreOutagePolicy, InDoubtPolicy } from './refresh/single-flight.js'
export type { LazyOptions } from './util/lazy-options.js'
export type { RefreshTelemetry, RefreshTrace, StoreOperation, StoreCallOutcome, ProviderCallOutcome } from './observe/telemetry.js'
export {
  refreshCallbacks,
  type RefreshCallbacksOptions,
  type RefreshCallbacks,
  type AppCallbacks,
  type JwtCallbackParams,
  type SessionCallbackParams,
} from './next/callbacks.js'
export { oidc, type OidcProviderOptions } from './providers/oidc.js'
export {
  cognito,
  type CognitoProviderOptions,
  type CognitoCommonOptions,
  type CognitoTokenEndpointOptions,
  type CognitoIdpOptions,
} from './providers/cognito.js'
export { google, GOOGLE_AUTHORIZATION_PARAMS, type GoogleProviderOptions } from './providers/google.js'
export type { RefreshProvider, ProviderContext, RefreshSession } from './providers/provider.js'
export type { ClientAuthMethod } from './providers/refresh-grant.js'
export { memoryStore, type MemoryStoreOptions } from './stores/memory-store.js'
export { upstashStore, type UpstashStoreOptions, type UpstashLike } from './stores/upstash-store.js'
export { redisStore, type RedisStoreOptions, type NodeRedisLike, type IoredisLike } from './stores/redis-store.js'
export type { RefreshStore, ClaimResult, ClaimOptions, PeekResult, ExtendResult, AttemptMark } from './stores/store.js'
export type { SessionCodec, SessionFormat } from './session/session-cookie.js'
export type { SessionPayload } from './session/session-fields.js'
export { RefreshConfigError, type RefreshConfigErrorCode } from './errors.js'
export {
  REFRESH_TOKEN_ERROR,
  type SessionTokens,
  type RefreshedTokens,
  type RefreshOutcome,
  type Logger,
  type FetchLike,
  type Awaitable,
  type RefreshedSessionFields,
  type SignInAccount,
} from './types.js'
