/**
 * Store faults for the fault matrix (edge-tests/fault-matrix.test.ts).
 *
 * What is real and what is injected:
 * - The real part is always the same: `@upstash/redis` talking HTTP to the Upstash-REST stand-in
 *   (testkit/upstash-rest.ts) in front of a real redis-server.
 * - Faults at the HTTP level (5xx, an HTML 200, a fetch that never settles) replace the answer of
 *   the REST endpoint. `@upstash/redis` 1.39 takes no `fetch` option (its HttpClient calls the
 *   global `fetch` at request time; the only alternative is a whole custom `Requester`, which
 *   would bypass the client's own response parsing, the very thing under test). So these clients
 *   are pointed at a URL of their own, `http://<fault>.redis-fault.invalid`, and
 *   {@link installFaultFetch} routes that origin, and only that one, to the fault; every other
 *   request (the provider, the real REST server) goes to the real `fetch` untouched.
 * - Faults at the command level (slow, null or garbage replies, a lock or result that vanishes)
 *   wrap a real client's `eval` / `mget` (the `UpstashLike` the store takes): the real command
 *   reaches the real redis-server, and the wrapper delays it, replaces its reply, or deletes a
 *   key next to it.
 * Every delay and every hang is released by {@link FaultSwitch.dispose}, so nothing outlives a
 * cell of the matrix.
 */
import { Redis } from '@upstash/redis'
import type { UpstashLike } from '../lib'

/** A real client of the REST stand-in: no retries (the store's own budget decides), no telemetry headers. */
export function realRedis(url: string, token: string): Redis {
  return new Redis({ url, token, retry: false, enableTelemetry: false })
}

/** Releases every pending delay and hang of one cell. */
export class FaultSwitch {
  private readonly pending = new Set<(reason: Error) => void>()
  private disposed = false
  /** Rejects every pending delay and hang, and every later one at once. */
  dispose(): void {
    this.disposed = true
    const reason = new Error('fault released at the end of the cell')
    for (const reject of this.pending) reject(reason)
    this.pending.clear()
  }
  get isDisposed(): boolean {
    return this.disposed
  }
  /** Resolves after `ms`, or rejects when the switch is disposed. */
  delay(ms: number): Promise<void> {
    return this.until((resolve) => setTimeout(resolve, ms))
  }
  /** Never resolves; rejects when the switch is disposed. */
  hang<T>(): Promise<T> {
    return this.until<T>(() => undefined)
  }
  private until<T>(start: (resolve: (value: T) => void) => ReturnType<typeof setTimeout> | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.disposed) return reject(new Error('fault released at the end of the cell'))
      const release = (reason: Error) => {
        clearTimeout(timer)
        reject(reason)
      }
      this.pending.add(release)
      const timer = start((value) => {
        this.pending.delete(release)
        resolve(value)
      })
    })
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP-level faults: the REST endpoint itself misbehaves.

export type HttpFault = '5xx' | 'html-200' | 'hang'

const FAULT_ORIGIN_SUFFIX = '.redis-fault.invalid'

interface FaultRoute {
  fault: HttpFault
  faults: FaultSwitch
  requests: number
}

const routes = new Map<string, FaultRoute>()
let realFetch: typeof fetch | undefined

/**
 * Installs the dispatcher on the global `fetch` (once per file): requests to
 * `http://<id>.redis-fault.invalid` get the registered fault, everything else the real fetch.
 * Returns the uninstaller.
 */
export function installFaultFetch(): () => void {
  if (realFetch) throw new Error('installFaultFetch called twice')
  const original = globalThis.fetch
  realFetch = original
  const dispatcher = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    if (!url.hostname.endsWith(FAULT_ORIGIN_SUFFIX)) return original(input, init)
    const route = routes.get(url.hostname)
    if (!route) throw new TypeError(`fetch failed: no fault registered for ${url.hostname}`)
    route.requests++
    switch (route.fault) {
      case '5xx':
        // The shape of an Upstash REST error, with a server status.
        return new Response(JSON.stringify({ error: 'ERR internal server error (injected)' }), {
          status: 500,
          headers: { 'content-type': 'application/json' },
        })
      case 'html-200':
        // A captive portal / misrouted proxy: 200, but not the REST API.
        return new Response('<!doctype html><html><head><title>Sign in to the network</title></head><body>Welcome</body></html>', {
          status: 200,
          headers: { 'content-type': 'text/html; charset=utf-8' },
        })
      case 'hang':
        return route.faults.hang<Response>()
    }
  }) as typeof fetch
  globalThis.fetch = dispatcher
  return () => {
    if (globalThis.fetch === dispatcher) globalThis.fetch = original
    realFetch = undefined
    routes.clear()
  }
}

/**
 * A real `@upstash/redis` client whose REST endpoint answers with `fault`. `requests()` counts the
 * HTTP requests the client made, as a check that the fault was really in the path.
 */
export function httpFaultRedis(fault: HttpFault, faults: FaultSwitch, token: string): { redis: Redis; requests: () => number } {
  if (!realFetch) throw new Error('installFaultFetch() first')
  const host = `${fault}-${crypto.randomUUID().slice(0, 8)}${FAULT_ORIGIN_SUFFIX}`
  const route: FaultRoute = { fault, faults, requests: 0 }
  routes.set(host, route)
  return { redis: realRedis(`http://${host}`, token), requests: () => route.requests }
}

// ---------------------------------------------------------------------------------------------
// Command-level faults: a real client, wrapped.

type Eval = Redis['eval']
type Mget = Redis['mget']

/** Delays every command by `ms` before it is sent to the real redis-server. */
export function slowRedis(inner: UpstashLike, ms: number, faults: FaultSwitch): UpstashLike {
  return {
    eval: (async (...args: Parameters<Eval>) => {
      await faults.delay(ms)
      return inner.eval(...args)
    }) as Eval,
    mget: (async (...args: Parameters<Mget>) => {
      await faults.delay(ms)
      return inner.mget(...args)
    }) as Mget,
  }
}

/** Every command is sent to the real redis-server, and its reply replaced with `null`. */
export function nullRedis(inner: UpstashLike): UpstashLike {
  return {
    eval: (async (...args: Parameters<Eval>) => {
      await inner.eval(...args)
      return null
    }) as Eval,
    mget: (async (...args: Parameters<Mget>) => {
      await inner.mget(...args)
      return null
    }) as unknown as Mget,
  }
}

/**
 * Replies of the wrong type or shape, in turn (none of them a well-formed `lead`): what a proxy
 * that rewrites bodies, or a client/server version mismatch, could hand back. The real command is
 * still sent first.
 */
export const GARBAGE_REPLIES: readonly unknown[] = [42, 'garbage', { unexpected: true }, [], ['result', 42], [1, 2, 3], 'OK', true]

export function garbageRedis(inner: UpstashLike): UpstashLike {
  let turn = 0
  const next = () => GARBAGE_REPLIES[turn++ % GARBAGE_REPLIES.length]
  return {
    eval: (async (...args: Parameters<Eval>) => {
      await inner.eval(...args)
      return next()
    }) as Eval,
    mget: (async (...args: Parameters<Mget>) => {
      await inner.mget(...args)
      return next()
    }) as unknown as Mget,
  }
}

/** The key arguments of an EVAL (result key, lock key) and its reply, as the wrappers see them. */
function evalKeys(args: Parameters<Eval>): string[] {
  return (args[1] as string[] | undefined) ?? []
}

/**
 * The lock is lost while its leader is in flight (a failover to a replica that never saw it, an
 * eviction): the claim that made a leader runs on the real redis-server, and the lock key is
 * deleted by `loseLock()`, which the test calls when that leader's token request goes out.
 * `raw` is a plain real client used for the DEL.
 */
export function lostLockRedis(
  inner: UpstashLike,
  raw: Redis,
): { redis: UpstashLike; loseLock: () => Promise<number>; leads: () => number } {
  const leaderLocks: string[] = []
  let lost = 0
  return {
    redis: {
      eval: (async (...args: Parameters<Eval>) => {
        const reply = (await inner.eval(...args)) as unknown
        if (Array.isArray(reply) && reply[0] === 'lead') leaderLocks.push(evalKeys(args)[1]!)
        return reply
      }) as Eval,
      mget: inner.mget.bind(inner) as Mget,
    },
    async loseLock() {
      const key = leaderLocks[lost++]
      return key ? raw.del(key) : 0
    },
    leads: () => leaderLocks.length,
  }
}

/** Whether this EVAL is the store's publish: the only script with three keys (result, lock, attempt mark) and three arguments (lock id, value, TTL). */
function isPublish(args: Parameters<Eval>): boolean {
  return evalKeys(args).length === 3 && ((args[2] as unknown[] | undefined) ?? []).length === 3
}

/**
 * The result is lost right after it was published (the write acknowledged, then gone: a failover,
 * an eviction): the publish runs on the real redis-server, then its result key is deleted before
 * the leader hears back.
 */
export function lostResultRedis(inner: UpstashLike, raw: Redis): { redis: UpstashLike; lost: () => number } {
  let lost = 0
  return {
    redis: {
      eval: (async (...args: Parameters<Eval>) => {
        const reply = (await inner.eval(...args)) as unknown
        if (isPublish(args)) lost += await raw.del(evalKeys(args)[0]!)
        return reply
      }) as Eval,
      mget: inner.mget.bind(inner) as Mget,
    },
    lost: () => lost,
  }
}
