import { REFRESH_TOKEN_ERROR, type Awaitable, type RefreshedSessionFields, type SignInAccount } from '../types.js'
import type { AccountRefresher, AccountRefreshResult } from './account-refresher.js'

/** What a next-auth (v4) or Auth.js (v5) `session` callback receives under the database strategy, as far as the refresh reads it. */
export interface DatabaseSessionCallbackParams {
  /** next-auth's session object, before the refresh adds its fields. */
  session: object
  /** The adapter's user; next-auth passes it with the database strategy. */
  user?: { id: string }
}

/** The app's own `session` callback, kept by {@link databaseSessionCallbacks}; it also receives what the refresh found. */
export interface AppDatabaseCallbacks<S extends DatabaseSessionCallbackParams, R> {
  /** Runs after the refresh: `session` already carries `error` and `expiresAt`; `refresh` is the account's state. */
  session?: (params: S & { refresh: AccountRefreshResult }) => Awaitable<R>
}

/** Options of {@link databaseSessionCallbacks}. */
export interface DatabaseSessionCallbacksOptions {
  /** Put the access token into the session that `useSession()` / `getServerSession()` / `auth()` return. Default false: it stays server-side. */
  exposeAccessToken?: boolean
}

/** What {@link databaseSessionCallbacks} returns: a `session` callback with next-auth's own parameter type. */
export interface DatabaseSessionCallbacks<S extends DatabaseSessionCallbackParams, R> {
  /** next-auth's `session` callback: refresh the account, add the fields, then run the app's. */
  session(params: S): Promise<R>
}

/**
 * The next-auth `session` callback for the database strategy: brings the user's account tokens
 * up to date through `refresher` (one provider call per refresh token across every process that
 * shares the store), then adds `expiresAt` and, once the login has ended, `error:
 * "RefreshTokenError"`, the Auth.js guide's signal for the client to call `signIn()`. Then the
 * app's own `session` callback runs on that.
 *
 * `callbacks: { ...databaseSessionCallbacks(refresher, { session({ session, refresh }) {…} }) }`
 *
 * @param refresher From {@link createAccountRefresher}; share one per process with route handlers.
 * @param app The app's own `session` callback.
 */
export function databaseSessionCallbacks<S extends DatabaseSessionCallbackParams, R = S['session'] & RefreshedSessionFields>(
  refresher: AccountRefresher,
  app: AppDatabaseCallbacks<S, R> = {},
  options: DatabaseSessionCallbacksOptions = {},
): DatabaseSessionCallbacks<S, R> {
  return {
    async session(params) {
      const refresh: AccountRefreshResult = params.user?.id ? await refresher.refresh(params.user.id) : { reason: 'no-account' }
      // next-auth's session object plus the optional refresh fields.
      const session = { ...params.session, ...sessionFields(refresh, options) } as S['session']
      return app.session ? app.session({ ...params, session, refresh }) : (session as R)
    },
  }
}

function sessionFields(refresh: AccountRefreshResult, options: DatabaseSessionCallbacksOptions): RefreshedSessionFields {
  if (refresh.reason === 'no-account') return {}
  const fields: RefreshedSessionFields = {}
  if (refresh.reason === 'login-ended') fields.error = REFRESH_TOKEN_ERROR
  if (typeof refresh.account.expires_at === 'number') fields.expiresAt = refresh.account.expires_at
  if (options.exposeAccessToken && refresh.account.access_token && refresh.reason !== 'login-ended')
    fields.accessToken = refresh.account.access_token
  return fields
}

/** What next-auth's `events.signIn` receives, as far as the refresh reads it (v4 and Auth.js v5). */
export interface DatabaseSignInMessage {
  /** The adapter's user who signed in. */
  user: { id?: string }
  /** The provider's tokens of this sign-in. */
  account?: (SignInAccount & { providerAccountId: string }) | null
}

/**
 * next-auth `events` that save a new sign-in's tokens to the account row. Needed because next-auth
 * writes the account row at the first sign-in only: after a login ended, signing in again would
 * leave the dead tokens in the row and end the new session at once.
 *
 * `events: { ...databaseSignInEvents(refresher) }`
 */
export function databaseSignInEvents(refresher: AccountRefresher): { signIn(message: DatabaseSignInMessage): Promise<void> } {
  return {
    async signIn({ user, account }) {
      if (!user.id || !account?.access_token || !account.providerAccountId) return
      await refresher.saveSignIn(user.id, account)
    },
  }
}
