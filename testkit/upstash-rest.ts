/**
 * A local stand-in for Upstash's Redis REST API: a node:http server in front of a real
 * redis-server, speaking the wire format that `@upstash/redis` 1.39 uses (read from its dist):
 *
 * - `POST /` with a JSON command array (`["set","k","v"]`) answers `{ "result": ... }`, or
 *   HTTP 400 `{ "error": "ERR ..." }` when Redis answers an error.
 * - `POST /pipeline` with an array of commands answers HTTP 200 and an array with one
 *   `{ "result" }` or `{ "error" }` per command. With auto-pipelining (the 1.39 default) even a
 *   lone `redis.get()` arrives here, so a nil reply must still carry the key: `{ "result": null }`.
 * - `POST /multi-exec`: the same, run inside MULTI/EXEC; an aborted transaction is HTTP 400.
 * - `Authorization: Bearer <token>` is required (401 otherwise).
 * - `Upstash-Encoding: base64` (sent by the client unless `responseEncoding: false`): every
 *   string in a result, nested in arrays too, is base64 of the raw bytes; numbers and null stay.
 *   The client decodes every string except the literal `"OK"`, so encoding `OK` too is harmless.
 * - Errors are never encoded.
 *
 * While Redis is stopped (an outage on purpose) every REST call answers 503 `{ "error" }` at
 * once. A refused connection would be worse: the client retries network errors five times with
 * backoff (several seconds) before giving up, which would hide how the code under test behaves.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'

import { findFreePort, isLoopback, readJson, sendJson } from './http-json'
import { RedisProcess } from './redis-process'
import { RedisUnavailableError, RespClient, RespError, type RespValue } from './resp-client'

/** Options for {@link startRedisRest}. */
export interface RedisRestOptions {
  /** Bearer token the REST server requires. Default: 32 random bytes, hex. */
  token?: string
  /** TCP port of the REST server on 127.0.0.1; 0 picks a free one. Default 0. */
  port?: number
  /** TCP port of redis-server on 127.0.0.1; 0 picks a free one. Default 0. */
  redisPort?: number
}

/** A running REST server plus its redis-server. */
export interface RedisRestServer {
  /** Base URL for `new Redis({ url, token })`, e.g. `http://127.0.0.1:41234`. */
  url: string
  /** Bearer token for `new Redis({ url, token })`. */
  token: string
  /** The redis-server TCP port on 127.0.0.1 (stable across stopRedis/startRedis). */
  redisPort: number
  /** Stops redis-server; REST calls answer 503 until {@link RedisRestServer.startRedis}. Data is lost (no persistence). */
  stopRedis(): Promise<void>
  /** Starts redis-server again on the same port, empty. */
  startRedis(): Promise<void>
  /** Stops the REST server and redis-server. */
  stop(): Promise<void>
}

/** Command counts reported by `GET /__test/commands`. */
export interface CommandStats {
  /** Authorized REST requests (`/`, `/pipeline`, `/multi-exec`) since the last reset. */
  requests: number
  /** Redis commands proxied since the last reset (the MULTI/EXEC wrappers are not counted). */
  total: number
  /** The same, per upper-cased command name, e.g. `{ "EVALSHA": 3, "GET": 1 }`. */
  byCommand: Record<string, number>
}

type Command = string[]

class BadRequest extends Error {}

/** Converts the JSON command the client sent into Redis arguments (the client already stringified objects). */
function toCommand(value: unknown): Command {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequest('ERR a command must be a non-empty JSON array')
  }
  return value.map((arg: unknown) => {
    if (typeof arg === 'string') return arg
    if (typeof arg === 'number' || typeof arg === 'boolean') return String(arg)
    throw new BadRequest(`ERR unsupported argument type ${arg === null ? 'null' : typeof arg}`)
  })
}

function toCommands(value: unknown): Command[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequest('ERR a pipeline must be a non-empty JSON array of commands')
  }
  return value.map(toCommand)
}

/** RESP value → JSON result, base64-encoding strings when asked (errors nested in arrays become their message). */
function toResult(value: RespValue, base64: boolean): unknown {
  if (Buffer.isBuffer(value)) return value.toString(base64 ? 'base64' : 'utf8')
  if (value instanceof RespError) return value.message
  if (Array.isArray(value)) return value.map((item) => toResult(item, base64))
  return value
}

/** One reply → one pipeline entry: `{ result }` or `{ error }`. */
function toEntry(value: RespValue, base64: boolean): { result: unknown } | { error: string } {
  return value instanceof RespError ? { error: value.message } : { result: toResult(value, base64) }
}

function utf8(value: RespValue): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value)
}

/**
 * Starts redis-server on a free loopback port and an Upstash-REST-compatible HTTP server in front
 * of it (see the module comment for the wire format).
 *
 * Unauthenticated test hooks on the same server (loopback only), for tests that run in a VM and
 * cannot spawn processes:
 * - `POST /__test/redis-stop`, `POST /__test/redis-start`: the outage switch.
 * - `GET /__test/scan`: every key with its type, PTTL (milliseconds, -1 = none) and raw value
 *   (string, hash as an object, list/set as arrays, zset as `[member, score]` pairs), UTF-8.
 * - `GET /__test/commands` → {@link CommandStats}; `POST /__test/reset-commands` zeroes them.
 *
 * @throws Error `redis-server not found: run \`apt-get install -y redis-server\`` when the binary is missing.
 */
export async function startRedisRest(options: RedisRestOptions = {}): Promise<RedisRestServer> {
  const token = options.token ?? randomBytes(32).toString('hex')
  const redisPort = options.redisPort || (await findFreePort())
  const redis = new RedisProcess(redisPort)
  await redis.start()
  const client = new RespClient(redisPort)
  let stats: CommandStats = { requests: 0, total: 0, byCommand: {} }

  const count = (commands: Command[]) => {
    for (const [name = ''] of commands) {
      const key = name.toUpperCase()
      stats.total++
      stats.byCommand[key] = (stats.byCommand[key] ?? 0) + 1
    }
  }

  const stopRedis = async () => {
    // redis.stop() marks the process as not running before it waits for the exit, so requests
    // that arrive meanwhile get the 503 instead of racing into a half-closed connection.
    await redis.stop()
    client.close()
  }
  const startRedis = async () => {
    await redis.start()
  }

  async function handleRest(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.headers.authorization !== `Bearer ${token}`) {
      sendJson(res, 401, { error: 'Unauthorized' })
      return
    }
    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64'
    const body = await readJson(req).catch(() => {
      throw new BadRequest('ERR request body is not JSON')
    })
    stats.requests++
    if (!redis.running) {
      sendJson(res, 503, { error: 'ERR redis is down (test outage)' })
      return
    }
    if (path === '/') {
      const command = toCommand(body)
      count([command])
      const [reply = null] = await client.send([command])
      if (reply instanceof RespError) sendJson(res, 400, { error: reply.message })
      else sendJson(res, 200, { result: toResult(reply, base64) })
      return
    }
    if (path === '/pipeline') {
      const commands = toCommands(body)
      count(commands)
      const replies = await client.send(commands)
      sendJson(
        res,
        200,
        replies.map((reply) => toEntry(reply, base64)),
      )
      return
    }
    // /multi-exec: one write carries MULTI ... EXEC, so no other request's command lands inside.
    const commands = toCommands(body)
    count(commands)
    const replies = await client.send([['MULTI'], ...commands, ['EXEC']])
    const exec = replies[replies.length - 1] ?? null
    if (exec instanceof RespError) sendJson(res, 400, { error: exec.message })
    else if (!Array.isArray(exec)) sendJson(res, 400, { error: 'EXECABORT Transaction discarded' })
    else
      sendJson(
        res,
        200,
        exec.map((reply) => toEntry(reply, base64)),
      )
  }

  async function scanAll(): Promise<unknown[]> {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [reply] = await client.send([['SCAN', cursor, 'COUNT', '1000']])
      if (!Array.isArray(reply)) throw new Error(`SCAN failed: ${utf8(reply ?? null)}`)
      cursor = utf8(reply[0] ?? null)
      const batch = reply[1]
      if (Array.isArray(batch)) keys.push(...batch.map(utf8))
    } while (cursor !== '0')
    const out: unknown[] = []
    for (const key of keys) {
      const [type, pttl] = await client.send([
        ['TYPE', key],
        ['PTTL', key],
      ])
      const kind = utf8(type ?? null)
      const read: Record<string, Command> = {
        string: ['GET', key],
        hash: ['HGETALL', key],
        list: ['LRANGE', key, '0', '-1'],
        set: ['SMEMBERS', key],
        zset: ['ZRANGE', key, '0', '-1', 'WITHSCORES'],
      }
      const command = read[kind]
      // A key can expire between SCAN and the read; it then reads as nil / empty.
      const [raw = null] = command ? await client.send([command]) : [null]
      let value: unknown = Array.isArray(raw) ? raw.map(utf8) : raw === null ? null : utf8(raw)
      if (kind === 'hash' && Array.isArray(value)) {
        const pairs = value as string[]
        value = Object.fromEntries(pairs.flatMap((v, i) => (i % 2 === 0 ? [[v, pairs[i + 1]]] : [])))
      } else if (kind === 'zset' && Array.isArray(value)) {
        const pairs = value as string[]
        value = pairs.flatMap((v, i) => (i % 2 === 0 ? [[v, Number(pairs[i + 1])]] : []))
      }
      out.push({ key, type: kind, pttl, value })
    }
    return out
  }

  async function handleTestHook(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const route = `${req.method ?? 'GET'} ${path}`
    switch (route) {
      case 'POST /__test/redis-stop':
        await stopRedis()
        sendJson(res, 200, { running: redis.running })
        return
      case 'POST /__test/redis-start':
        await startRedis()
        sendJson(res, 200, { running: redis.running })
        return
      case 'GET /__test/scan':
        if (!redis.running) {
          sendJson(res, 503, { error: 'redis is down' })
          return
        }
        sendJson(res, 200, { keys: await scanAll() })
        return
      case 'GET /__test/commands':
        sendJson(res, 200, stats)
        return
      case 'POST /__test/reset-commands':
        stats = { requests: 0, total: 0, byCommand: {} }
        sendJson(res, 200, stats)
        return
      default:
        sendJson(res, 404, { error: `no test hook ${route}` })
    }
  }

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
    const work = (async () => {
      if (path.startsWith('/__test/')) {
        if (!isLoopback(req)) return sendJson(res, 403, { error: 'test hooks are loopback-only' })
        return handleTestHook(req, res, path)
      }
      if (req.method !== 'POST' || !['/', '/pipeline', '/multi-exec'].includes(path)) {
        return sendJson(res, 404, { error: `ERR ${req.method ?? ''} ${path} is not part of this REST API` })
      }
      return handleRest(req, res, path)
    })()
    work.catch((error: unknown) => {
      if (res.headersSent) return res.destroy()
      if (error instanceof BadRequest) return sendJson(res, 400, { error: error.message })
      // Redis dropped mid-request (stopped, crashed): an outage, not a server bug.
      if (error instanceof RedisUnavailableError) return sendJson(res, 503, { error: `ERR ${error.message}` })
      sendJson(res, 500, { error: `ERR ${error instanceof Error ? error.message : String(error)}` })
    })
  })

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
    })
  } catch (error) {
    await redis.stop()
    throw error
  }
  const address = server.address()
  if (typeof address !== 'object' || !address) throw new Error('REST server has no address')

  return {
    url: `http://127.0.0.1:${address.port}`,
    token,
    redisPort,
    stopRedis,
    startRedis,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      client.close()
      await redis.stop()
    },
  }
}
