/** A call that did not answer within its time limit. */
export class TimeLimitError extends Error {
  readonly code = 'TIME_LIMIT'
  constructor(what: string, limitMs: number) {
    super(`${what} did not answer within ${limitMs} ms`)
    this.name = 'TimeLimitError'
  }
}

/**
 * Resolves or rejects like `promise`, or rejects with {@link TimeLimitError} after `limitMs` (ms).
 * The call itself is not cancelled (a plain promise cannot be); only the wait for it ends.
 */
export function withinTimeLimit<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeLimitError(what, limitMs)), limitMs)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}
