/**
 * Separate edge isolates for cross-isolate tests and the benchmark: the middleware is bundled once
 * (esbuild, edge conditions) and evaluated in N `EdgeVM` contexts that share nothing but the network.
 * Node-only (it creates VMs).
 */
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { EdgeVM } from '@edge-runtime/vm'
import type { IsolateConfig, IsolateResponse } from './isolate-entry'

export type { IsolateConfig, IsolateResponse }

let bundled: Promise<string> | undefined

/** Bundles `isolate-entry.ts` as an edge bundle, once per process. */
export function isolateBundle(): Promise<string> {
  bundled ??= build({
    entryPoints: [fileURLToPath(new URL('./isolate-entry.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    conditions: ['edge-light', 'worker', 'browser'],
    write: false,
    logLevel: 'error',
    // next/server's bundled ua-parser reads __dirname at load; the Next.js edge sandbox defines it too.
    define: { 'process.env.NODE_ENV': '"production"', __dirname: '"/"' },
  }).then((result) => result.outputFiles[0]!.text)
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
    const vm = new EdgeVM({ extend: (context) => Object.assign(context, { process: { env: { NODE_ENV: 'production' } } }) })
    vm.evaluate(code)
    const api = vm.context.__edgeRefresh as typeof globalThis.__edgeRefresh
    api.configure(config)
    return {
      handle: async (url, cookie, background = false) => JSON.parse(JSON.stringify(await api.handle(url, cookie, background))) as IsolateResponse,
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
