/**
 * The example apps in examples/ as a consumer meets them: the package packed with `npm pack`, each
 * app copied outside the repository and installed from that tarball, then `tsc`, `next build` and
 * `next start` run in the copy with its own node_modules. Node only (child processes, file system).
 *
 * Nothing here points the copies back at the repository: no workspace, no symlink, no tsconfig
 * path. {@link installExample} checks that the installed package is a plain copy of the tarball.
 */
import { spawn } from 'node:child_process'
import { guardProcessGroup, killProcessGroup } from '../../testkit/child-guard'
import {
  cpSync,
  createWriteStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join, relative, sep } from 'node:path'
import { ARTIFACTS, ROOT, startNextServer } from '../../testkit/next-app'

/** Where the example apps live in the repository. */
export const EXAMPLES_DIR = join(ROOT, 'examples')
/** Logs of every child process of these tests (gitignored). */
export const EXAMPLE_ARTIFACTS = join(ARTIFACTS, 'examples')

/** Never copied from an example: build and install output of a developer's own runs. */
const NOT_COPIED = new Set(['node_modules', '.next', 'next-env.d.ts', 'tsconfig.tsbuildinfo', 'package-lock.json'])

const PACK_TIMEOUT_MS = 120_000
const INSTALL_TIMEOUT_MS = 5 * 60_000
const TSC_TIMEOUT_MS = 120_000
const BUILD_TIMEOUT_MS = 5 * 60_000

/** The environment every child gets: enough to run, nothing from the developer's app configuration. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string> = { NEXT_TELEMETRY_DISABLED: '1' }
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR'] as const) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  // NODE_ENV only where given (next build / start): vitest's NODE_ENV=test must not reach npm.
  return { ...env, ...extra } as NodeJS.ProcessEnv
}

/** What a finished child process left behind. */
export interface ChildResult {
  /** Exit code, or a description (signal, timeout, spawn error). */
  code: number | string
  /** stdout and stderr, interleaved as they arrived. */
  output: string
  durationMs: number
}

/** Runs a command to completion (bounded by `timeoutMs`), logging to `artifacts/examples/<log>.log`. */
export async function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; log: string },
): Promise<ChildResult> {
  mkdirSync(EXAMPLE_ARTIFACTS, { recursive: true })
  const log = createWriteStream(join(EXAMPLE_ARTIFACTS, `${options.log}.log`))
  const started = Date.now()
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  // Killed with what it forked if the test process exits while it runs.
  guardProcessGroup(child)
  const chunks: Buffer[] = []
  const keep = (chunk: Buffer) => {
    chunks.push(chunk)
    log.write(chunk)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => {
      killProcessGroup(child, 'SIGKILL')
      resolve(`timeout after ${options.timeoutMs} ms`)
    }, options.timeoutMs)
    child.once('error', (error) => {
      clearTimeout(timer)
      resolve(error.message)
    })
    child.once('close', (exitCode: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer)
      resolve(exitCode ?? String(signal))
    })
  })
  await new Promise((resolve) => log.end(resolve))
  return { code, output: Buffer.concat(chunks).toString('utf8'), durationMs: Date.now() - started }
}

/** The last `lines` lines of a child's output, for failure messages. */
export function tail(output: string, lines = 40): string {
  return output.split('\n').slice(-lines).join('\n')
}

/** `npm pack` of lib/ (its prepack builds dist/) into `destination`; returns the tarball's path. */
export async function packLib(destination: string): Promise<string> {
  mkdirSync(destination, { recursive: true })
  const result = await run('npm', ['pack', '--pack-destination', destination], {
    cwd: join(ROOT, 'lib'),
    env: cleanEnv(),
    timeoutMs: PACK_TIMEOUT_MS,
    log: 'npm-pack',
  })
  const tarballs = readdirSync(destination).filter((name) => name.endsWith('.tgz'))
  if (result.code !== 0 || tarballs.length !== 1) {
    throw new Error(`npm pack in lib/ failed (${result.code}, tarballs: ${tarballs.join(', ') || 'none'}):\n${tail(result.output)}`)
  }
  return join(destination, tarballs[0]!)
}

/** An example app copied out of the repository and installed. */
export interface InstalledExample {
  name: string
  /** The copy's directory (outside the repository). */
  dir: string
  /** Versions installed in the copy. */
  versions: Record<'next' | 'next-auth' | 'next-auth-edge-refresh', string>
  installMs: number
}

function installedVersion(dir: string, name: string): string {
  const manifest: unknown = JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8'))
  if (typeof manifest !== 'object' || manifest === null || !('version' in manifest) || typeof manifest.version !== 'string') {
    throw new Error(`${name} in ${dir} has no version`)
  }
  return manifest.version
}

/** Copies `examples/<name>` to `<workDir>/<name>`, without node_modules, .next, … (and the lockfile unless `keep` names it). */
function copyExample(name: string, workDir: string, keep: ReadonlySet<string> = new Set()): string {
  const source = join(EXAMPLES_DIR, name)
  const dir = join(workDir, name)
  cpSync(source, dir, {
    recursive: true,
    filter: (path) => {
      const parts = relative(source, path).split(sep)
      return !parts.some((part) => (NOT_COPIED.has(part) && !keep.has(part)) || part.endsWith('.tsbuildinfo'))
    },
  })
  return dir
}

/** Checks that the installed package is a plain copy of the tarball, not a link back into the repository. */
function expectTarballCopy(dir: string, workDir: string): void {
  const installed = join(dir, 'node_modules', 'next-auth-edge-refresh')
  if (lstatSync(installed).isSymbolicLink() || !realpathSync(installed).startsWith(`${realpathSync(workDir)}${sep}`)) {
    throw new Error(`next-auth-edge-refresh in ${dir} is not a copy of the packed tarball: ${realpathSync(installed)}`)
  }
}

/**
 * Copies `examples/<name>` to `<workDir>/<name>` (without node_modules, .next, …), points its
 * `next-auth-edge-refresh` dependency at the tarball and runs `npm install`.
 */
export async function installExample(name: string, tarball: string, workDir: string): Promise<InstalledExample> {
  const dir = copyExample(name, workDir)
  const manifestPath = join(dir, 'package.json')
  const manifest: { dependencies?: Record<string, string> } = JSON.parse(readFileSync(manifestPath, 'utf8'))
  if (!manifest.dependencies?.['next-auth-edge-refresh'])
    throw new Error(`examples/${name}/package.json does not depend on next-auth-edge-refresh`)
  manifest.dependencies['next-auth-edge-refresh'] = `file:${tarball}`
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)

  // npm's own configuration (registry, CA file) comes from npmrc; the npm_* variables of an
  // enclosing `npm test` and vitest's NODE_ENV=test must not reach this install.
  const result = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: dir,
    env: cleanEnv(),
    timeoutMs: INSTALL_TIMEOUT_MS,
    log: `${name}-npm-install`,
  })
  if (result.code !== 0) {
    throw new Error(
      `npm install of the example ${name} in ${dir} failed (${result.code}); see artifacts/examples/${name}-npm-install.log:\n${tail(result.output)}`,
    )
  }

  // A plain copy of the tarball, not a link back into the repository.
  expectTarballCopy(dir, workDir)
  return {
    name,
    dir,
    versions: {
      next: installedVersion(dir, 'next'),
      'next-auth': installedVersion(dir, 'next-auth'),
      'next-auth-edge-refresh': installedVersion(dir, 'next-auth-edge-refresh'),
    },
    installMs: result.durationMs,
  }
}

/** Packages whose versions an app's lockfile fixes and the package shares with Auth.js. */
export const SHARED_DEPENDENCIES = ['jose', 'oauth4webapi'] as const
export type SharedDependency = (typeof SHARED_DEPENDENCIES)[number]

/** An example installed the way a user adds the package to an existing app. */
export interface AdoptedExample extends InstalledExample {
  /** Versions of {@link SHARED_DEPENDENCIES} in the committed lockfile. */
  locked: Record<SharedDependency, string>
  /** The same, as installed after `npm install <tarball>` (node_modules/<name>/package.json). */
  afterAdoption: Record<SharedDependency, string>
  /** Copies of {@link SHARED_DEPENDENCIES} nested under node_modules/next-auth-edge-refresh/node_modules. */
  nested: string[]
  /** Lockfile entries (path → version) other than next-auth-edge-refresh's that the adoption changed, added or removed. */
  lockfileChanges: string[]
  /** `npm install <tarball>` output lines that are warnings. */
  npmWarnings: string[]
  ciMs: number
  adoptMs: number
}

type LockfileEntries = Record<string, { version?: string }>

function lockfileEntries(dir: string): LockfileEntries {
  const lockfile: unknown = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'))
  if (typeof lockfile !== 'object' || lockfile === null || !('packages' in lockfile) || typeof lockfile.packages !== 'object')
    throw new Error(`${dir}/package-lock.json has no packages (lockfileVersion 3 expected)`)
  return lockfile.packages as LockfileEntries
}

/**
 * An existing app adopting the package, as a user would: `examples/<name>` (whose package.json does
 * not list the package) copied with its committed package-lock.json, `npm ci`, then
 * `npm install <tarball>`. Reports what the adoption did to the app's own dependencies.
 */
export async function adoptIntoExample(name: string, tarball: string, workDir: string): Promise<AdoptedExample> {
  if (!existsSync(join(EXAMPLES_DIR, name, 'package-lock.json')))
    throw new Error(
      `examples/${name}/package-lock.json is missing: generate it without next-auth-edge-refresh (see examples/${name}/README.md)`,
    )
  const dir = copyExample(name, workDir, new Set(['package-lock.json']))
  const before = lockfileEntries(dir)
  const locked = Object.fromEntries(
    SHARED_DEPENDENCIES.map((dependency) => {
      const version = before[`node_modules/${dependency}`]?.version
      if (!version) throw new Error(`examples/${name}/package-lock.json does not lock ${dependency}`)
      return [dependency, version]
    }),
  ) as Record<SharedDependency, string>

  const npmOptions = { cwd: dir, env: cleanEnv(), timeoutMs: INSTALL_TIMEOUT_MS }
  const ci = await run('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], { ...npmOptions, log: `${name}-npm-ci` })
  if (ci.code !== 0)
    throw new Error(
      `npm ci of the example ${name} in ${dir} failed (${ci.code}); see artifacts/examples/${name}-npm-ci.log:\n${tail(ci.output)}`,
    )
  const adopt = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
    ...npmOptions,
    log: `${name}-npm-install-package`,
  })
  if (adopt.code !== 0) {
    throw new Error(
      `npm install <tarball> in the example ${name} failed (${adopt.code}); see artifacts/examples/${name}-npm-install-package.log:\n${tail(adopt.output)}`,
    )
  }
  expectTarballCopy(dir, workDir)

  const after = lockfileEntries(dir)
  const lockfileChanges: string[] = []
  for (const path of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (path === '' || path === 'node_modules/next-auth-edge-refresh') continue
    const was = before[path]?.version
    const now = after[path]?.version
    if (was !== now) lockfileChanges.push(`${path}: ${was ?? '(absent)'} -> ${now ?? '(absent)'}`)
  }
  const packageModules = join(dir, 'node_modules', 'next-auth-edge-refresh', 'node_modules')
  return {
    name,
    dir,
    versions: {
      next: installedVersion(dir, 'next'),
      'next-auth': installedVersion(dir, 'next-auth'),
      'next-auth-edge-refresh': installedVersion(dir, 'next-auth-edge-refresh'),
    },
    installMs: ci.durationMs + adopt.durationMs,
    locked,
    afterAdoption: Object.fromEntries(SHARED_DEPENDENCIES.map((dependency) => [dependency, installedVersion(dir, dependency)])) as Record<
      SharedDependency,
      string
    >,
    nested: SHARED_DEPENDENCIES.filter((dependency) => existsSync(join(packageModules, dependency))),
    lockfileChanges,
    npmWarnings: adopt.output.split('\n').filter((line) => /^npm (warn|WARN)\b/.test(line)),
    ciMs: ci.durationMs,
    adoptMs: adopt.durationMs,
  }
}

/**
 * Adds a page whose client component imports the package's server entry, runs `next build` and
 * removes the page again. Leaves `.next` of a failed build behind: run it after the example's
 * other steps.
 */
export async function buildWithServerEntryInClient(example: InstalledExample, env: Record<string, string>): Promise<ChildResult> {
  const probe = join(example.dir, 'app', 'server-entry-in-client')
  mkdirSync(probe, { recursive: true })
  writeFileSync(
    join(probe, 'client-probe.tsx'),
    [
      "'use client'",
      '',
      "import { createRefreshMiddleware } from 'next-auth-edge-refresh'",
      '',
      'export function ClientProbe() {',
      '  return <p>{typeof createRefreshMiddleware}</p>',
      '}',
      '',
    ].join('\n'),
  )
  writeFileSync(
    join(probe, 'page.tsx'),
    ["import { ClientProbe } from './client-probe'", '', 'export default function Page() {', '  return <ClientProbe />', '}', ''].join(
      '\n',
    ),
  )
  try {
    return await buildExample(example, env, 'next-build-server-entry-in-client')
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}

/** Strict `tsc --noEmit` with the example's own tsconfig and TypeScript. */
export function typecheckExample(example: InstalledExample): Promise<ChildResult> {
  return run(process.execPath, [join(example.dir, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', example.dir], {
    cwd: example.dir,
    env: cleanEnv(),
    timeoutMs: TSC_TIMEOUT_MS,
    log: `${example.name}-tsc`,
  })
}

function nextBin(example: InstalledExample): string {
  return join(example.dir, 'node_modules', 'next', 'dist', 'bin', 'next')
}

/** `next build` in the copy, with `env` (the app's variables as the build sees them). */
export function buildExample(example: InstalledExample, env: Record<string, string>, log = 'next-build'): Promise<ChildResult> {
  return run(process.execPath, [nextBin(example), 'build'], {
    cwd: example.dir,
    env: buildEnv(env),
    timeoutMs: BUILD_TIMEOUT_MS,
    log: `${example.name}-${log}`,
  })
}

/** The whole environment `next build` runs with, given the app's variables. */
export function buildEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return cleanEnv({ NODE_ENV: 'production', ...env })
}

/** A running `next start` of an example. */
export interface ExampleServer {
  /** `http://127.0.0.1:<port>` */
  origin: string
  /** Recent output, for failure messages. */
  output(): string
  /** SIGTERM to its process group, SIGKILL after 5 s. */
  stop(): Promise<void>
}

/** `next start` on 127.0.0.1 in the copy; resolves once it answers HTTP. */
export async function startExample(
  example: InstalledExample,
  options: { port: number; env: Record<string, string>; log: string },
): Promise<ExampleServer> {
  const server = await startNextServer({
    port: options.port,
    env: options.env,
    name: options.log,
    cwd: example.dir,
    nextBin: nextBin(example),
    logDir: EXAMPLE_ARTIFACTS,
    baseEnv: cleanEnv({ NODE_ENV: 'production' }),
  })
  return { origin: server.url, output: () => server.output(), stop: () => server.stop() }
}

/**
 * Blocks of build output (separated by blank lines) that name one of `names`: the warnings about
 * those packages. webpack's "Import trace for requested module:" block stays with the warning
 * before it, so each block starts with the warning's own first line.
 */
export function blocksNaming(output: string, names: readonly string[]): string[] {
  const pattern = new RegExp(names.map((name) => name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'))
  const blocks: string[] = []
  for (const raw of output.split(/\n\s*\n/)) {
    const block = raw.trim()
    if (!block) continue
    if (block.startsWith('Import trace for requested module:') && blocks.length > 0) blocks[blocks.length - 1] += `\n\n${block}`
    else blocks.push(block)
  }
  return blocks.filter((block) => pattern.test(block))
}

/** Lines of build output that are warnings (`⚠`, webpack's `<w>`, `warn`). */
export function warningLines(output: string): string[] {
  return output.split('\n').filter((line) => /⚠|<w>|\bwarn(ing)?\b/i.test(line))
}

/** Source with comments removed (line comments after whitespace or at line start, and block comments). */
export function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1')
}

/** Source without import and export lists, whose `x as y` renames are not casts. */
export function withoutAliases(source: string): string {
  return source.replace(/\b(import|export)\s+(type\s+)?(\*\s+as\s+\w+|\{[^}]*\})/g, '$1')
}
