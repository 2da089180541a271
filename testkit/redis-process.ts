/**
 * Starts and stops a real `redis-server` (the Debian package) on loopback for tests, and makes
 * sure none outlives the test process.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

import { guardChild, stopChild } from './child-guard'
import { RespClient } from './resp-client'

/** The one-line message thrown when the binary is missing (CI installs it the same way). */
export const REDIS_NOT_FOUND_MESSAGE = 'redis-server not found: run `apt-get install -y redis-server`'

/** How long a fresh redis-server may take to answer PING (milliseconds). */
const READY_TIMEOUT_MS = 10_000
/** How long a stopped redis-server may take to exit after SIGTERM before SIGKILL (milliseconds). */
const STOP_TIMEOUT_MS = 5_000

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, command)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

/**
 * One redis-server bound to 127.0.0.1 on a fixed port, with persistence off
 * (`--save "" --appendonly no`) so nothing is written to disk and a restart starts empty.
 */
export class RedisProcess {
  private child: ChildProcess | undefined
  private logTail: string[] = []
  private readonly binary: string

  /**
   * @param port TCP port on 127.0.0.1; stays the same across {@link RedisProcess.stop} / {@link RedisProcess.start}.
   * @throws Error with {@link REDIS_NOT_FOUND_MESSAGE} when `redis-server` is not on PATH.
   */
  constructor(readonly port: number) {
    const binary = findOnPath('redis-server')
    if (!binary) throw new Error(REDIS_NOT_FOUND_MESSAGE)
    this.binary = binary
  }

  /** True while the child process is running. */
  get running(): boolean {
    return this.child !== undefined
  }

  /** Spawns redis-server and resolves once it answers PING; no-op when already running. */
  async start(): Promise<void> {
    if (this.child) return
    this.logTail = []
    const child = spawn(
      this.binary,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir(), '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    this.child = child
    guardChild(child, 'redis-watchdog')
    // Drain the pipes (a full pipe would block redis) and keep the end for error messages.
    const keep = (chunk: Buffer) => {
      this.logTail.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      this.logTail = this.logTail.slice(-20)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    let exitInfo: string | undefined
    child.once('exit', (code, signal) => {
      exitInfo = `exited with ${signal ?? `code ${String(code)}`}`
      if (this.child === child) this.child = undefined
    })

    const deadline = Date.now() + READY_TIMEOUT_MS
    for (;;) {
      if (exitInfo) {
        throw new Error(`redis-server on port ${this.port} ${exitInfo}: ${this.logTail.join(' | ')}`)
      }
      const probe = new RespClient(this.port, 200)
      try {
        const [reply] = await probe.send([['PING']])
        if (Buffer.isBuffer(reply) && reply.toString() === 'PONG') return
      } catch {
        // not listening yet
      } finally {
        probe.close()
      }
      if (Date.now() > deadline) {
        await this.stop()
        throw new Error(`redis-server on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms: ${this.logTail.join(' | ')}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  /**
   * Pauses redis-server (SIGSTOP): connections stay open and commands sent meanwhile wait in the
   * socket, to be applied late by {@link RedisProcess.resume}, as with a server stalled by a long
   * command, a fork or a noisy neighbour.
   */
  pause(): void {
    if (!this.child?.kill('SIGSTOP')) throw new Error('redis-server is not running')
  }

  /** Resumes a paused redis-server (SIGCONT). */
  resume(): void {
    if (!this.child?.kill('SIGCONT')) throw new Error('redis-server is not running')
  }

  /** Stops redis-server (SIGTERM, then SIGKILL after 5 s) and resolves once it has exited. */
  async stop(): Promise<void> {
    const child = this.child
    if (!child) return
    this.child = undefined
    await stopChild(child, STOP_TIMEOUT_MS)
  }
}
