/**
 * A store for the coordinator's unit tests: the contract of lib/stores/store.ts over plain maps, on
 * the test's (fake) clock, with faults a test switches per operation: fail, hang past the budget,
 * or answer late. It also loses a lock or a result on demand, the way a Redis failover does.
 */
import type { AttemptMark, ClaimResult, ExtendResult, PeekResult, RefreshStore } from '../../lib/stores/store'

type Operation = 'claim' | 'publish' | 'extend' | 'peek' | 'shorten'
/** `fail`: rejects at once; `hang`: never answers; a number: answers (and takes effect) that many ms late. */
export type StoreFault = 'fail' | 'hang' | number

interface Entry {
  value: string
  expiresAt: number
}

export class FakeStore implements RefreshStore {
  readonly kind = 'fake'
  readonly results = new Map<string, Entry>()
  readonly locks = new Map<string, Entry>()
  readonly attempts = new Map<string, Entry>()
  /** Operations answered, by name (faulted ones included). */
  readonly counts: Record<Operation, number> = { claim: 0, publish: 0, extend: 0, peek: 0, shorten: 0 }
  private readonly faults = new Map<Operation, StoreFault>()
  private lockSeq = 0

  constructor(private readonly now: () => number = Date.now) {}

  /** Every later call of `operation` meets `fault`; `undefined` heals it. */
  fault(operation: Operation, fault: StoreFault | undefined): void {
    if (fault === undefined) this.faults.delete(operation)
    else this.faults.set(operation, fault)
  }
  /** Every operation meets `fault` (a store that is down or slow). */
  faultAll(fault: StoreFault | undefined): void {
    for (const operation of Object.keys(this.counts) as Operation[]) this.fault(operation, fault)
  }
  loseLock(key: string): boolean {
    return this.locks.delete(key)
  }
  loseResult(key: string): boolean {
    return this.results.delete(key)
  }
  lockOf(key: string): string | undefined {
    return this.live(this.locks, key)?.value
  }
  resultOf(key: string): string | undefined {
    return this.live(this.results, key)?.value
  }
  attemptOf(key: string): string | undefined {
    return this.live(this.attempts, key)?.value
  }

  claim(key: string, leaseMs: number, attempt?: AttemptMark): Promise<ClaimResult> {
    return this.run('claim', () => {
      const result = this.live(this.results, key)
      if (result) return { kind: 'result', sealed: result.value }
      const lock = this.live(this.locks, key)
      if (lock) return { kind: 'wait', lockTtlMs: lock.expiresAt - this.now() }
      const mark = this.live(this.attempts, key)
      if (mark) return { kind: 'attempted', sealed: mark.value }
      const lockId = `lock-${++this.lockSeq}`
      this.locks.set(key, { value: lockId, expiresAt: this.now() + leaseMs })
      if (attempt) this.attempts.set(key, { value: attempt.sealed, expiresAt: this.now() + attempt.ttlMs })
      return { kind: 'lead', lockId }
    })
  }
  publish(key: string, lockId: string, sealed: string, ttlMs: number): Promise<void> {
    return this.run('publish', () => {
      this.results.set(key, { value: sealed, expiresAt: this.now() + ttlMs })
      this.attempts.delete(key)
      if (this.live(this.locks, key)?.value === lockId) this.locks.delete(key)
    })
  }
  extend(key: string, lockId: string, leaseMs: number): Promise<ExtendResult> {
    return this.run('extend', () => {
      const lock = this.live(this.locks, key)
      if (lock && lock.value !== lockId) return 'lost'
      this.locks.set(key, { value: lockId, expiresAt: this.now() + leaseMs })
      return lock ? 'extended' : 'retaken'
    })
  }
  peek(key: string): Promise<PeekResult> {
    return this.run('peek', () => {
      const result = this.live(this.results, key)
      if (result) return { kind: 'result', sealed: result.value }
      if (this.live(this.locks, key)) return { kind: 'locked' }
      const mark = this.live(this.attempts, key)
      return mark ? { kind: 'attempted', sealed: mark.value } : { kind: 'free' }
    })
  }
  shorten(key: string, ttlMs: number): Promise<void> {
    return this.run('shorten', () => {
      const result = this.live(this.results, key)
      if (result) result.expiresAt = Math.min(result.expiresAt, this.now() + ttlMs)
    })
  }

  private run<T>(operation: Operation, apply: () => T): Promise<T> {
    this.counts[operation]++
    const fault = this.faults.get(operation)
    if (fault === 'fail') return Promise.reject(new Error(`fake store: ${operation} failed`))
    if (fault === 'hang') return new Promise<T>(() => {})
    if (typeof fault === 'number') return new Promise<T>((resolve) => setTimeout(() => resolve(apply()), fault))
    return Promise.resolve().then(apply)
  }

  private live(map: Map<string, Entry>, key: string): Entry | undefined {
    const entry = map.get(key)
    if (entry && entry.expiresAt <= this.now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }
}
