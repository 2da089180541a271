/** The one timing budget: every rule, its message and its numbers agree. */
import { describe, expect, it } from 'vitest'
import { RefreshConfigError } from '../lib/errors'
import { minimumLeaseMs, resolveTiming } from '../lib/refresh/timing'

describe('resolveTiming', () => {
  it('derives every timing from the defaults', () => {
    expect(resolveTiming({})).toEqual({
      providerTimeoutMs: 5_000,
      providerCallLimitMs: 30_000,
      storeTimeoutMs: 1_000,
      leaseMs: 10_000,
      renewEveryMs: 10_000 / 3,
      abortBeforeLeaseEndMs: 1_500,
      deadlineMs: 8_000,
      persistTimeoutMs: 1_000,
      graceMs: 120_000,
      retryAfterMs: 2_000,
      attemptSettlesWithinMs: 40_000,
    })
  })

  it('regression: the lease check disagreed with its own message (6600 and 7000 were accepted below the stated 7500)', () => {
    // The rule now is one formula, used by the check and printed by the message: 3 × storeTimeoutMs + 750.
    expect(minimumLeaseMs(1_000)).toBe(3_750)
    expect(() => resolveTiming({ leaseMs: 3_749 })).toThrow(RefreshConfigError)
    expect(() => resolveTiming({ leaseMs: 3_749 })).toThrow(/leaseMs \(3749\) must be at least 3 × storeTimeoutMs \+ 750 \(3750\)/)
    expect(resolveTiming({ leaseMs: 3_750 }).leaseMs).toBe(3_750)
    expect(() => resolveTiming({ storeTimeoutMs: 3_000, leaseMs: 9_000 })).toThrow(/\(9750\)/)
  })

  it('a leader whose renewal fails still has two store round trips and the margin before its lease ends', () => {
    for (const storeTimeoutMs of [200, 1_000, 2_500]) {
      const t = resolveTiming({ storeTimeoutMs, leaseMs: minimumLeaseMs(storeTimeoutMs) })
      // Renewal sent at R after the lease was confirmed, known failed one round trip later; the
      // abort (and the in-doubt mark's round trip) must begin no earlier than that.
      expect(t.renewEveryMs + t.storeTimeoutMs).toBeLessThanOrEqual(t.leaseMs - t.abortBeforeLeaseEndMs)
    }
  })

  it('rejects a deadline shorter than a claim plus the provider wait, and a call limit below the provider wait', () => {
    expect(() => resolveTiming({ deadlineMs: 5_999 })).toThrow(
      /deadlineMs \(5999\) must be at least providerTimeoutMs \+ storeTimeoutMs \(6000\)/,
    )
    expect(() => resolveTiming({ providerCallLimitMs: 4_000 })).toThrow(
      /providerCallLimitMs \(4000\) must be at least providerTimeoutMs \(5000\)/,
    )
  })

  it('rejects values that are not positive finite numbers', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => resolveTiming({ storeTimeoutMs: bad })).toThrow(/storeTimeoutMs must be a finite number > 0/)
    }
  })
})
