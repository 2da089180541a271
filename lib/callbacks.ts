import { createRefreshEngine, type RefreshEngineOptions } from './refresh-engine'
import { readSessionTokens, withLoginEnded, withRefreshedTokens, type SessionPayload } from './session-fields'
import { REFRESH_TOKEN_ERROR } from './types'

/** Options of {@link refreshCallbacks}: the engine's, plus what the client-side session may see. */
export interface RefreshCallbacksOptions extends RefreshEngineOptions {
  /** Put the access token into the session that `useSession()` / `getServerSession()` return. Default false: it stays server-side. */
  exposeAccessToken?: boolean
}

/** The subset of next-auth's `account` the sign-in branch reads. */
export interface SignInAccount {
  provider: string
  access_token?: string
  refresh_token?: string
  id_token?: string
  /** Epoch seconds. */
  expires_at?: number
  /** Seconds from now. */
  expires_in?: number
}

/** The fields `refreshCallbacks` adds to the client-visible session. */
export interface RefreshedSessionFields {
  /** `"RefreshTokenError"` once the login has ended; the client should call `signIn()`. */
  error?: typeof REFRESH_TOKEN_ERROR
  /** Access-token expiry, epoch seconds. */
  expiresAt?: number
  /** Only with `exposeAccessToken: true`. */
  accessToken?: string
}

/**
 * next-auth `jwt` and `session` callbacks.
 *
 * `jwt` stores `access_token`, `expires_at` (epoch seconds; computed from `expires_in` when the
 * provider gives no `expires_at`), `refresh_token`, `id_token` and `provider` at sign-in. Later it
 * refreshes through the same engine and store as the middleware, for requests the middleware did
 * not see (a route outside its matcher, `/api/auth/session`): the single flight still holds, so
 * such a refresh can never present a refresh token twice.
 *
 * `session` exposes `error`, `expiresAt`, and the access token only when asked.
 *
 * Spread them into next-auth's options: `callbacks: { ...refreshCallbacks(options) }`.
 */
export function refreshCallbacks(options: RefreshCallbacksOptions) {
  const engine = createRefreshEngine(options)
  const nowSeconds = () => Math.floor(engine.now() / 1000)

  return {
    async jwt(params: { token: SessionPayload; account?: SignInAccount | null }): Promise<SessionPayload> {
      const { token, account } = params
      if (account?.access_token) {
        const expiresAt =
          typeof account.expires_at === 'number'
            ? account.expires_at
            : nowSeconds() + (typeof account.expires_in === 'number' ? account.expires_in : 3600)
        const next: SessionPayload = { ...token, access_token: account.access_token, expires_at: Math.floor(expiresAt), provider: account.provider }
        delete next.error
        if (account.refresh_token) next.refresh_token = account.refresh_token
        if (account.id_token) next.id_token = account.id_token
        return next
      }
      const tokens = readSessionTokens(token, nowSeconds())
      if (!tokens) return token
      // Inside a server component next-auth cannot write the cookie, so the result is kept in the
      // store for as long as the old cookie lives (see RunOptions.deliversCookie).
      const result = await engine.run(tokens, { deliversCookie: false, ...(typeof token.exp === 'number' ? { sessionExpiresAt: token.exp } : {}) })
      if (result.reason === 'refreshed') return withRefreshedTokens(token, result.tokens, nowSeconds())
      if (result.reason === 'invalid_grant') return withLoginEnded(token)
      return token
    },

    async session<S extends Record<string, unknown>>(params: { session: S; token: SessionPayload }): Promise<S & RefreshedSessionFields> {
      const { session, token } = params
      const tokens = readSessionTokens(token, nowSeconds())
      const fields: RefreshedSessionFields = {}
      if (token.error === REFRESH_TOKEN_ERROR) fields.error = REFRESH_TOKEN_ERROR
      if (tokens) {
        fields.expiresAt = tokens.expires_at
        if (options.exposeAccessToken) fields.accessToken = tokens.access_token
      }
      return { ...session, ...fields }
    },
  }
}
