/**
 * Entry point of the bundle that bench/fast-path-edge.ts evaluates in an `EdgeVM`: the refresh
 * middleware of the built package and a bare `getToken` middleware (next-auth v4), both bundled for
 * the edge, so both run on the edge builds of next-auth, jose and next/server, with `EdgeRuntime`
 * defined, as Next.js runs middleware.
 *
 * Requests are built first (untimed) and then sent in one timed loop, timed here with the VM's own
 * `performance.now`; the host sees only the per-request figure. Cookie headers come from the host
 * as strings, and each request parses its own copy of the values, as in production.
 */
import { getToken } from 'next-auth/jwt'
import { NextRequest, NextResponse } from 'next/server'
import { createRefreshMiddleware, type RefreshMiddleware } from 'next-auth-edge-refresh'

/** Web Crypto methods whose calls {@link FastPathEdge.countSubtleCalls} counts. */
const SUBTLE_METHODS = ['importKey', 'deriveBits', 'deriveKey', 'decrypt', 'encrypt', 'digest', 'sign', 'verify'] as const
type SubtleMethod = (typeof SUBTLE_METHODS)[number]

/** The bench's handle on the VM. Every value that crosses back to the host is plain data. */
export interface FastPathEdge {
  /** The VM's `EdgeRuntime` global (Next.js and EdgeVM: `'edge-runtime'`), or its `typeof`. */
  edgeRuntime(): string
  /** Sets the secret both middlewares read with. */
  configure(secret: string): void
  /** Stores a set of cookie headers in the VM under `name`. */
  addSessions(name: string, headers: readonly string[]): void
  /** A new refresh middleware (empty judged cache; the isolate's derived keys stay); its id. */
  newMiddleware(): number
  /** Forgets a middleware made by {@link newMiddleware}. */
  dropMiddleware(id: number): void
  /** Builds `count` new requests cycling through the set `name` from `offset`, for the next {@link run}. */
  prepare(name: string, count: number, offset: number): void
  /** Sends the prepared requests one after the other through `handler`; mean µs per request. */
  run(handler: 'bare' | number): Promise<number>
  /** From now on, counts this VM's Web Crypto calls by method (wraps `crypto.subtle`'s methods). */
  countSubtleCalls(): void
  /** Web Crypto calls counted so far, by method. */
  subtleCalls(): Record<SubtleMethod, number>
  /** Calls to the provider's `refresh` (none expected: every session is fresh). */
  providerCalls(): number
}

declare global {
  var __fastPathEdge: FastPathEdge
}

let secret = ''
const sessions = new Map<string, string[]>()
const middlewares = new Map<number, RefreshMiddleware>()
let nextId = 0
let prepared: NextRequest[] = []
const subtleCounts = Object.fromEntries(SUBTLE_METHODS.map((method) => [method, 0])) as Record<SubtleMethod, number>

let providerCalls = 0
const noProvider = {
  kind: 'bench',
  refresh: () => {
    providerCalls++
    return Promise.resolve({ reason: 'transient' as const, detail: 'bench: sessions are fresh, no provider call' })
  },
}
const bareMiddleware = async (request: NextRequest) => {
  await getToken({ req: request as never, secret })
  return NextResponse.next()
}

globalThis.__fastPathEdge = {
  edgeRuntime() {
    const value = (globalThis as { EdgeRuntime?: unknown }).EdgeRuntime
    return typeof value === 'string' ? value : typeof value
  },
  configure(value) {
    secret = value
  },
  addSessions(name, headers) {
    sessions.set(name, [...headers])
  },
  newMiddleware() {
    const id = nextId++
    middlewares.set(id, createRefreshMiddleware({ secret, providers: { oidc: noProvider }, logger: { warn: () => {}, error: () => {} } }))
    return id
  },
  dropMiddleware(id) {
    middlewares.delete(id)
  },
  prepare(name, count, offset) {
    const headers = sessions.get(name)
    if (!headers) throw new Error(`no sessions named ${name}`)
    prepared = Array.from(
      { length: count },
      (_, i) =>
        new NextRequest(`http://app.test/page/${i}`, {
          headers: { cookie: headers[(offset + i) % headers.length]!, accept: 'text/html', 'sec-fetch-mode': 'navigate' },
        }),
    )
  },
  async run(handler) {
    const middleware = handler === 'bare' ? bareMiddleware : middlewares.get(handler)
    if (!middleware) throw new Error(`no middleware ${handler}`)
    const requests = prepared
    prepared = []
    const t0 = performance.now()
    for (const request of requests) {
      const response = await middleware(request)
      if (response.status >= 500) throw new Error(`status ${response.status}`)
    }
    return ((performance.now() - t0) * 1000) / requests.length
  },
  countSubtleCalls() {
    const subtle = crypto.subtle as unknown as Record<SubtleMethod, (...args: unknown[]) => unknown>
    for (const method of SUBTLE_METHODS) {
      const original = subtle[method].bind(crypto.subtle)
      subtle[method] = (...args) => {
        subtleCounts[method]++
        return original(...args)
      }
    }
  },
  subtleCalls() {
    return { ...subtleCounts }
  },
  providerCalls() {
    return providerCalls
  },
}
