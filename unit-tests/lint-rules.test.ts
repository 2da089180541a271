// @vitest-environment node
/**
 * `npm run lint` catches the class of bug that once dropped rotated tokens (`.catch(this.warnOutage)`
 * ran without `this`): ESLint, with the project's own config, on a fixture that has one bug of each
 * kind the type-aware rules are there for.
 */
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FIXTURE = fileURLToPath(new URL('./fixtures/lint/promise-bugs.ts', import.meta.url))

describe('type-aware lint rules', () => {
  it('report an unbound method, a floating promise and a misused promise', { timeout: 30_000 }, async () => {
    // ignore: false lints the fixture, which the config leaves out of `npm run lint`.
    const [result] = await new ESLint({ cwd: ROOT, ignore: false }).lintFiles([FIXTURE])
    const found = result!.messages.map((message) => `${message.line} ${message.ruleId ?? message.message}`)
    expect(found).toEqual([
      '12 @typescript-eslint/unbound-method',
      '16 @typescript-eslint/no-floating-promises',
      '20 @typescript-eslint/no-misused-promises',
    ])
  })
})
