/**
 * The middleware's public report spells out the engine's reasons and sources as its own unions, so
 * that the published types name no internals. These fail to compile when the two drift apart.
 */
import { describe, expectTypeOf, it } from 'vitest'
import type { RefreshReason, RefreshSource } from 'next-auth-edge-refresh'
import type { EngineResult } from '../lib/refresh/engine'
import type { FlightSource } from '../lib/refresh/single-flight'

describe('the report unions match the engine', () => {
  it('RefreshReason is every reason the engine returns', () => {
    expectTypeOf<RefreshReason>().toEqualTypeOf<EngineResult['reason']>()
  })
  it('RefreshSource is every source of a flight result', () => {
    expectTypeOf<RefreshSource>().toEqualTypeOf<FlightSource>()
  })
})
