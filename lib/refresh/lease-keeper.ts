import type { ExtendResult } from '../stores/store.js'
import type { RefreshTiming } from './timing.js'

/** Options of {@link LeaseKeeper}. */
export interface LeaseKeeperOptions {
  /** One store round trip that extends (or takes back) the lock for `leaseMs`, within the store budget; never throws. */
  extend(leaseMs: number): Promise<{ ok: true; value: ExtendResult } | { ok: false; error: string }>
  timing: RefreshTiming
  /** Clock, epoch ms. */
  now: () => number
  /** When the lease granted by the claim ends at the earliest, epoch ms. */
  confirmedUntil: number
  /** Called once when the lock can no longer be vouched for: the leader must stop its call now. */
  onEndangered(why: string): void
}

/**
 * Keeps a leader's lock alive while its provider call is open, so that the lock lives at least as
 * long as the call it guards. Renews every third of the lease; each renewal that the store confirms
 * moves the end of the lease to `sent + leaseMs` (counted from when it was sent, never from when it
 * was answered, so the end is never placed later than it is). When renewals fail, the leader is told
 * `abortBeforeLeaseEndMs` before the last confirmed end: time for one more round trip (the in-doubt
 * mark) and a margin. A lock that another caller holds is reported at once.
 */
export class LeaseKeeper {
  private confirmedUntil: number
  private renewTimer: ReturnType<typeof setTimeout> | undefined
  private endangeredTimer: ReturnType<typeof setTimeout> | undefined
  private stopped = false

  constructor(private readonly options: LeaseKeeperOptions) {
    this.confirmedUntil = options.confirmedUntil
  }

  /** The end of the lease as far as the store confirmed it, epoch ms. */
  get leaseEndsAt(): number {
    return this.confirmedUntil
  }

  start(): void {
    this.armEndangered()
    this.scheduleRenewal(this.options.timing.renewEveryMs)
  }

  /** Stops renewing; the lock then lapses with its lease unless a publish released it. */
  stop(): void {
    this.stopped = true
    clearTimeout(this.renewTimer)
    clearTimeout(this.endangeredTimer)
  }

  private scheduleRenewal(delayMs: number): void {
    this.renewTimer = setTimeout(() => void this.renew(), delayMs)
  }

  private async renew(): Promise<void> {
    if (this.stopped) return
    const { timing, now } = this.options
    const sentAt = now()
    const answer = await this.options.extend(timing.leaseMs)
    if (this.stopped) return
    if (answer.ok && answer.value === 'lost') return this.endanger('another leader holds the lock')
    if (answer.ok) {
      this.confirmedUntil = Math.max(this.confirmedUntil, sentAt + timing.leaseMs)
      this.armEndangered()
      return this.scheduleRenewal(timing.renewEveryMs)
    }
    // The store did not confirm: try again soon; the endangered timer still stands guard.
    this.scheduleRenewal(Math.min(timing.renewEveryMs, timing.storeTimeoutMs))
  }

  private armEndangered(): void {
    clearTimeout(this.endangeredTimer)
    const at = this.confirmedUntil - this.options.timing.abortBeforeLeaseEndMs
    this.endangeredTimer = setTimeout(
      () => this.endanger('the store could not confirm the lock before its lease ran out'),
      Math.max(0, at - this.options.now()),
    )
  }

  private endanger(why: string): void {
    if (this.stopped) return
    this.stop()
    this.options.onEndangered(why)
  }
}
