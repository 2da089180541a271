/**
 * Options as an object, or as a function the package calls once, when they are first needed.
 *
 * Why a function: `next build` imports `middleware.ts` and `auth.ts` to collect page data, usually
 * where no secret is set. An app that hands over a function reads its environment on the first
 * request instead, so its build needs no secret, and a missing one is reported (as a
 * `RefreshConfigError`) where it matters: on the server that lacks it.
 */
export type LazyOptions<T> = T | (() => T)

/**
 * The value {@link LazyOptions} stands for, built once: `build` runs with the options the first time
 * the returned function is called. A throw (a config error) is not remembered, so a request after a
 * fixed deployment variable no longer fails; it is thrown again to the caller each time until then.
 */
export function once<T, R>(options: LazyOptions<T>, build: (options: T) => R): () => R {
  let built: { value: R } | undefined
  if (!isReader(options)) {
    // Given as an object: validated now, at creation.
    const value = build(options)
    return () => value
  }
  return () => (built ??= { value: build(options()) }).value
}

function isReader<T>(options: LazyOptions<T>): options is () => T {
  return typeof options === 'function'
}
