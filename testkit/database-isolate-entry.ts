/**
 * Entry point of the bundle that the database-session edge test loads into separate EdgeVM
 * contexts: the README's own `examples/database-sessions/middleware.ts`, unchanged, configured by
 * the `process.env` each context is given. Only Upstash and the provider are shared.
 */
import { NextRequest } from 'next/server'
import { middleware } from '../examples/database-sessions/middleware'

/** What the host gets back for one request. */
export interface DatabaseIsolateResponse {
  status: number
  location: string | null
  setCookie: string[]
}

declare global {
  var __databaseEdge: {
    handle(url: string, cookie: string, kind: 'navigation' | 'api'): Promise<DatabaseIsolateResponse>
    settle(): Promise<void>
  }
}

const pending: Promise<unknown>[] = []

globalThis.__databaseEdge = {
  async handle(url, cookie, kind) {
    const headers: Record<string, string> =
      kind === 'navigation' ? { cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate' } : { cookie, accept: 'application/json' }
    const event = { waitUntil: (promise: Promise<unknown>) => void pending.push(promise) }
    const response = await middleware(new NextRequest(url, { headers }), event as never)
    return { status: response.status, location: response.headers.get('location'), setCookie: response.headers.getSetCookie() }
  },
  async settle() {
    await Promise.all(pending.splice(0))
  },
}
