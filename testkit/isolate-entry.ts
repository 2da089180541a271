/**
 * Entry point of the bundle that the cross-isolate tests load into separate EdgeVM contexts. Each
 * context builds its own middleware (own memory, own in-isolate map); only the Redis REST endpoint
 * is shared. Values cross the VM boundary as plain JSON-able data to avoid cross-realm surprises.
 */
import { Redis } from '@upstash/redis'
import { NextRequest } from 'next/server'
import { cognito, createRefreshMiddleware, memoryStore, oidc, upstashStore } from '../lib'

/** What the host passes to build one isolate's middleware. */
export interface IsolateConfig {
  secret: string
  issuer: string
  clientId: string
  clientSecret: string
  store: 'upstash' | 'memory'
  redisUrl?: string
  redisToken?: string
  prefix?: string
  skewSeconds?: number
  /** Refresh with Cognito's GetTokensFromRefreshToken (provider id `cognito`) instead of the OpenID provider. */
  cognitoGetTokens?: { endpoint: string; clientId: string; clientSecret?: string }
}

/** What the host gets back for one request. */
export interface IsolateResponse {
  status: number
  setCookie: string[]
  location: string | null
  /** ms spent inside the middleware. */
  latencyMs: number
}

let redisRequests = 0
let providerRequests = 0

declare global {
  var __edgeRefresh: {
    configure(config: IsolateConfig): void
    handle(url: string, cookie: string, background: boolean): Promise<IsolateResponse>
    settle(): Promise<void>
    /** HTTP requests this isolate sent to the Redis REST endpoint (one per round trip). */
    redisRequests(): number
    /** HTTP requests this isolate sent to the provider (discovery + token endpoint). */
    providerRequests(): number
  }
}

let handler: ReturnType<typeof createRefreshMiddleware> | undefined
const pending: Promise<unknown>[] = []

globalThis.__edgeRefresh = {
  configure(config) {
    // @upstash/redis calls the global fetch, so the count sits there: one HTTP request is one round trip.
    const globalFetch = globalThis.fetch
    globalThis.fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
      if (config.redisUrl && url.startsWith(config.redisUrl)) redisRequests++
      return globalFetch(input, init)
    }
    const countingProviderFetch: typeof fetch = (input, init) => {
      providerRequests++
      return globalFetch(input, init)
    }
    handler = createRefreshMiddleware({
      secret: config.secret,
      providers: config.cognitoGetTokens
        ? { cognito: cognito({ flow: 'get-tokens', ...config.cognitoGetTokens }) }
        : { oidc: oidc({ issuer: config.issuer, clientId: config.clientId, clientSecret: config.clientSecret }) },
      store:
        config.store === 'upstash'
          ? upstashStore(new Redis({ url: config.redisUrl!, token: config.redisToken!, retry: false }), {
              prefix: config.prefix ?? 'edge-refresh:',
            })
          : memoryStore(),
      ...(config.skewSeconds !== undefined ? { skewSeconds: config.skewSeconds } : {}),
      fetch: countingProviderFetch,
      logger: { warn: () => {}, error: () => {} },
    })
  },
  async handle(url, cookie, background) {
    const started = performance.now()
    const request = new NextRequest(url, { headers: { cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate' } })
    const event = { waitUntil: (promise: Promise<unknown>) => void pending.push(promise) }
    const response = await handler!(request, background ? (event as never) : undefined)
    return {
      status: response.status,
      setCookie: response.headers.getSetCookie(),
      location: response.headers.get('location'),
      latencyMs: performance.now() - started,
    }
  },
  async settle() {
    await Promise.all(pending.splice(0))
  },
  redisRequests() {
    return redisRequests
  },
  providerRequests() {
    return providerRequests
  },
}
