/**
 * Tiny node:http helpers shared by the local test servers (the oidc-provider wrapper and the
 * Upstash REST server). Node-only: nothing under lib/ may import this.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:net'

/** Largest request body the helpers accept (bytes): test traffic is small, anything bigger is a bug. */
export const MAX_BODY_BYTES = 1024 * 1024

/** Reads the whole request body as a Buffer; rejects above {@link MAX_BODY_BYTES}. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const bytes = chunk as Buffer
    size += bytes.length
    if (size > MAX_BODY_BYTES) throw new Error(`request body above ${MAX_BODY_BYTES} bytes`)
    chunks.push(bytes)
  }
  return Buffer.concat(chunks)
}

/** Reads a JSON body; an empty body reads as `{}` so hooks without options can be called bare. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req)
  if (body.length === 0) return {}
  return JSON.parse(body.toString('utf8')) as unknown
}

/** Writes `value` as a JSON response with the given status (default 200) and no caching. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  })
  res.end(body)
}

/**
 * True when the request comes from this machine's loopback interface. The servers bind to
 * 127.0.0.1 already; this is a second check for the unauthenticated `/__test/` hooks.
 */
export function isLoopback(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? ''
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1'
}

/**
 * Asks the OS for a free TCP port on 127.0.0.1 by binding port 0 and closing again.
 * Another process could take it before the caller binds; on loopback in tests that race is rare
 * and shows up as a clear EADDRINUSE.
 */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.unref()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address ? address.port : 0
      probe.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))))
    })
  })
}
