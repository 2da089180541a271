import { DEFAULTS } from '../defaults.js'
import { createRefreshEngine, endsLogin, type RefreshOptions } from '../refresh/engine.js'
import { readSessionTokens, signInExpiresAt, withLoginEnded, withRefreshedTokens, type SessionPayload } from '../session/session-fields.js'
import { once, type LazyOptions } from '../util/lazy-options.js'
import { REFRESH_TOKEN_ERROR, type Awaitable, type RefreshedSessionFields, type SignInAccount } from '../types.js'

/** Options of {@link refreshCallbacks}: the engine's, plus what the client-side session may see. */
export interface RefreshCallbacksOptions extends RefreshOptions {
  /**
   * Refresh when `expires_at - now <= skewSeconds`, seconds. Default 0 here: only a token that has
   * already expired. The middleware refreshes before the request reaches next-auth, so a callback
   * refreshing early would race it, and a server component cannot save what it refreshed.
   */
  skewSeconds?: number
  /** Put the access token into the session that `useSession()` / `getServerSession()` / `auth()` return. Default false: it stays server-side. */
  exposeAccessToken?: boolean
}

/** What a next-auth (v4) or Auth.js (v5) `jwt` callback receives, as far as the refresh reads it. */
export interface JwtCallbackParams {
  /** The session JWT's payload. */
  token: SessionPayload
  /** The provider's tokens, at sign-in only. */
  account?: SignInAccount | null
}

/** What a next-auth (v4) or Auth.js (v5) `session` callback receives, as far as the refresh reads it. */
export interface SessionCallbackParams {
  /** next-auth's session object, before the refresh adds its fields. */
  session: object
  /** The session JWT's payload (JWT strategy). */
  token?: SessionPayload
}

/**
 * The app's own `jwt` / `session` callbacks, kept by {@link refreshCallbacks}. `J` and `S` are
 * next-auth's own parameter types, `T` and `R` what the app's callbacks return.
 */
export interface AppCallbacks<J extends JwtCallbackParams, S extends SessionCallbackParams, T, R> {
  /** Runs after the refresh's `jwt`: `token` already holds the sign-in or refreshed tokens. */
  jwt?: (params: J) => Awaitable<T>
  /** Runs after the refresh's `session`: `session` already carries `error` and `expiresAt`. */
  session?: (params: S) => Awaitable<R>
}

/** What {@link refreshCallbacks} returns: a `jwt` and a `session` callback with next-auth's own types. */
export interface RefreshCallbacks<J extends JwtCallbackParams, S extends SessionCallbackParams, T, R> {
  // Function-valued properties, not methods: neither uses `this`, so taking them apart
  // (`const { jwt } = refreshCallbacks(...)`) is safe, and the types say so.
  /** next-auth's `jwt` callback: sign-in tokens in, expired tokens refreshed, then the app's `jwt`. */
  jwt: (params: J) => Promise<T>
  /** next-auth's `session` callback: `error` and `expiresAt` added, then the app's `session`. */
  session: (params: S) => Promise<R>
}

/**
 * next-auth `jwt` and `session` callbacks that keep the provider tokens in the session, wrapped
 * around the app's own.
 *
 * `jwt` stores `access_token`, `expires_at` (epoch seconds; computed from `expires_in` when the
 * provider gives no `expires_at`), `refresh_token`, `id_token` and `provider` at sign-in. Later it
 * refreshes a token that has expired (default `skewSeconds` 0) through the same engine and store as
 * the middleware, for a request the middleware did not see: the single flight still holds, so it
 * never presents a refresh token twice. Then the app's own `jwt` runs on the result.
 *
 * `session` adds `error`, `expiresAt`, and the access token only when asked; then the app's own
 * `session` runs on that.
 *
 * Written where next-auth expects its callbacks, the app's callbacks get next-auth's own parameter
 * types (v4 `CallbacksOptions`, Auth.js v5 `NextAuthConfig["callbacks"]`) and need no cast; other
 * callbacks go beside it:
 * `callbacks: { ...refreshCallbacks(options, { jwt({ token, account }) {…}, session({ session, token }) {…} }), authorized(…) {…} }`.
 *
 * @param options The same options as the middleware (secret, providers, store, …), or a function
 * that returns them, called once on the first callback (so `next build` needs no secret);
 * `skewSeconds` defaults to 0 here.
 * @param app The app's own `jwt` and `session` callbacks.
 */
export function refreshCallbacks<
  J extends JwtCallbackParams,
  S extends SessionCallbackParams,
  T = J['token'],
  R = S['session'] & RefreshedSessionFields,
>(options: LazyOptions<RefreshCallbacksOptions>, app: AppCallbacks<J, S, T, R> = {}): RefreshCallbacks<J, S, T, R> {
  const setup = once(options, (resolved) => ({
    engine: createRefreshEngine({ ...resolved, skewSeconds: resolved.skewSeconds ?? DEFAULTS.callbackSkewSeconds }),
    exposeAccessToken: resolved.exposeAccessToken === true,
  }))

  const refreshJwt = async (token: SessionPayload, account: SignInAccount | null | undefined): Promise<SessionPayload> => {
    const { engine } = setup()
    if (account?.access_token) return withSignInTokens(token, account, engine.nowSeconds())
    const tokens = readSessionTokens(token, engine.nowSeconds())
    if (!tokens) return token
    // Inside a server component next-auth cannot write the cookie, so the result is kept in the
    // store for as long as the old cookie lives (see RunOptions.deliversCookie).
    const result = await engine.run(tokens, {
      deliversCookie: false,
      ...(typeof token.exp === 'number' ? { sessionExpiresAt: token.exp } : {}),
    })
    if (result.reason === 'refreshed') return withRefreshedTokens(token, result.tokens, engine.nowSeconds())
    if (endsLogin(result)) return withLoginEnded(token)
    return token
  }

  const sessionFields = (token: SessionPayload | undefined): RefreshedSessionFields => {
    const fields: RefreshedSessionFields = {}
    if (!token) return fields
    const { engine, exposeAccessToken } = setup()
    const tokens = readSessionTokens(token, engine.nowSeconds())
    if (token.error === REFRESH_TOKEN_ERROR) fields.error = REFRESH_TOKEN_ERROR
    if (tokens) {
      fields.expiresAt = tokens.expires_at
      if (exposeAccessToken) fields.accessToken = tokens.access_token
    }
    return fields
  }

  return {
    async jwt(params) {
      // The refresh only adds fields to next-auth's own token object, so it is still a `J["token"]`.
      const next = { ...params, token: (await refreshJwt(params.token, params.account)) as J['token'] }
      // Without an app callback `T` is its default, `J["token"]`.
      return app.jwt ? app.jwt(next) : (next.token as T)
    },
    async session(params) {
      // The same: next-auth's session object plus the optional refresh fields.
      const next = { ...params, session: { ...params.session, ...sessionFields(params.token) } as S['session'] }
      return app.session ? app.session(next) : (next.session as R)
    },
  }
}

/** The sign-in branch: next-auth hands over the provider's tokens once, in `account`. */
function withSignInTokens(token: SessionPayload, account: SignInAccount, nowSeconds: number): SessionPayload {
  const next: SessionPayload = {
    ...token,
    access_token: account.access_token,
    expires_at: signInExpiresAt(account, nowSeconds),
    provider: account.provider,
  }
  delete next.error
  if (account.refresh_token) next.refresh_token = account.refresh_token
  if (account.id_token) next.id_token = account.id_token
  return next
}
