/**
 * Single flight on its own, with a store that keeps nothing: what the isolate itself remembers.
 */
import { describe, expect, it } from 'vitest'
import { createSealer } from '../lib/refresh/sealing'
import { createSingleFlight } from '../lib/refresh/single-flight'
import type { RefreshStore } from '../lib/stores/store'
import { SECRET, quietLogger } from './support/sessions'

/** Every claim leads and nothing is kept: only the isolate's own maps can remember a failure. */
const forgetfulStore: RefreshStore = {
  kind: 'forgetful',
  claim: async () => ({ kind: 'lead', lockId: 'l' }),
  publish: async () => {},
  release: async () => {},
  peek: async () => ({ kind: 'free' }),
}

describe('single flight in one isolate', () => {
  it('regression: the back-off map stays bounded: many failing refresh tokens evict the oldest rests, not memory', async () => {
    // It used to grow by one entry per failing session, never freed.
    const calls = new Map<string, number>()
    const failing = (token: string) => async () => {
      calls.set(token, (calls.get(token) ?? 0) + 1)
      return { reason: 'transient' as const, detail: 'down' }
    }
    const flight = createSingleFlight({ store: forgetfulStore, sealer: createSealer([SECRET]), retryAfterMs: 60_000, logger: quietLogger })
    const tokens = Array.from({ length: 1200 }, (_, i) => `refresh-token-${i}`)
    for (const token of tokens) expect((await flight.refresh(token, failing(token), 1000)).reason).toBe('transient')
    // The newest rests are still there; the oldest were dropped to keep the map at its bound.
    expect((await flight.refresh(tokens[1199]!, failing(tokens[1199]!), 1000)).reason).toBe('backoff')
    expect((await flight.refresh(tokens[0]!, failing(tokens[0]!), 1000)).reason).toBe('transient')
    expect(calls.get(tokens[1199]!)).toBe(1)
    expect(calls.get(tokens[0]!)).toBe(2)
  })
})
