/**
 * What the example apps' protected page shows, read in Chromium, and the provider's refresh
 * counters between two moments: shared by the example-app journeys (examples.test.ts) and the
 * Cloudflare Workers journey (cloudflare-workers.test.ts), whose apps render the same page.
 */
import type { Page } from 'playwright-core'
import { expect } from 'vitest'
import type { RefreshStats } from '../../testkit/provider-hooks'

/** What the protected page rendered into `[data-testid=protected]`. */
export interface ProtectedState {
  userinfoStatus: string
  userinfoSub: string
  expiresAt: number
  error: string
}

/**
 * The checks of one journey: its signed-in login and its provider's access-token lifetime.
 * Function-valued properties, so that a journey can take them apart.
 */
export interface ProtectedPageChecks {
  /** Waits (at most the journey's `waitMs`) for the protected page and reads what it shows. */
  readProtected: (page: Page) => Promise<ProtectedState>
  /** No session error, and the provider's userinfo answered 200 for the journey's login. */
  expectHealthy: (state: ProtectedState, where: string) => void
  /** Sleeps until one second after `expiresAt` (epoch s); the wait is bounded by one token lifetime. */
  waitForExpiry: (expiresAt: number) => Promise<void>
}

/**
 * @param login The login the journey signs in with.
 * @param ttlSeconds The provider's access-token lifetime, s.
 * @param waitMs How long the protected page may take to appear, ms.
 */
export function protectedPageChecks({
  login,
  ttlSeconds,
  waitMs,
}: {
  login: string
  ttlSeconds: number
  waitMs: number
}): ProtectedPageChecks {
  return {
    readProtected: async (page) => {
      const locator = page.getByTestId('protected')
      await locator.waitFor({ timeout: waitMs })
      const data = await locator.evaluate((element) => ({ ...(element as HTMLElement).dataset }))
      return {
        userinfoStatus: data.userinfoStatus ?? '',
        userinfoSub: data.userinfoSub ?? '',
        expiresAt: Number(data.expiresAt),
        error: data.error ?? '',
      }
    },
    expectHealthy: (state, where) => {
      expect(state.error, `${where}: session error`).toBe('')
      expect(state.userinfoStatus, `${where}: userinfo status`).toBe('200')
      expect(state.userinfoSub, `${where}: userinfo sub`).toBe(login)
      expect(Number.isFinite(state.expiresAt), `${where}: expiresAt`).toBe(true)
    },
    waitForExpiry: async (expiresAt) => {
      const sleepMs = expiresAt * 1000 + 1000 - Date.now()
      expect(sleepMs, 'the token to wait out expires within one lifetime').toBeLessThanOrEqual(ttlSeconds * 1000 + 1500)
      if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs))
    },
  }
}

/** The provider's refresh counters from `before` to `after`. */
export function providerStatsDelta(after: RefreshStats, before: RefreshStats): RefreshStats {
  return {
    refreshRequests: after.refreshRequests - before.refreshRequests,
    refreshSucceeded: after.refreshSucceeded - before.refreshSucceeded,
    refreshFailed: after.refreshFailed - before.refreshFailed,
    reuseDetected: after.reuseDetected - before.reuseDetected,
  }
}
