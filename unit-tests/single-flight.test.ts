/**
 * The single-flight coordinator on its own, on a fake clock: a fake store (unit-tests/support/
 * fake-store.ts) and scripted provider calls drive it through every state of a refresh, with the
 * default timings (providerTimeoutMs 5 s, storeTimeoutMs 1 s, leaseMs 10 s, deadlineMs 8 s,
 * providerCallLimitMs 30 s). Several coordinators on one store are several isolates.
 *
 * The one property every test checks: a refresh token is presented to the provider at most once.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  createSingleFlight,
  type FlightResult,
  type InDoubtPolicy,
  type ProviderCall,
  type SingleFlight,
} from '../lib/refresh/single-flight'
import type { Sealer, StoredResult } from '../lib/refresh/sealing'
import { resolveTiming } from '../lib/refresh/timing'
import type { RefreshOutcome } from '../lib/types'
import { FakeStore } from './support/fake-store'

const TOKEN = 'refresh-token-1'
const KEY = `key:${TOKEN}`
const timing = resolveTiming({})
const quietLogger = { warn: () => {}, error: () => {} }

/** Sealing without Web Crypto: its promises would settle outside the fake clock's control. */
const plainSealer: Sealer = {
  keyFor: async (token) => `key:${token}`,
  seal: async (key, result) => JSON.stringify({ key, result }),
  open: async (key, sealed) => {
    const parsed = JSON.parse(sealed) as { key: string; result: StoredResult }
    return parsed.key === key ? parsed.result : null
  },
}

const refreshed: RefreshOutcome = { reason: 'refreshed', tokens: { access_token: 'new-at', refresh_token: 'new-rt', expires_at: 2e9 } }

/** A scripted provider: counts what it is sent, answers after `answerAfterMs`, and stops when aborted unless told not to. */
class ScriptedProvider {
  presented = 0
  aborted = 0
  constructor(
    private readonly answerAfterMs: number,
    private readonly outcome: RefreshOutcome = refreshed,
    private readonly ignoresAbort = false,
  ) {}
  readonly call: ProviderCall = (signal) => {
    this.presented++
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.outcome), this.answerAfterMs)
      signal.addEventListener('abort', () => {
        this.aborted++
        if (this.ignoresAbort) return
        clearTimeout(timer)
        resolve({ reason: 'transient', detail: 'aborted' })
      })
    })
  }
}

function isolate(store: FakeStore, inDoubt: InDoubtPolicy = 'end-login'): SingleFlight {
  return createSingleFlight({ store, sealer: plainSealer, timing, inDoubt, logger: quietLogger, now: () => Date.now() })
}

const request = (provider: ScriptedProvider) => ({ call: provider.call, ttlMs: 120_000, markTtlMs: 3_600_000 })

/** Starts a refresh and records when it settled, on the fake clock. */
function started(flight: SingleFlight, provider: ScriptedProvider) {
  const begin = Date.now()
  const tracked = { result: undefined as FlightResult | undefined, tookMs: -1 }
  const promise = flight.refresh(TOKEN, request(provider)).then((result) => {
    tracked.result = result
    tracked.tookMs = Date.now() - begin
    return result
  })
  return Object.assign(tracked, { promise })
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('single flight on a fake clock', () => {
  it('one leader, waiters in other isolates get its result: one provider call', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(300)
    const requests = [isolate(store), isolate(store), isolate(store)].map((flight) => started(flight, provider))
    await vi.advanceTimersByTimeAsync(1000)
    expect(provider.presented).toBe(1)
    for (const r of requests) expect(r.result?.reason).toBe('refreshed')
    expect(store.attemptOf(KEY)).toBeUndefined()
    expect(store.lockOf(KEY)).toBeUndefined()
  })

  it('regression: a provider that outlived the lease let a waiter in another isolate claim and present the same refresh token', async () => {
    // The provider answers after 15 s, well past the 10 s lease: the leader keeps renewing it.
    const store = new FakeStore()
    const provider = new ScriptedProvider(15_000)
    const leader = started(isolate(store), provider)
    const other = isolate(store)
    const early = started(other, provider)
    await vi.advanceTimersByTimeAsync(9_000)
    // Both requests stopped waiting within their budgets; the call is still open.
    expect(leader.result?.reason).toBe('transient')
    expect(leader.tookMs).toBe(timing.providerTimeoutMs)
    expect(early.result?.reason).toBe('transient')
    expect(early.tookMs).toBeLessThanOrEqual(timing.deadlineMs)
    // Past the original lease: the lock is still held (renewed), so a newcomer waits instead of leading.
    await vi.advanceTimersByTimeAsync(2_000)
    expect(store.lockOf(KEY)).toBeDefined()
    const late = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(5_000)
    expect(late.result?.reason).toBe('refreshed')
    expect(provider.presented).toBe(1)
    expect(store.counts.extend).toBeGreaterThanOrEqual(4)
    // Afterwards every isolate finds the result.
    expect((await other.refresh(TOKEN, request(provider))).reason).toBe('refreshed')
    expect(provider.presented).toBe(1)
  })

  it('regression: a failed publish dropped the rotated tokens, kept the lock, and the old refresh token was presented again after the lease', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(200)
    store.fault('publish', 'fail')
    const leader = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(500)
    // The request still gets the tokens its leader obtained.
    expect(leader.result?.reason).toBe('refreshed')
    expect(store.resultOf(KEY)).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1_500)
    store.fault('publish', undefined)
    await vi.advanceTimersByTimeAsync(2_000)
    // A retry landed it; long after the lease another isolate finds it and presents nothing.
    expect(store.resultOf(KEY)).toBeDefined()
    await vi.advanceTimersByTimeAsync(20_000)
    const late = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(100)
    expect(late.result?.reason).toBe('refreshed')
    expect(provider.presented).toBe(1)
  })

  it('a publish that never succeeds leaves the attempt mark: no isolate presents the token again, and it ends as in doubt', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(200)
    store.fault('publish', 'fail')
    started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(15_000)
    expect(store.lockOf(KEY)).toBeUndefined()
    expect(store.attemptOf(KEY)).toBeDefined()
    // While the leader may still publish, others wait; after that the token is in doubt.
    const waiting = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(timing.deadlineMs)
    expect(waiting.result?.reason).toBe('transient')
    await vi.advanceTimersByTimeAsync(timing.attemptSettlesWithinMs)
    const after = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(100)
    expect(after.result).toEqual({ reason: 'in-doubt', source: 'store' })
    expect(provider.presented).toBe(1)
  })

  it('a slow publish (over the store budget) is retried and the result still lands', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(200)
    store.fault('publish', 1_500)
    const leader = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(1_500)
    expect(leader.result?.reason).toBe('refreshed')
    store.fault('publish', undefined)
    await vi.advanceTimersByTimeAsync(3_000)
    expect(store.resultOf(KEY)).toBeDefined()
    expect(store.attemptOf(KEY)).toBeUndefined()
    expect(provider.presented).toBe(1)
  })

  it('a lock lost while its leader is in flight is taken back by the leader; a newcomer waits instead of leading', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(6_000)
    started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(store.loseLock(KEY)).toBe(true)
    const newcomer = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(3_000)
    // The renewal at a third of the lease took the lock back.
    expect(store.lockOf(KEY)).toBeDefined()
    await vi.advanceTimersByTimeAsync(3_000)
    expect(newcomer.result?.reason).toBe('refreshed')
    expect(provider.presented).toBe(1)
  })

  it('a result lost after it was published: waiters already waiting do not lead again (the lock ended early)', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(1_000)
    const leader = started(isolate(store), provider)
    const waiter = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(1_000)
    // The publish is applied on the next microtask: lose the result right after it.
    await vi.advanceTimersByTimeAsync(1)
    expect(store.loseResult(KEY)).toBe(true)
    await vi.advanceTimersByTimeAsync(12_000)
    expect(leader.result?.reason).toBe('refreshed')
    expect(waiter.result?.reason).toBe('transient')
    expect(provider.presented).toBe(1)
  })

  it('outcome unknown: a call with no answer is aborted at providerCallLimitMs, its token marked in doubt, and never presented again', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(10 * 60_000)
    const leader = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(timing.providerCallLimitMs + 1_000)
    expect(leader.result?.reason).toBe('transient')
    expect(provider.aborted).toBe(1)
    const later = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(100)
    expect(later.result).toEqual({ reason: 'in-doubt', source: 'store' })
    expect(provider.presented).toBe(1)
  })

  it('an answer that arrives after the call was given up replaces the in-doubt mark', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(timing.providerCallLimitMs + 5_000, refreshed, true)
    started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(timing.providerCallLimitMs + 100)
    const during = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(100)
    expect(during.result?.reason).toBe('in-doubt')
    await vi.advanceTimersByTimeAsync(5_000)
    const after = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(100)
    expect(after.result?.reason).toBe('refreshed')
    expect(provider.presented).toBe(1)
  })

  it('inDoubt "retry": an unanswered call is a transient failure, and the token is presented again after the back-off (opt-in for providers with a reuse grace period)', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(10 * 60_000)
    started(isolate(store, 'retry'), provider)
    await vi.advanceTimersByTimeAsync(timing.providerCallLimitMs + timing.retryAfterMs + 1_000)
    expect(store.attemptOf(KEY)).toBeUndefined()
    started(isolate(store, 'retry'), provider)
    await vi.advanceTimersByTimeAsync(100)
    expect(provider.presented).toBe(2)
  })

  it('a store that stops confirming the lease makes the leader abort its call before the lease ends, and mark the token in doubt', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(60_000)
    const claimedAt = Date.now()
    started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(100)
    store.fault('extend', 'fail')
    let abortedAt = -1
    for (let t = 0; t < 12_000 && abortedAt < 0; t += 100) {
      await vi.advanceTimersByTimeAsync(100)
      if (provider.aborted > 0) abortedAt = Date.now()
    }
    // Before the lease the store last confirmed (the claim's) ends, with a round trip and the margin to spare.
    expect(abortedAt - claimedAt).toBeLessThanOrEqual(timing.leaseMs - timing.abortBeforeLeaseEndMs)
    await vi.advanceTimersByTimeAsync(100)
    expect(JSON.parse(store.resultOf(KEY)!).result).toEqual({ kind: 'in-doubt' })
    const later = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(100)
    expect(later.result?.reason).toBe('in-doubt')
    expect(provider.presented).toBe(1)
  })

  it('a leader that crashed mid-call leaves its attempt mark: others wait it out, then treat the token as in doubt and never present it', async () => {
    const store = new FakeStore()
    // The crashed leader: lock and attempt mark written, nothing ever published or renewed.
    const mark = await plainSealer.seal(KEY, { kind: 'attempt', startedAt: Date.now() })
    expect((await store.claim(KEY, timing.leaseMs, { sealed: mark, ttlMs: 3_600_000 })).kind).toBe('lead')
    const provider = new ScriptedProvider(100)
    const waiter = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(timing.deadlineMs)
    expect(waiter.result?.reason).toBe('transient')
    await vi.advanceTimersByTimeAsync(timing.leaseMs)
    const afterLease = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(timing.deadlineMs)
    expect(afterLease.result?.reason).toBe('transient')
    await vi.advanceTimersByTimeAsync(timing.attemptSettlesWithinMs)
    const afterWindow = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(100)
    expect(afterWindow.result).toEqual({ reason: 'in-doubt', source: 'store' })
    expect(provider.presented).toBe(0)
  })

  it('a store that is down: nothing is presented (keep-session), and the request answers within one store budget', async () => {
    const store = new FakeStore()
    store.faultAll('hang')
    const provider = new ScriptedProvider(100)
    const r = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(timing.storeTimeoutMs + 10)
    expect(r.result).toEqual({ reason: 'store-unavailable' })
    expect(provider.presented).toBe(0)
  })

  it('invalid_grant is published as dead: later isolates end the login without presenting the token', async () => {
    const store = new FakeStore()
    const provider = new ScriptedProvider(100, { reason: 'invalid_grant' })
    const first = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(200)
    expect(first.result).toEqual({ reason: 'invalid_grant', source: 'provider' })
    const second = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(100)
    expect(second.result).toEqual({ reason: 'invalid_grant', source: 'store' })
    expect(provider.presented).toBe(1)
  })

  it('a transient failure rests every isolate for retryAfterMs, then the token is tried again', async () => {
    const store = new FakeStore()
    const failing = new ScriptedProvider(100, { reason: 'transient', detail: '503' })
    started(isolate(store), failing)
    await vi.advanceTimersByTimeAsync(200)
    const resting = started(isolate(store), failing)
    await vi.advanceTimersByTimeAsync(100)
    expect(resting.result).toEqual({ reason: 'backoff' })
    await vi.advanceTimersByTimeAsync(timing.retryAfterMs)
    started(isolate(store), failing)
    await vi.advanceTimersByTimeAsync(200)
    expect(failing.presented).toBe(2)
  })

  it('regression: the back-off map stays bounded: many failing refresh tokens evict the oldest rests, not memory', async () => {
    // It used to grow by one entry per failing session, never freed. A store that keeps nothing
    // leaves only the isolate's own map to remember a failure.
    const forgetful = new FakeStore()
    forgetful.fault('publish', 'fail')
    const calls = new Map<string, number>()
    const failing =
      (token: string): ProviderCall =>
      async () => {
        calls.set(token, (calls.get(token) ?? 0) + 1)
        return { reason: 'transient', detail: 'down' }
      }
    const flight = createSingleFlight({
      store: forgetful,
      sealer: plainSealer,
      timing: resolveTiming({ retryAfterMs: 60_000 }),
      inDoubt: 'retry',
      logger: quietLogger,
      now: () => Date.now(),
    })
    const refresh = (token: string) => flight.refresh(token, { call: failing(token), ttlMs: 1000 })
    const tokens = Array.from({ length: 1200 }, (_, i) => `refresh-token-${i}`)
    for (const token of tokens) {
      expect((await refresh(token)).reason).toBe('transient')
      forgetful.locks.clear()
    }
    // The newest rests are still there; the oldest were dropped to keep the map at its bound.
    expect((await refresh(tokens[1199]!)).reason).toBe('backoff')
    expect((await refresh(tokens[0]!)).reason).toBe('transient')
    expect(calls.get(tokens[1199]!)).toBe(1)
    expect(calls.get(tokens[0]!)).toBe(2)
  })

  it('a call given up on whose provider then reports the token was never sent (discovery still running) leaves nothing in doubt', async () => {
    const store = new FakeStore()
    let presented = 0
    // Discovery hangs until the call is aborted; the token request never leaves.
    const discovering: ProviderCall = (signal) => {
      presented++
      return new Promise((resolve) =>
        signal.addEventListener('abort', () => resolve({ reason: 'transient', detail: 'discovery aborted', notSent: true })),
      )
    }
    void isolate(store).refresh(TOKEN, { call: discovering, ttlMs: 120_000 })
    await vi.advanceTimersByTimeAsync(timing.providerCallLimitMs + 100)
    expect(JSON.parse(store.resultOf(KEY)!).result.kind).toBe('backoff')
    await vi.advanceTimersByTimeAsync(timing.retryAfterMs)
    const provider = new ScriptedProvider(100)
    const later = started(isolate(store), provider)
    await vi.advanceTimersByTimeAsync(200)
    expect(later.result?.reason).toBe('refreshed')
    expect(presented + provider.presented).toBe(2)
  })
})
