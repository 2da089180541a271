/**
 * `next-auth-edge-refresh/client`: what a client component may import. Nothing here reaches the
 * server code (no secret, no store, no provider), so it adds a few bytes to the browser bundle.
 *
 * @module next-auth-edge-refresh/client
 */
import { REFRESH_TOKEN_ERROR, type RefreshedSessionFields } from './types.js'

export { REFRESH_TOKEN_ERROR, type RefreshedSessionFields }

/**
 * True when the session says its login has ended (`session.error === "RefreshTokenError"`): the
 * refresh token is dead and only signing in again helps. Accepts what `useSession().data` holds,
 * `null` and `undefined` included.
 */
export function isLoginEnded(session: RefreshedSessionFields | null | undefined): boolean {
  return session?.error === REFRESH_TOKEN_ERROR
}
