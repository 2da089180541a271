/**
 * Keeps a server that a test started from outliving the test process. Node only.
 */
import { spawn, type ChildProcess } from 'node:child_process'

// Every guarded child still running. Killed synchronously on exit because an 'exit' listener cannot
// wait for anything; the watchdog below covers deaths that skip 'exit'.
const live = new Set<ChildProcess>()
let exitHookInstalled = false

/**
 * Kills `child` when this process exits, and also when it dies without running 'exit' (SIGKILL,
 * a native crash): then a shell loop notices and sends SIGTERM, so the child is not re-parented to
 * init and left listening. Both stop by themselves once the child has exited.
 *
 * @param label Names the watchdog in `ps`.
 */
export function guardChild(child: ChildProcess, label: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', () => {
      for (const running of live) running.kill('SIGKILL')
    })
  }
  live.add(child)
  child.once('exit', () => live.delete(child))
  if (child.pid === undefined) return
  const script = [
    'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.5; done',
    'kill -0 "$1" 2>/dev/null || kill -TERM "$2" 2>/dev/null',
  ].join('\n')
  // The watchdog must not keep the event loop (and so the test run) alive.
  spawn('sh', ['-c', script, label, String(process.pid), String(child.pid)], { stdio: 'ignore' }).unref()
}

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

// Every detached child (its own process group) still running, with all it forked.
const liveGroups = new Set<ChildProcess>()
let groupExitHookInstalled = false

/** Sends `signal` to the process group of a child spawned with `detached: true`: the child and whatever it forked. */
export function killProcessGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/** Kills the process group of `child` (spawned with `detached: true`) if this process exits while it runs. */
export function guardProcessGroup(child: ChildProcess): void {
  if (!groupExitHookInstalled) {
    groupExitHookInstalled = true
    process.on('exit', () => {
      for (const running of liveGroups) killProcessGroup(running, 'SIGKILL')
    })
  }
  liveGroups.add(child)
  child.once('exit', () => liveGroups.delete(child))
}

/** SIGTERM to the process group, SIGKILL after `timeoutMs`; resolves once the child has exited (`exited`). */
export async function stopProcessGroup(child: ChildProcess, exited: Promise<void>, timeoutMs: number): Promise<void> {
  killProcessGroup(child, 'SIGTERM')
  const timer = setTimeout(() => killProcessGroup(child, 'SIGKILL'), timeoutMs)
  await exited
  clearTimeout(timer)
}
