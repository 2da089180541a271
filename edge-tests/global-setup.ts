/**
 * vitest globalSetup (runs once, in Node, before any test file): starts the real servers the
 * edge tests talk to over HTTP, and hands their addresses to the tests with `inject(...)`.
 *
 * - One oidc-provider with its `/__test/` hooks, access tokens valid 4 seconds, refresh tokens
 *   rotated on every use (see testkit/oidc-provider.ts).
 * - One redis-server behind an Upstash-REST-compatible server (see testkit/upstash-rest.ts).
 *
 * Files of the `integration` project run one at a time (vitest.config.ts: some hooks are global,
 * such as /__test/reset); within a file, isolate with random key prefixes and a unique `login` per
 * sign-in (the provider hooks accept `login` to scope stats and faults). The `unit` project needs
 * none of this and does not run it.
 */
import type { TestProject } from 'vitest/node'

import { DEFAULT_TEST_CLIENT, startLocalProvider } from '../testkit/oidc-provider'
import { startRedisRest } from '../testkit/upstash-rest'

/** Access-token lifetime the tests run with (seconds): short, so expiry happens within a test. */
const ACCESS_TOKEN_TTL_SECONDS = 4

declare module 'vitest' {
  /** Values provided by edge-tests/global-setup.ts; read them with `inject('issuer')` etc. */
  export interface ProvidedContext {
    /** Issuer URL of the local oidc-provider, `http://127.0.0.1:<port>`; test hooks at `${issuer}/__test/`. */
    issuer: string
    /** The provider's confidential test client (client_secret_basic). */
    clientId: string
    /** Secret of {@link ProvidedContext.clientId}. */
    clientSecret: string
    /** Base URL for `new Redis({ url, token })`; test hooks at `${redisRestUrl}/__test/`. */
    redisRestUrl: string
    /** Bearer token for the Upstash REST server. */
    redisRestToken: string
  }
}

/** Starts the servers, provides their coordinates, and returns the teardown that stops them. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const provider = await startLocalProvider({ testHooks: true, accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS })
  let redis: Awaited<ReturnType<typeof startRedisRest>>
  try {
    redis = await startRedisRest()
  } catch (error) {
    await provider.stop()
    throw error
  }

  project.provide('issuer', provider.issuer)
  project.provide('clientId', DEFAULT_TEST_CLIENT.client_id)
  project.provide('clientSecret', DEFAULT_TEST_CLIENT.client_secret)
  project.provide('redisRestUrl', redis.url)
  project.provide('redisRestToken', redis.token)

  // redis-server is also killed if this process exits without teardown (see testkit/redis-process.ts).
  return async () => {
    await Promise.all([provider.stop(), redis.stop()])
  }
}
