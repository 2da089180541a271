// Builds the package: ESM files for bundlers (webpack and Turbopack require fully specified
// relative imports in ESM packages, which the extensionless sources do not have) and one .d.ts
// per source file. Every package import stays external: the app's own next, next-auth and
// @upstash/redis are the ones that must run.
import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const dist = join(here, 'dist')
rmSync(dist, { recursive: true, force: true })

await build({
  // Four entries (see package.json "exports"); shared code goes to chunks, so that the main and
  // database entries share one copy of each module (one RefreshConfigError class, one codec memo).
  entryPoints: {
    index: join(here, 'index.ts'),
    database: join(here, 'database.ts'),
    client: join(here, 'client.ts'),
    otel: join(here, 'otel.ts'),
  },
  outdir: dist,
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  packages: 'external',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
})

// What a client bundle gets for the two server entries ("browser" condition in package.json).
// Importing a module that cannot exist is the one way a package can stop `next build` (webpack and
// Turbopack alike) with its own words: both print the unresolvable specifier, with the import
// trace that leads from the client component to it. A runtime throw would only show up in the
// browser, after deploying, as "Application error".
// The specifier is the message: plain words only, since a colon or a dot would make bundlers read
// it as a URL scheme or a file name.
const SERVER_ONLY_MESSAGE =
  'next-auth-edge-refresh is server-only (a client component imports it) - use it in middleware, proxy, auth and server code, and next-auth-edge-refresh/client in client components'
writeFileSync(
  join(dist, 'server-only.js'),
  `// Resolved instead of the server entries in client bundles: this import cannot resolve, so the build stops with its words.\n` +
    `import ${JSON.stringify(SERVER_ONLY_MESSAGE)}\n`,
)

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.build.json')], { stdio: 'inherit' })
