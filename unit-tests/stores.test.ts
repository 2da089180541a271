/** The stores' own rules, apart from the coordinator: memoryStore's bounds and the key naming. */
import { describe, expect, it } from 'vitest'
import { memoryStore } from '../lib/stores/memory-store'
import { createSealer } from '../lib/refresh/sealing'

describe('memoryStore', () => {
  it('regression: memoryStore evicted live locks once full, so single flight silently stopped being single', async () => {
    let now = 1_000
    const store = memoryStore({ now: () => now, maxEntries: 3 })
    for (const key of ['a', 'b', 'c']) expect((await store.claim(key, 10_000)).kind).toBe('lead')
    // Full of live locks: a new key waits rather than evict one of them.
    expect((await store.claim('d', 10_000)).kind).toBe('wait')
    for (const key of ['a', 'b', 'c']) expect((await store.claim(key, 10_000)).kind).toBe('wait')
    // Once a lease has lapsed its slot is free again.
    now += 10_001
    expect((await store.claim('d', 10_000)).kind).toBe('lead')
  })

  it('keeps an attempt mark past the lease until a publish removes it', async () => {
    let now = 0
    const store = memoryStore({ now: () => now })
    expect((await store.claim('k', 1_000, { sealed: 'mark', ttlMs: 60_000 })).kind).toBe('lead')
    now += 2_000
    expect(await store.claim('k', 1_000)).toEqual({ kind: 'attempted', sealed: 'mark' })
    expect(await store.peek('k')).toEqual({ kind: 'attempted', sealed: 'mark' })
    await store.publish('k', 'late', 'result', 5_000)
    expect(await store.peek('k')).toEqual({ kind: 'result', sealed: 'result' })
  })

  it('extend keeps its own lock, takes a lost one back, and reports another holder', async () => {
    const store = memoryStore({ now: () => 0 })
    const claim = await store.claim('k', 1_000)
    if (claim.kind !== 'lead') throw new Error('expected to lead')
    expect(await store.extend('k', claim.lockId, 1_000)).toBe('extended')
    expect(await store.extend('other-key', 'someone', 1_000)).toBe('retaken')
    expect(await store.extend('k', 'not-the-holder', 1_000)).toBe('lost')
  })
})

describe('store keys', () => {
  it('regression: the store key was an unkeyed SHA-256 of the refresh token, which anyone holding the token could compute', async () => {
    const token = 'a-refresh-token'
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token)))
    const sha256 = btoa(String.fromCharCode(...digest))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '')
    const key = await createSealer(['secret-one']).keyFor(token)
    expect(key).not.toBe(sha256)
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // Stable per secret (isolates agree), different under another secret.
    expect(await createSealer(['secret-one']).keyFor(token)).toBe(key)
    expect(await createSealer(['secret-two']).keyFor(token)).not.toBe(key)
  })
})
