/**
 * The real app for end-to-end tests: `next build` once, `next start` as many times as needed.
 * Node only (child processes, file system).
 *
 * - {@link ensureNextBuild} builds at most once for a given source tree: it hashes the sources
 *   that go into the build and skips `next build` when `.next/` was built from the same hash. A
 *   lock directory serializes builders, so two test files (or two vitest runs) never build at once
 *   and a second caller waits, then finds the build done. `EDGE_TESTS_REBUILD=1` forces a build.
 * - {@link startNextServer} runs `next start` on 127.0.0.1 with exactly the environment given (plus
 *   PATH/HOME/locale), so variables from the developer's shell cannot leak into a test.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { guardProcessGroup, stopProcessGroup } from './child-guard'
import { createHash } from 'node:crypto'
import {
  createWriteStream,
  type WriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Project root (this file is testkit/next-app.ts). */
export const ROOT = fileURLToPath(new URL('../', import.meta.url))
/** Where build and server logs go (gitignored). */
export const ARTIFACTS = join(ROOT, 'artifacts')

const NEXT_BIN = createRequire(import.meta.url).resolve('next/dist/bin/next')
const MARKER = join(ROOT, '.next', 'edge-tests-build.json')
/** The whole output (stdout and stderr) of the `next build` that made `.next/`, kept with it. */
const BUILD_OUTPUT = join(ROOT, '.next', 'edge-tests-build.log')
const LOCK_DIR = join(ROOT, 'node_modules', '.cache', 'edge-tests-next-build.lock')

/** `next build` on 2 cores takes well under a minute; this is the hard limit. */
const BUILD_TIMEOUT_MS = 5 * 60_000
/** How long a caller waits for another process's build (lock) before giving up. */
const LOCK_WAIT_MS = BUILD_TIMEOUT_MS + 30_000
/** `next start` is ready in well under a second after a build; this is the hard limit. */
const START_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 5_000

/** Files and folders whose content goes into the build (relative to the root). */
const BUILD_INPUTS = [
  'app',
  'lib',
  'public',
  // Next 16's proxy (Node); a middleware.ts (edge), if one came back, would be built too.
  'proxy.ts',
  'middleware.ts',
  'env.ts',
  'auth.ts',
  'refresh-options.ts',
  'instrumentation.ts',
  'db',
  'next.config.ts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
]

/** SHA-256 over the paths and contents of every build input, and the Next.js version. */
export function sourceHash(): string {
  const hash = createHash('sha256')
  hash.update(
    `next@${(JSON.parse(readFileSync(createRequire(import.meta.url).resolve('next/package.json'), 'utf8')) as { version: string }).version}\n`,
  )
  const visit = (path: string, depth: number): void => {
    if (depth > 20 || !existsSync(path)) return
    const stat = statSync(path)
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path).sort()) visit(join(path, entry), depth + 1)
    } else if (stat.isFile()) {
      hash.update(`${relative(ROOT, path)}\n`)
      hash.update(readFileSync(path))
      hash.update('\n')
    }
  }
  for (const input of BUILD_INPUTS) visit(join(ROOT, input), 0)
  return hash.digest('hex')
}

/** The source hash `.next/` was built from; undefined without a build (or without its output, kept since). */
function builtHash(): string | undefined {
  if (!existsSync(BUILD_OUTPUT)) return undefined
  try {
    return (JSON.parse(readFileSync(MARKER, 'utf8')) as { hash?: string }).hash
  } catch {
    return undefined
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Takes the lock directory; clears it when its owner died. Resolves once held. */
async function acquireLock(): Promise<void> {
  mkdirSync(join(LOCK_DIR, '..'), { recursive: true })
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      mkdirSync(LOCK_DIR)
      writeFileSync(join(LOCK_DIR, 'owner'), String(process.pid))
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    let owner = Number.NaN
    try {
      owner = Number(readFileSync(join(LOCK_DIR, 'owner'), 'utf8'))
    } catch {
      // the owner has not written its pid yet
    }
    if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
      rmSync(LOCK_DIR, { recursive: true, force: true })
      continue
    }
    if (Date.now() > deadline) throw new Error(`next build lock ${LOCK_DIR} still held by pid ${owner} after ${LOCK_WAIT_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

function releaseLock(): void {
  rmSync(LOCK_DIR, { recursive: true, force: true })
}

/** The environment every child gets: enough to run, nothing from the app's configuration. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1' }
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ'] as const) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return env
}

/**
 * Writes a child's stdout and stderr to `log` and keeps its last `lines` lines in memory, for the
 * error message when it fails.
 */
function captureOutput(child: ChildProcess, log: WriteStream, lines: number): string[] {
  const tail: string[] = []
  const keep = (chunk: Buffer) => {
    log.write(chunk)
    tail.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    tail.splice(0, Math.max(0, tail.length - lines))
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return tail
}

/** Runs `next build` unless `.next/` already holds a build of the current sources. */
export async function ensureNextBuild(): Promise<{ built: boolean; hash: string }> {
  const force = process.env.EDGE_TESTS_REBUILD === '1'
  const hash = sourceHash()
  if (!force && builtHash() === hash) return { built: false, hash }
  await acquireLock()
  try {
    // Someone else may have built while this caller waited for the lock.
    if (!force && builtHash() === sourceHash()) return { built: false, hash }
    rmSync(MARKER, { force: true })
    mkdirSync(ARTIFACTS, { recursive: true })
    const logPath = join(ARTIFACTS, 'next-build.log')
    const log = createWriteStream(logPath)
    const child = spawn(process.execPath, [NEXT_BIN, 'build'], { cwd: ROOT, env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    const tail = captureOutput(child, log, 40)
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        resolve(`timeout after ${BUILD_TIMEOUT_MS} ms`)
      }, BUILD_TIMEOUT_MS)
      child.once('error', (error) => {
        clearTimeout(timer)
        resolve(error.message)
      })
      child.once('exit', (exitCode: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer)
        resolve(exitCode ?? String(signal))
      })
    })
    await new Promise((resolve) => log.end(resolve))
    if (code !== 0) throw new Error(`next build failed (${code}); see ${logPath}:\n${tail.join('\n')}`)
    // The output goes with the build it describes (`next build` empties .next/ first).
    writeFileSync(BUILD_OUTPUT, readFileSync(logPath))
    // Hash again after the build: `next build` may rewrite tsconfig.json (include paths).
    writeFileSync(MARKER, JSON.stringify({ hash: sourceHash(), builtAt: new Date().toISOString() }))
    return { built: true, hash }
  } finally {
    releaseLock()
  }
}

/**
 * Everything `next build` printed (stdout and stderr) when it made the current `.next/`, whether
 * this process built it or an earlier run did. Call after {@link ensureNextBuild}.
 */
export function readNextBuildOutput(): string {
  if (!existsSync(BUILD_OUTPUT)) throw new Error(`${BUILD_OUTPUT} is missing: run with EDGE_TESTS_REBUILD=1 to build again`)
  return readFileSync(BUILD_OUTPUT, 'utf8')
}

/** A running `next start`. */
export interface NextServer {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  /** The server's recent output (stdout and stderr), for failure messages. */
  output(): string
  /** Stops the server (SIGTERM to its process group, SIGKILL after 5 s). */
  stop(): Promise<void>
}

/** Where and how {@link startNextServer} runs `next start`. */
export interface NextServerOptions {
  port: number
  /** The app's environment (NEXTAUTH_SECRET, OIDC_*, …); nothing else from this process leaks in. */
  env: Record<string, string>
  /** Log file name (without `.log`). Default `next-start-<port>`. */
  name?: string
  /** The app's folder. Default: this repository's demo. */
  cwd?: string
  /** The `next` binary to run. Default: this repository's. */
  nextBin?: string
  /** Where the log goes. Default artifacts/. */
  logDir?: string
  /** The environment under `env`. Default: PATH, HOME, locale and `NODE_ENV=production`. */
  baseEnv?: NodeJS.ProcessEnv
}

/**
 * Runs `next start -H 127.0.0.1 -p <port>` on an existing build (the demo's, or an app's given by
 * `cwd` and `nextBin`) and resolves once it answers HTTP.
 */
export async function startNextServer(options: NextServerOptions): Promise<NextServer> {
  const { port } = options
  const url = `http://127.0.0.1:${port}`
  const logDir = options.logDir ?? ARTIFACTS
  mkdirSync(logDir, { recursive: true })
  const log = createWriteStream(join(logDir, `${options.name ?? `next-start-${port}`}.log`))
  // detached: its own process group, so stop() reaches any worker it forks.
  const child = spawn(process.execPath, [options.nextBin ?? NEXT_BIN, 'start', '--hostname', '127.0.0.1', '--port', String(port)], {
    cwd: options.cwd ?? ROOT,
    env: { ...(options.baseEnv ?? baseEnv()), ...options.env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  // Killed with its forks if the test process exits without stop().
  guardProcessGroup(child)
  const tail = captureOutput(child, log, 60)
  let exited: string | undefined
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      exited = signal ?? `code ${String(code)}`
      resolve()
    })
  })
  const output = () => tail.join('\n')

  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    if (exited === undefined) await stopProcessGroup(child, exitedPromise, STOP_TIMEOUT_MS)
    await new Promise((resolve) => log.end(resolve))
  }

  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (exited !== undefined)
      throw new Error(`next start on port ${port} (${options.cwd ?? ROOT}) exited (${exited}) before it was ready:\n${output()}`)
    try {
      // Outside every middleware matcher here and needs no session: any HTTP answer means ready.
      const response = await fetch(`${url}/favicon.ico`, { signal: AbortSignal.timeout(2_000) })
      await response.arrayBuffer()
      return { url, port, output, stop }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`next start on port ${port} (${options.cwd ?? ROOT}) did not answer within ${START_TIMEOUT_MS} ms:\n${output()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The middleware entry of `.next/server/middleware-manifest.json` (Next 16.4, version 3). */
export interface MiddlewareManifest {
  version: number
  middleware: Record<
    string,
    {
      name: string
      page: string
      entrypoint?: string
      files: string[]
      matchers: Array<{ regexp: string; originalSource: string }>
      env?: Record<string, string>
    }
  >
  sortedMiddleware: string[]
  functions: Record<string, unknown>
}

/** Reads the built middleware manifest. */
export function readMiddlewareManifest(): MiddlewareManifest {
  return JSON.parse(readFileSync(join(ROOT, '.next', 'server', 'middleware-manifest.json'), 'utf8')) as MiddlewareManifest
}
