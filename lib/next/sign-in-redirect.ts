import type { NextRequest } from 'next/server.js'
import { RefreshConfigError } from '../errors.js'

/**
 * Where a page navigation goes once its login has ended: `signInPath` with `callbackParam`
 * (next-auth's `callbackUrl` unless the app's own sign-in page reads another) set to the page the
 * user asked for. A path, never an absolute URL: the callback cannot leave this
 * origin. Sending the sign-in page back to itself after sign-in would strand the user there, so
 * it goes home instead. Leading slashes and backslashes collapse to one: `//evil.test` (or
 * `/\\evil.test`, which browsers read the same way) would otherwise leave the origin after sign-in.
 */
export function signInUrl(request: NextRequest, signInPath: string, callbackParam = 'callbackUrl'): URL {
  const url = request.nextUrl.clone()
  const here = request.nextUrl.pathname.replace(/^[\\/]+/, '/')
  const callbackUrl = here === signInPath ? '/' : `${here}${request.nextUrl.search}`
  url.pathname = signInPath
  url.search = `?${encodeURIComponent(callbackParam)}=${encodeURIComponent(callbackUrl)}`
  return url
}

/** Validates an option that must be a same-origin path. @throws {RefreshConfigError} otherwise. */
export function sameOriginPath(name: string, path: string): string {
  if (!path.startsWith('/') || path.startsWith('//')) {
    throw new RefreshConfigError('CONFIG_INVALID_OPTION', `${name} must be a same-origin path starting with "/", got "${path}"`)
  }
  return path
}
