/**
 * Two projects:
 * - `unit`: pure modules and the package's surface, no server, no network: `npx vitest run --project unit`
 *   takes seconds. Files in unit-tests/.
 * - `integration`: everything that talks to real parts. Files in edge-tests/, plus the type tests.
 *   They talk over HTTP to the servers edge-tests/global-setup.ts starts once in Node.
 *
 * Tests import `../lib`, which resolves through lib/package.json to the built package (lib/dist):
 * `npm test` builds it first, so they exercise what ships. Run `npm run build:lib` after editing
 * lib/ when running vitest directly. Unit tests import single source modules of lib/ instead.
 *
 * Tests run in vitest's `edge-runtime` environment (the Vercel Edge globals from
 * @edge-runtime/vm) unless a file starts with `// @vitest-environment node`.
 */
import { fileURLToPath } from 'node:url'

import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    // tsconfig's "@/*" path (Next.js convention); the regex leaves scoped packages like @upstash alone.
    alias: [{ find: /^@\//, replacement: fileURLToPath(new URL('./', import.meta.url)) }],
  },
  test: {
    environment: 'edge-runtime',
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['unit-tests/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['edge-tests/**/*.test.ts'],
          // Type-level tests of the public API against next-auth v4's and Auth.js v5's typings: `tsc`
          // checks type-tests/*.test-d.ts (they import the built package by name) and each
          // `expectTypeOf` / `@ts-expect-error` in them is a test.
          typecheck: { enabled: true, include: ['type-tests/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
          // Auth.js v5 imports `next/server` without an extension, which Node's ESM resolver refuses
          // (Next has no `exports` map); bundlers accept it, and so does vite once it transforms the package.
          server: { deps: { inline: ['next-auth-v5', '@auth/core'] } },
          globalSetup: ['./edge-tests/global-setup.ts'],
          // Tests wait out real 4-second access-token lifetimes and real network round trips.
          testTimeout: 30_000,
          // globalSetup starts redis-server and the provider (RSA key generation included).
          hookTimeout: 120_000,
          // Child processes rather than worker threads: each file gets a clean process, and the
          // edge-runtime VM's globals never leak between files.
          pool: 'forks',
        },
      },
    ],
    // All integration files share one provider and one Redis, and some hooks are global (the Redis
    // outage switch, /__test/reset): files run one at a time. On 2 cores vitest would use 1 worker
    // anyway.
    fileParallelism: false,
  },
})
