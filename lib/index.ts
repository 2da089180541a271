/**
 * Public surface. This file only re-exports: importing it has no side effects, so that the edge
 * bundle of an app that uses one provider carries no work for the others at start-up.
 */
export { createRefreshMiddleware, type RefreshMiddleware, type RefreshMiddlewareOptions, type RefreshReport } from './next/middleware'
export type { EndedLoginOptions } from './next/ended-login'
export { withRefresh, type AppMiddleware, type ComposedMiddleware } from './next/compose'
export {
  createRefreshEngine,
  type RefreshEngine,
  type RefreshEngineOptions,
  type EngineResult,
  type RunOptions,
  type SettledOutcome,
} from './refresh/engine'
export type { FlightResult, FlightSource, StoreOutagePolicy, InDoubtPolicy, WaitUntil } from './refresh/single-flight'
export {
  refreshCallbacks,
  type RefreshCallbacksOptions,
  type RefreshCallbacks,
  type AppCallbacks,
  type JwtCallbackParams,
  type SessionCallbackParams,
} from './next/callbacks'
export type { StoredAccount, AccountTokenWrite, AccountAccess } from './database/accounts'
export {
  createAccountRefresher,
  type AccountRefresher,
  type AccountRefresherOptions,
  type AccountRefreshResult,
  type AccountRefreshOptions,
  type AccountKeptDetail,
} from './database/account-refresher'
export {
  databaseSessionCallbacks,
  databaseSignInEvents,
  type DatabaseSessionCallbacks,
  type DatabaseSessionCallbackParams,
  type DatabaseSessionCallbacksOptions,
  type AppDatabaseCallbacks,
  type DatabaseSignInMessage,
} from './database/session-callbacks'
export {
  upstashAdapterAccounts,
  type UpstashAdapterClient,
  type UpstashAdapterKeyOptions,
  type DatabaseSessionAccounts,
} from './database/upstash-adapter-accounts'
export { createDatabaseRefreshMiddleware, type DatabaseRefreshMiddlewareOptions } from './next/database-middleware'
export { oidc, type OidcProviderOptions } from './providers/oidc'
export {
  cognito,
  type CognitoProviderOptions,
  type CognitoCommonOptions,
  type CognitoTokenEndpointOptions,
  type CognitoIdpOptions,
} from './providers/cognito'
export { google, GOOGLE_AUTHORIZATION_PARAMS, type GoogleProviderOptions } from './providers/google'
export type { RefreshProvider, ProviderContext, RefreshSession } from './providers/provider'
export type { ClientAuthMethod } from './providers/refresh-grant'
export { memoryStore, type MemoryStoreOptions } from './stores/memory-store'
export { upstashStore, type UpstashStoreOptions, type UpstashLike } from './stores/upstash-store'
export type { RefreshStore, ClaimResult, PeekResult, ExtendResult, AttemptMark } from './stores/store'
export {
  readSessionCookie,
  type ReadSession,
  type SessionFormat,
  type SessionCookieOptions,
  type SessionCookieLocation,
  type SessionCodec,
} from './session/session-cookie'
export { readSessionTokens, type SessionPayload } from './session/session-fields'
export { decideRefresh, type RefreshDecision } from './refresh/decision'
export { isLoopbackHostname } from './util/loopback'
export { DEFAULTS } from './defaults'
export { RefreshConfigError, type RefreshConfigErrorCode } from './errors'
export {
  REFRESH_TOKEN_ERROR,
  type SessionTokens,
  type RefreshedTokens,
  type RefreshOutcome,
  type CookieSource,
  type Logger,
  type FetchLike,
  type Awaitable,
  type RefreshedSessionFields,
  type SignInAccount,
} from './types'
