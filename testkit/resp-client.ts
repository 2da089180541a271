/**
 * A deliberately small RESP2 client for the Upstash REST test server.
 *
 * Why not `redis` or `ioredis` from npm: the REST server must (1) return the exact bytes Redis
 * stored, so `Upstash-Encoding: base64` answers are byte-exact, which means keeping replies as
 * Buffers; (2) fail at once while Redis is down instead of queueing commands and reconnecting in
 * the background (both libraries do that by default and need several options to stop it); and
 * (3) send a MULTI ... EXEC block without any other request's commands in between. Over one
 * connection all three fall out of a FIFO of pending replies and one socket write per batch,
 * in about 150 lines, with no new dependency.
 */
import { connect, type Socket } from 'node:net'

/** A Redis error reply (`-ERR ...`), kept apart from string replies so callers can map it to `{ error }`. */
export class RespError {
  /** @param message The error line without the leading `-`, for example `NOSCRIPT No matching script...`. */
  constructor(readonly message: string) {}
}

/**
 * A decoded RESP2 reply: simple and bulk strings are Buffers (raw bytes), integers are numbers,
 * nil is `null`, arrays nest, and error replies are {@link RespError}.
 */
export type RespValue = Buffer | number | null | RespError | RespValue[]

/** Thrown when Redis cannot be reached or the connection drops with replies outstanding. */
export class RedisUnavailableError extends Error {
  /** Stable code for callers that `switch` on it. */
  readonly code = 'REDIS_UNAVAILABLE'
}

interface Pending {
  remaining: number
  replies: RespValue[]
  resolve: (replies: RespValue[]) => void
  reject: (error: Error) => void
}

/** Marks "not enough bytes buffered yet" while parsing. */
const INCOMPLETE = Symbol('incomplete')

function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8')
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/**
 * Parses one RESP2 value starting at `offset`.
 * Returns the value and the offset after it, or INCOMPLETE when the buffer ends first.
 */
function parseValue(buf: Buffer, offset: number): [RespValue, number] | typeof INCOMPLETE {
  const lineEnd = buf.indexOf('\r\n', offset)
  if (lineEnd === -1) return INCOMPLETE
  const type = String.fromCharCode(buf[offset] ?? 0)
  const line = buf.toString('utf8', offset + 1, lineEnd)
  const next = lineEnd + 2
  // Strings are copied out so a small reply does not pin a large receive buffer.
  switch (type) {
    case '+':
      return [Buffer.from(buf.subarray(offset + 1, lineEnd)), next]
    case '-':
      return [new RespError(line), next]
    case ':':
      return [Number(line), next]
    case '$': {
      const length = Number(line)
      if (length === -1) return [null, next]
      if (buf.length < next + length + 2) return INCOMPLETE
      return [Buffer.from(buf.subarray(next, next + length)), next + length + 2]
    }
    case '*': {
      const count = Number(line)
      if (count === -1) return [null, next]
      const items: RespValue[] = []
      let cursor = next
      for (let i = 0; i < count; i++) {
        const parsed = parseValue(buf, cursor)
        if (parsed === INCOMPLETE) return INCOMPLETE
        items.push(parsed[0])
        cursor = parsed[1]
      }
      return [items, cursor]
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`)
  }
}

/**
 * One lazily opened connection to a Redis server on loopback.
 *
 * Commands are pipelined: every {@link RespClient.send} writes its whole batch in one write and
 * gets the replies in order. If the connection cannot be opened or drops, every outstanding
 * batch rejects with {@link RedisUnavailableError}, and the next `send` tries to connect again.
 */
export class RespClient {
  private socket: Socket | undefined
  private connecting: Promise<Socket> | undefined
  private buffer: Buffer = Buffer.alloc(0)
  private readonly queue: Pending[] = []

  /**
   * @param port Redis TCP port on 127.0.0.1.
   * @param connectTimeoutMs How long to wait for the TCP connection (milliseconds). Default 1000.
   */
  constructor(
    private readonly port: number,
    private readonly connectTimeoutMs = 1000,
  ) {}

  /**
   * Sends a batch of commands and resolves with one reply per command (error replies included,
   * as {@link RespError}). Rejects only when Redis cannot be reached.
   */
  async send(commands: readonly (readonly string[])[]): Promise<RespValue[]> {
    if (commands.length === 0) return []
    const socket = await this.connection()
    return new Promise<RespValue[]>((resolve, reject) => {
      this.queue.push({ remaining: commands.length, replies: [], resolve, reject })
      socket.write(Buffer.concat(commands.map(encodeCommand)))
    })
  }

  /** Closes the connection; outstanding batches reject. */
  close(): void {
    this.socket?.destroy()
    this.dropConnection(new RedisUnavailableError('connection closed'))
  }

  private connection(): Promise<Socket> {
    if (this.socket) return Promise.resolve(this.socket)
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: this.port })
      socket.setNoDelay(true)
      const timer = setTimeout(() => {
        socket.destroy(new Error(`connect timeout after ${this.connectTimeoutMs} ms`))
      }, this.connectTimeoutMs)
      socket.once('connect', () => {
        clearTimeout(timer)
        this.socket = socket
        this.connecting = undefined
        resolve(socket)
      })
      socket.on('data', (chunk: Buffer) => this.onData(chunk))
      socket.on('error', (error) => {
        clearTimeout(timer)
        if (this.socket !== socket) {
          this.connecting = undefined
          reject(new RedisUnavailableError(`redis at 127.0.0.1:${this.port}: ${error.message}`))
        }
      })
      socket.on('close', () => {
        if (this.socket === socket) {
          this.dropConnection(new RedisUnavailableError(`redis at 127.0.0.1:${this.port} closed the connection`))
        }
      })
    })
    return this.connecting
  }

  private dropConnection(error: Error): void {
    this.socket = undefined
    this.buffer = Buffer.alloc(0)
    for (const pending of this.queue.splice(0)) pending.reject(error)
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    let offset = 0
    for (;;) {
      const pending = this.queue[0]
      if (!pending || offset >= this.buffer.length) break
      const parsed = parseValue(this.buffer, offset)
      if (parsed === INCOMPLETE) break
      offset = parsed[1]
      pending.replies.push(parsed[0])
      if (--pending.remaining === 0) {
        this.queue.shift()
        pending.resolve(pending.replies)
      }
    }
    this.buffer = this.buffer.subarray(offset)
  }
}
