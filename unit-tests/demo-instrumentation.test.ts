// @vitest-environment node
/**
 * The demo's instrumentation.ts: in development on Node it registers an SDK that prints each of the
 * package's spans as one line, so a storm run in `npm run dev` shows its single flight as spans.
 */
import { trace } from '@opentelemetry/api'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { openTelemetry } from '../lib/otel'
import { register } from '../instrumentation'

afterEach(() => {
  trace.disable()
  vi.unstubAllEnvs()
  vi.restoreAllMocks()
})

describe('demo instrumentation', () => {
  it('prints a refresh span and its provider-call child as lines, with outcome and source, and no token', () => {
    vi.stubEnv('NEXT_RUNTIME', 'nodejs')
    vi.stubEnv('NODE_ENV', 'development')
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    register()
    const refresh = openTelemetry().startRefresh('oidc')
    refresh.providerCall()('refreshed')
    refresh.end('refreshed', 'provider')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(
      /^\[otel\] [0-9a-f]{8} {3}└ edge-refresh\.provider\.refresh provider=oidc provider\.outcome=refreshed [\d.]+ ms$/,
    )
    expect(lines[1]).toMatch(/^\[otel\] [0-9a-f]{8} edge-refresh\.refresh provider=oidc outcome=refreshed source=provider [\d.]+ ms$/)
    expect(lines[0]!.slice(7, 15)).toBe(lines[1]!.slice(7, 15))
  })

  it('registers nothing in production', () => {
    vi.stubEnv('NEXT_RUNTIME', 'nodejs')
    vi.stubEnv('NODE_ENV', 'production')
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    register()
    openTelemetry().startRefresh('oidc').end('refreshed', 'provider')
    expect(log).not.toHaveBeenCalled()
  })
})
