/**
 * A throwaway PostgreSQL cluster (the Debian package's binaries) on loopback for tests: `initdb`
 * into a temporary directory, `postgres` on 127.0.0.1 with durability off, one database with the
 * adapter's schema (db/schema.sql). Nothing outlives the test process. Node only.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

import { guardChild, stopChild } from './child-guard'
import { findFreePort } from './http-json'
import { ROOT } from './next-app'

/** The one-line message thrown when the binaries are missing (CI installs them the same way). */
export const POSTGRES_NOT_FOUND_MESSAGE = 'PostgreSQL not found: run `apt-get install -y postgresql`'

const READY_TIMEOUT_MS = 20_000
const STOP_TIMEOUT_MS = 10_000
const DATABASE = 'edge_refresh'

/** A running cluster. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/edge_refresh`: trust authentication, loopback only. */
  url: string
  /** A pool on {@link PostgresServer.url} for the test's own queries. */
  pool: pg.Pool
  /** Closes the pool, stops the server and removes its directory. */
  stop(): Promise<void>
}

/** `/usr/lib/postgresql/<newest>/bin`, where Debian puts initdb and postgres. */
function binDir(): string {
  const base = '/usr/lib/postgresql'
  const versions = existsSync(base) ? readdirSync(base).filter((name) => /^\d+$/.test(name)) : []
  const newest = versions.sort((a, b) => Number(b) - Number(a)).find((version) => existsSync(join(base, version, 'bin', 'postgres')))
  if (!newest) throw new Error(POSTGRES_NOT_FOUND_MESSAGE)
  return join(base, newest, 'bin')
}

/**
 * PostgreSQL refuses to run as root: as root, every command runs as the `postgres` user the Debian
 * package creates (setpriv execs in place, so the server is this process's own child and signals
 * reach it).
 */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args]
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', command, ...args]]
}

/** Starts a cluster and creates the schema. @throws Error with {@link POSTGRES_NOT_FOUND_MESSAGE} when PostgreSQL is not installed. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir()
  const dir = mkdtempSync(join(tmpdir(), 'edge-refresh-pg-'))
  const data = join(dir, 'data')
  if (process.getuid?.() === 0) {
    const ids = execFileSync('id', ['-u', 'postgres']).toString().trim()
    const gid = execFileSync('id', ['-g', 'postgres']).toString().trim()
    chownSync(dir, Number(ids), Number(gid))
  }
  const [initdb, initArgs] = asServerUser(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'])
  execFileSync(initdb, initArgs, { stdio: 'ignore' })

  const port = await findFreePort()
  const [postgres, args] = asServerUser(join(bin, 'postgres'), [
    '-D',
    data,
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-k',
    dir,
    // A test database: durability buys nothing, and fsync on a busy CI disk costs seconds.
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
  ])
  const child: ChildProcess = spawn(postgres, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  guardChild(child, 'postgres-watchdog')
  let log = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-4000)
  })

  const stop = async (pool?: pg.Pool): Promise<void> => {
    await pool?.end().catch(() => undefined)
    await stopChild(child, STOP_TIMEOUT_MS)
    rmSync(dir, { recursive: true, force: true })
  }

  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    const client = new pg.Client({ connectionString: admin })
    try {
      await client.connect()
      await client.query(`CREATE DATABASE ${DATABASE}`)
      await client.end()
      break
    } catch (error) {
      await client.end().catch(() => undefined)
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop()
        throw new Error(`PostgreSQL did not start on 127.0.0.1:${port}: ${String(error)}\n${log}`, { cause: error })
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  const url = `postgres://postgres@127.0.0.1:${port}/${DATABASE}`
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  await pool.query(readFileSync(join(ROOT, 'db', 'schema.sql'), 'utf8'))
  return { url, pool, stop: () => stop(pool) }
}
