// @vitest-environment node
/**
 * The real build: `next build` bundles middleware.ts as an Edge function (no `config.runtime`:
 * on Next 16 the middleware file runs on the edge by default), with the app's matcher.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { ensureNextBuild, readMiddlewareManifest, ROOT } from '../testkit/next-app'

describe('next build', () => {
  beforeAll(async () => {
    await ensureNextBuild()
  }, 360_000)

  it('lists middleware.ts in middleware-manifest.json as an edge function with the app matcher', () => {
    const manifest = readMiddlewareManifest()
    expect(manifest.version).toBe(3)
    expect(manifest.sortedMiddleware).toEqual(['/'])
    const entry = manifest.middleware['/']
    expect(entry).toBeDefined()
    expect(entry!.name).toBe('middleware')
    expect(entry!.page).toBe('/')
    // Edge bundles live under server/edge/; a Node proxy would be in functions-config-manifest instead.
    expect(entry!.files.length).toBeGreaterThan(0)
    for (const file of entry!.files) {
      expect(file.startsWith('server/edge/')).toBe(true)
      expect(existsSync(join(ROOT, '.next', file))).toBe(true)
    }
    expect(entry!.matchers.map((matcher) => matcher.originalSource)).toEqual([
      '/((?!api/auth|_next/static|_next/image|favicon.ico).*)',
      '/api/auth/session',
    ])

    const matches = (path: string) => entry!.matchers.some((matcher) => new RegExp(matcher.regexp).test(path))
    for (const path of ['/', '/protected', '/protected/other', '/api/me', '/api/auth/session']) expect(matches(path), path).toBe(true)
    for (const path of [
      '/api/auth/signin',
      '/api/auth/callback/oidc',
      '/api/auth/csrf',
      '/_next/static/chunks/app.js',
      '/_next/image',
      '/favicon.ico',
    ]) {
      expect(matches(path), path).toBe(false)
    }
  })

  it('runs nothing on the Node.js runtime in front of the app (no proxy function)', () => {
    const functions = JSON.parse(readFileSync(join(ROOT, '.next', 'server', 'functions-config-manifest.json'), 'utf8')) as {
      functions: Record<string, unknown>
    }
    expect(Object.keys(functions.functions)).not.toContain('/_middleware')
  })

  it("bundles the refresh library, not next-auth's Node-only server, into the edge function", () => {
    const entry = readMiddlewareManifest().middleware['/']!
    const code = entry.files.map((file) => readFileSync(join(ROOT, '.next', file), 'utf8')).join('\n')
    expect(code).toContain('[edge-refresh]')
    expect(code).not.toContain('openid-client')
  })
})
