import * as base64url from 'jose/base64url'

/**
 * `base64url(SHA-256(value))`: names a token or a cookie (store keys, the isolate's caches) without
 * holding the value itself.
 */
export async function sha256Base64url(value: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value))))
}
