/**
 * Provider faults for the fault matrix (edge-tests/fault-matrix.test.ts): the `fetch` the
 * middleware is given (its `fetch` option). Discovery always reaches the real oidc-provider; the
 * token endpoint either does too (faults injected by the provider's own `/__test/` hooks:
 * 5xx, latency, revoke) or is answered here without the provider seeing the request (429 with
 * Retry-After, a connection reset, an HTML 200).
 */
import type { FetchLike } from '../lib'

export type TokenEndpointFault = '429' | 'reset' | 'html-200'

/** Counts the token requests the middleware sends, and answers them with `fault` if given. */
export function providerFetch(fault?: TokenEndpointFault, onTokenRequest?: () => void): { fetch: FetchLike; tokenRequests: () => number } {
  let tokenRequests = 0
  const wrapped: FetchLike = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    if (!url.pathname.endsWith('/token')) return fetch(input, init)
    tokenRequests++
    onTokenRequest?.()
    switch (fault) {
      case undefined:
        return fetch(input, init)
      case '429':
        return new Response(JSON.stringify({ error: 'slow_down' }), {
          status: 429,
          headers: { 'content-type': 'application/json', 'retry-after': '60' },
        })
      case 'reset':
        // What undici throws when the peer resets the connection.
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) })
      case 'html-200':
        // A 200 that is not a token response (an interstitial, a WAF page), not processed by the
        // provider: the refresh token presented was never used.
        return new Response('<!doctype html><html><body>Please wait while we check your browser…</body></html>', {
          status: 200,
          headers: { 'content-type': 'text/html; charset=utf-8' },
        })
    }
  }
  return { fetch: wrapped, tokenRequests: () => tokenRequests }
}
