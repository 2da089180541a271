// ESLint: typescript-eslint's recommended rules everywhere, plus the package's two import rules:
// nothing in lib/ may import `node:*` (the same code runs at the edge and in a Node proxy.ts), and
// only lib/next/ may import `next` or `next/*` (the rest of the flow is framework-free).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const noNodeImports = { regex: '^node:', message: 'lib/ runs at the edge too: no node: imports' }
const onlyNextFolder = { regex: '^next(/|$)', message: 'only lib/next/ imports next/*: keep the other steps framework-free' }

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '**/.next/**', 'artifacts/**', 'docs/**', 'next-env.d.ts', '**/next-env.d.ts'],
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
