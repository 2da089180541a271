// ESLint: typescript-eslint's recommended rules everywhere, a few type-aware ones on TypeScript
// files (below), plus the package's two import rules:
// nothing in lib/ may import `node:*` (the same code runs at the edge and in a Node proxy.ts), and
// only lib/next/ may import `next` or `next/*` (the rest of the flow is framework-free).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const noNodeImports = { regex: '^node:', message: 'lib/ runs at the edge too: no node: imports' }
const onlyNextFolder = { regex: '^next(/|$)', message: 'only lib/next/ imports next/*: keep the other steps framework-free' }

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/.next/**',
      'artifacts/**',
      'docs/**',
      'next-env.d.ts',
      '**/next-env.d.ts',
      // Bugs on purpose: unit-tests/lint-rules.test.ts lints them to prove the rules catch them.
      'unit-tests/fixtures/lint/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_`-prefixed names mark a parameter kept for its position (next-auth's callback shapes).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Type-aware rules for the bugs types can see and a reader cannot: a method handed on without
    // its `this` (`.catch(this.warnOutage)` once dropped rotated tokens), a promise nobody awaits
    // or catches, and a promise where a plain value is expected (an async callback given to
    // `forEach`, a condition on a promise). Each TypeScript file is checked against its nearest
    // tsconfig (the examples have their own).
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/unbound-method': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/require-array-sort-compare': ['error', { ignoreStringArrays: true }],
    },
  },
  {
    // The Auth.js v5 example's nearest tsconfig would resolve `next-auth` to the repository's v4,
    // under which NextAuth(...)'s auth, handlers and signIn are `any` and the rules above see nothing
    // in them: this tsconfig resolves it to v5 (the example's standalone copy installs v5 itself).
    files: ['examples/authjs-v5/**/*.ts', 'examples/authjs-v5/**/*.tsx'],
    languageOptions: { parserOptions: { projectService: false, project: './tsconfig.lint-authjs-v5.json' } },
  },
  // The same for the other Auth.js v5 examples (the plain-gate app pins beta.29, whose typings match).
  {
    files: ['examples/authjs-plain-gate/**/*.ts', 'examples/authjs-plain-gate/**/*.tsx'],
    languageOptions: { parserOptions: { projectService: false, project: './tsconfig.lint-authjs-plain-gate.json' } },
  },
  {
    files: ['examples/cloudflare-workers/**/*.ts', 'examples/cloudflare-workers/**/*.tsx'],
    languageOptions: { parserOptions: { projectService: false, project: './tsconfig.lint-cloudflare-workers.json' } },
  },
  {
    // The package's build script runs in Node.
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['lib/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noNodeImports, onlyNextFolder] }] },
  },
  {
    files: ['lib/next/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noNodeImports] }] },
  },
)
