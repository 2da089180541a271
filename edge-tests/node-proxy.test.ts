// @vitest-environment node
/**
 * The same handler must run unchanged from a Node `proxy.ts` (Next 16): lib/ uses Web APIs only.
 * This file runs the refresh in plain Node instead of the edge-runtime VM: one Node instance,
 * many requests at once, `memoryStore()` → one provider call. The demo's real `proxy.ts` under
 * `next start` is exercised by browser-journey, storm-panel and replicas-redis.
 */
import { beforeEach, expect, it } from 'vitest'
import { createRefreshMiddleware } from '../lib'
import {
  COOKIE_NAMES,
  SECRET,
  decodeWith,
  encodeWith,
  forwardedCookies,
  pageRequest,
  hooks,
  providerStats,
  sessionPayload,
  setCookies,
  signInAtProvider,
  localOidc,
} from './support/sessions'

beforeEach(async () => {
  await hooks().reset()
})

it('refreshes an expired session in Node exactly as on the edge', async () => {
  expect(typeof (globalThis as { EdgeRuntime?: unknown }).EdgeRuntime).toBe('undefined')
  const name = COOKIE_NAMES['next-auth-v4'].plain
  const tokens = await signInAtProvider()
  const jwt = await encodeWith('next-auth-v4', name, sessionPayload(tokens, { expires_at: Math.floor(Date.now() / 1000) - 5 }))
  const proxy = createRefreshMiddleware({ secret: SECRET, providers: { oidc: localOidc() } })
  const responses = await Promise.all(Array.from({ length: 10 }, () => proxy(pageRequest('/', { [name]: jwt }))))
  const sessions = await Promise.all(responses.map((response) => decodeWith('next-auth-v4', name, setCookies(response)[0]!.value)))
  expect(new Set(sessions.map((session) => session!.access_token)).size).toBe(1)
  expect(sessions[0]!.access_token).not.toBe(tokens.access_token)
  expect(forwardedCookies(responses[0]!)![name]).toBe(setCookies(responses[0]!)[0]!.value)
  expect((await providerStats()).refreshRequests).toBe(1)
})
