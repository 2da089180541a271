/**
 * What the refresh reports about its own work, for traces and metrics. The package calls these
 * hooks; `next-auth-edge-refresh/otel` implements them on `@opentelemetry/api`. Without the
 * `telemetry` option nothing is called at all, so the fast path pays nothing.
 *
 * No hook ever receives a token, a cookie value, a store key or a user id: only outcomes, names
 * and durations.
 */

/** A store round trip, by the store method it ran. */
export type StoreOperation = 'claim' | 'peek' | 'publish' | 'extend' | 'shorten'

/** How a store round trip ended: answered, over `storeTimeoutMs`, or failed. */
export type StoreCallOutcome = 'ok' | 'timeout' | 'error'

/**
 * How a provider call ended: the provider's outcome (`refreshed`, `invalid_grant`, `transient`), or
 * `unanswered` when it was given up (`providerCallLimitMs`, or its lease could not be kept).
 */
export type ProviderCallOutcome = 'refreshed' | 'invalid_grant' | 'transient' | 'unanswered'

/** One refresh that did work: the request's decision found the tokens due (or could not judge them on the fast path). */
export interface RefreshTrace {
  /** A store round trip starts; call the returned function when it ends. */
  storeCall(operation: StoreOperation): (outcome: StoreCallOutcome) => void
  /** This request leads: its provider call starts; call the returned function with how it ended. */
  providerCall(): (outcome: ProviderCallOutcome) => void
  /** This request waited for another's result for `ms` (ms), and how the wait ended (`result`, `lapsed`, `outage`). */
  waited(ms: number, ended: 'result' | 'lapsed' | 'outage'): void
  /** A refresh token was marked in doubt: a call was sent and never answered; by default that login ends. */
  markedInDoubt(): void
  /**
   * The request is answered: the engine's reason and, for `refreshed`, `invalid_grant` and
   * `in-doubt`, where the result came from (`provider`, `isolate`, `store`). Called once.
   */
  end(reason: string, source: string | undefined): void
}

/** Receives what the refresh did; see `openTelemetry()` in `next-auth-edge-refresh/otel`. */
export interface RefreshTelemetry {
  /**
   * A request with a session cookie: `hit` when it was judged fresh in this isolate without
   * decoding it (no work), `miss` when the cookie had to be decoded.
   */
  fastPath(result: 'hit' | 'miss'): void
  /** A refresh starts for a session of next-auth provider `providerId` (undefined: the session names none). */
  startRefresh(providerId: string | undefined): RefreshTrace
}
