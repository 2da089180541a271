// @vitest-environment node
/**
 * The real build: `next build` of the demo, whose refresh runs in `proxy.ts` (Next 16's successor
 * of the deprecated `middleware.ts`; Node.js only, no `config.runtime`). Next 16.4 records a Node
 * proxy in functions-config-manifest.json as `/_middleware` with runtime `nodejs`, and leaves
 * middleware-manifest.json (the edge functions) empty. The build prints no deprecation warning.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { ensureNextBuild, readMiddlewareManifest, readNextBuildOutput, ROOT } from '../testkit/next-app'

/** How Next 16 says the middleware file convention is deprecated, whatever its exact words. */
const DEPRECATION = /middleware.*deprecated|deprecated.*middleware/i

interface FunctionsConfigManifest {
  version: number
  functions: Record<string, { runtime?: string; matchers?: Array<{ regexp: string; originalSource: string }> }>
}

function readFunctionsConfig(): FunctionsConfigManifest {
  return JSON.parse(readFileSync(join(ROOT, '.next', 'server', 'functions-config-manifest.json'), 'utf8')) as FunctionsConfigManifest
}

describe('next build', () => {
  beforeAll(async () => {
    await ensureNextBuild()
  }, 360_000)

  it('the demo has proxy.ts and no middleware.ts, and the build prints no middleware deprecation warning', () => {
    expect(existsSync(join(ROOT, 'proxy.ts'))).toBe(true)
    expect(existsSync(join(ROOT, 'middleware.ts'))).toBe(false)
    const output = readNextBuildOutput()
    // The route table names the proxy: the build did see it.
    expect(output).toMatch(/Proxy/)
    expect(output.split('\n').filter((line) => DEPRECATION.test(line))).toEqual([])
  })

  it('lists proxy.ts in functions-config-manifest.json as a Node.js function with the app matcher', () => {
    const manifest = readFunctionsConfig()
    const entry = manifest.functions['/_middleware']
    expect(entry, JSON.stringify(manifest)).toBeDefined()
    expect(entry!.runtime).toBe('nodejs')
    expect(entry!.matchers!.map((matcher) => matcher.originalSource)).toEqual([
      '/((?!api/auth|_next/static|_next/image|favicon.ico).*)',
      '/api/auth/session',
    ])

    const matches = (path: string) => entry!.matchers!.some((matcher) => new RegExp(matcher.regexp).test(path))
    for (const path of ['/', '/protected', '/protected/other', '/api/me', '/api/auth/session', '/api/storm/probe'])
      expect(matches(path), path).toBe(true)
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

  it('runs nothing on the edge in front of the app (middleware-manifest.json is empty)', () => {
    const manifest = readMiddlewareManifest()
    expect(manifest.version).toBe(3)
    expect(manifest.middleware).toEqual({})
    expect(manifest.sortedMiddleware).toEqual([])
  })

  it("bundles the refresh library, not next-auth's Node-only server, into the proxy", () => {
    const bundle = join(ROOT, '.next', 'server', 'middleware.js')
    expect(existsSync(bundle)).toBe(true)
    // The bundle is an entry that loads its chunks; the refresh library is in one of them.
    const code = [bundle, ...chunksOf(bundle)].map((file) => readFileSync(file, 'utf8')).join('\n')
    expect(code).toContain('[edge-refresh]')
    expect(code).not.toContain('openid-client')
  })
})

/** The server chunks a Turbopack entry file loads (`R.c("server/chunks/…")` and the like), as absolute paths. */
function chunksOf(entry: string): string[] {
  const source = readFileSync(entry, 'utf8')
  const found = new Set<string>()
  for (const match of source.matchAll(/["'](server\/chunks\/[^"']+\.js)["']/g)) found.add(join(ROOT, '.next', match[1]!))
  return [...found].filter((file) => existsSync(file))
}
