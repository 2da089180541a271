/**
 * Errors thrown at the edges of the library (creation-time misuse, provider set-up).
 * They carry a stable `code`: switch on it or use `instanceof`, never `constructor.name`,
 * which minifiers rename in edge bundles.
 */

/** Stable codes of {@link RefreshConfigError}. */
export type RefreshConfigErrorCode =
  'CONFIG_SECRET_MISSING' | 'CONFIG_PROVIDERS_MISSING' | 'CONFIG_INVALID_OPTION' | 'CONFIG_PROVIDER_INVALID'

/** Misuse detected when the middleware, callbacks or a provider is created. The message says how to fix it. */
export class RefreshConfigError extends Error {
  /** What is wrong, stable across releases: `switch (error.code)` rather than matching the message. */
  readonly code: RefreshConfigErrorCode
  /** @param code See {@link RefreshConfigError.code}. @param message What is wrong and how to fix it. */
  constructor(code: RefreshConfigErrorCode, message: string) {
    super(message)
    this.name = 'RefreshConfigError'
    this.code = code
  }
}

/** Stable codes of {@link ProviderDiscoveryError}. */
export type ProviderDiscoveryErrorCode = 'DISCOVERY_FAILED'

/**
 * The provider's OpenID discovery document could not be fetched or did not validate.
 * Treated as transient by the refresh path (the next request tries discovery again).
 */
export class ProviderDiscoveryError extends Error {
  readonly code: ProviderDiscoveryErrorCode = 'DISCOVERY_FAILED'
  constructor(issuer: string, cause: unknown) {
    super(`OpenID discovery failed for ${issuer}: ${describeError(cause)}`, { cause })
    this.name = 'ProviderDiscoveryError'
  }
}

/** A one-line description of an unknown thrown value, safe to log (no token can be in it: callers never put one in an error). */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message
  }
  return String(error)
}
