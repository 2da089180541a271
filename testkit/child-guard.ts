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
