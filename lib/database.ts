/**
 * `next-auth-edge-refresh/database`: next-auth's **database** session strategy. The provider tokens
 * live in the adapter's account rows: the `session` callback refreshes them on Node (any adapter),
 * and with the Upstash Redis adapter the edge middleware does too. Server only, like the main entry.
 *
 * This file only re-exports (no side effects); the options shared with JWT sessions (providers,
 * stores, `RefreshOptions`) come from the main entry.
 *
 * @module next-auth-edge-refresh/database
 */
export {
  createAccountRefresher,
  type AccountRefresher,
  type AccountRefresherOptions,
  type AccountRefreshResult,
  type AccountRefreshOptions,
  type AccountKeptDetail,
} from './database/account-refresher.js'
export type { StoredAccount, AccountTokenWrite, AccountAccess } from './database/accounts.js'
export {
  databaseSessionCallbacks,
  databaseSignInEvents,
  type DatabaseSessionCallbacks,
  type DatabaseSessionCallbackParams,
  type DatabaseSessionCallbacksOptions,
  type AppDatabaseCallbacks,
  type DatabaseSignInMessage,
} from './database/session-callbacks.js'
export {
  upstashAdapterAccounts,
  type UpstashAdapterClient,
  type UpstashAdapterKeyOptions,
  type DatabaseSessionAccounts,
} from './database/upstash-adapter-accounts.js'
export { createDatabaseRefreshMiddleware, type DatabaseRefreshMiddlewareOptions } from './next/database-middleware.js'
// The shared types these signatures name most often; the rest (providers, stores, the policies)
// come from the main entry, as the options that hold them do.
export type { RefreshOptions } from './refresh/engine.js'
export type { LazyOptions } from './util/lazy-options.js'
export type { RefreshMiddleware, RefreshReason } from './next/middleware.js'
export type { EndedLoginOptions } from './next/ended-login.js'
export type { Awaitable, RefreshedSessionFields, SignInAccount } from './types.js'
