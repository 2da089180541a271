/**
 * Separate edge isolates for cross-isolate tests and the benchmark: the middleware is bundled once
 * (esbuild, edge conditions) and evaluated in N `EdgeVM` contexts that share nothing but the network.
 * Node-only (it creates VMs).
 */
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { EdgeVM } from '@edge-runtime/vm'
import type { DatabaseIsolateResponse } from './database-isolate-entry'
import type { IsolateConfig, IsolateResponse } from './isolate-entry'

export type { DatabaseIsolateResponse, IsolateConfig, IsolateResponse }

const bundles = new Map<string, Promise<string>>()

/** Bundles `isolate-entry.ts` as an edge bundle, once per process. */
export function isolateBundle(): Promise<string> {
  return bundleForEdge('./isolate-entry.ts')
}

/** Bundles one entry of this folder (a path relative to it) as an edge bundle (as Next.js builds middleware), once per process. */
export function bundleForEdge(entry: string): Promise<string> {
  const existing = bundles.get(entry)
  if (existing) return existing
  const bundled = build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    conditions: ['edge-light', 'worker', 'browser'],
    write: false,
    logLevel: 'error',
    // next/server's bundled ua-parser reads __dirname at load; the Next.js edge sandbox defines it too.
    define: { 'process.env.NODE_ENV': '"production"', __dirname: '"/"' },
  }).then((result) => result.outputFiles[0]!.text)
  bundles.set(entry, bundled)
  return bundled
}

/** One isolate, driven from the host. */
export interface Isolate {
  handle(url: string, cookie: string, background?: boolean): Promise<IsolateResponse>
  settle(): Promise<void>
  redisRequests(): number
  providerRequests(): number
}

/** Creates `count` isolates, each with its own middleware built from `config`. */
export async function startIsolates(count: number, config: IsolateConfig): Promise<Isolate[]> {
  const code = await isolateBundle()
  return Array.from({ length: count }, () => {
    // Next.js gives edge code a `process.env`; nothing else from Node.
    const vm = edgeVM(code, {})
    const api = vm.context.__edgeRefresh as typeof globalThis.__edgeRefresh
    api.configure(config)
    return {
      handle: async (url, cookie, background = false) =>
        JSON.parse(JSON.stringify(await api.handle(url, cookie, background))) as IsolateResponse,
      settle: () => api.settle(),
      redisRequests: () => api.redisRequests(),
      providerRequests: () => api.providerRequests(),
    }
  })
}

/** Reads the session cookie value out of an isolate's `Set-Cookie` lines. */
export function sessionCookieValue(setCookie: readonly string[], name: string): string | undefined {
  const line = setCookie.find((entry) => entry.startsWith(`${name}=`))
  return line ? decodeURIComponent(line.slice(name.length + 1).split(';')[0]!) : undefined
}

/** One isolate running the database-session middleware of `examples/database-sessions`. */
export interface DatabaseIsolate {
  handle(url: string, cookie: string, kind?: 'navigation' | 'api'): Promise<DatabaseIsolateResponse>
  settle(): Promise<void>
}

/**
 * Creates `count` isolates, each evaluating `examples/database-sessions/middleware.ts` with `env`
 * as its `process.env` (the example reads its configuration there, as on Vercel).
 */
export async function startDatabaseIsolates(count: number, env: Record<string, string>): Promise<DatabaseIsolate[]> {
  const code = await bundleForEdge('./database-isolate-entry.ts')
  return Array.from({ length: count }, () => {
    const api = edgeVM(code, env).context.__databaseEdge as typeof globalThis.__databaseEdge
    return {
      handle: async (url, cookie, kind = 'navigation') =>
        JSON.parse(JSON.stringify(await api.handle(url, cookie, kind))) as DatabaseIsolateResponse,
      settle: () => api.settle(),
    }
  })
}

/** A fresh EdgeVM with `code` evaluated. Next.js gives edge code a `process.env`; nothing else from Node. */
/** A new EdgeVM with `code` evaluated; Next.js gives edge code a `process.env` (`env` here), nothing else from Node. */
export function edgeVM(code: string, env: Record<string, string>): EdgeVM {
  const vm = new EdgeVM({ extend: (context) => Object.assign(context, { process: { env: { ...env, NODE_ENV: 'production' } } }) })
  vm.evaluate(code)
  return vm
}
