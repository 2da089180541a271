// @vitest-environment node
/**
 * README.md shows files of the example apps; those snippets must be the files themselves.
 *
 * Convention: a fenced code block whose opening fence is the line right after
 * `<!-- file: examples/<app>/<path> -->` is that file, byte for byte, apart from trailing
 * whitespace at the end. Per example app the README must show at least `middleware.ts`, the auth
 * configuration (`auth.ts`) and the next-auth route, so at least 6 markers in all.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, normalize, sep } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EXAMPLES_DIR } from './support/example-apps'
import { ROOT } from '../testkit/next-app'

const README = join(ROOT, 'README.md')
const MARKER = /^<!--\s*file:\s*(\S+)\s*-->\s*$/
const FENCE = /^(`{3,}|~{3,})/
const MIN_MARKERS = 6
/** The files each example must show in the README. */
const REQUIRED: Record<string, string[]> = {
  'next-auth-v4': ['middleware.ts', 'auth.ts', 'app/api/auth/[...nextauth]/route.ts'],
  'authjs-v5': ['middleware.ts', 'auth.ts', 'app/auth/[...nextauth]/route.ts'],
  'database-sessions': ['refresh-options.ts', 'middleware.ts', 'auth.ts'],
}

interface Snippet {
  /** Path as written in the marker, e.g. `examples/authjs-v5/middleware.ts`. */
  path: string
  /** 1-based line of the marker in README.md. */
  line: number
  /** The code block's content, or an error saying why there is none. */
  content: string | { error: string }
}

function readSnippets(markdown: string): Snippet[] {
  const lines = markdown.split('\n')
  const snippets: Snippet[] = []
  for (let index = 0; index < lines.length; index++) {
    const marker = MARKER.exec(lines[index]!)
    if (!marker) continue
    const path = marker[1]!
    const line = index + 1
    const opening = FENCE.exec(lines[index + 1] ?? '')
    if (!opening) {
      snippets.push({ path, line, content: { error: 'the next line does not open a fenced code block' } })
      continue
    }
    const fence = opening[1]!
    const body: string[] = []
    let closed = false
    for (index += 2; index < lines.length; index++) {
      const current = lines[index]!
      if (current.startsWith(fence[0]!.repeat(fence.length)) && current.trim().replace(/^[`~]+/, '') === '') {
        closed = true
        break
      }
      body.push(current)
    }
    snippets.push({ path, line, content: closed ? body.join('\n') : { error: 'the code block is never closed' } })
  }
  return snippets
}

const markdown = readFileSync(README, 'utf8')
const snippets = readSnippets(markdown)

describe('README snippets of the example apps', () => {
  it(`README.md marks at least ${MIN_MARKERS} snippets as files of examples/ (middleware, auth config and route of each app)`, () => {
    expect(
      snippets.length,
      `README.md lacks the snippet markers: found ${snippets.length} \`<!-- file: examples/<app>/<path> -->\` lines, need at least ${MIN_MARKERS}`,
    ).toBeGreaterThanOrEqual(MIN_MARKERS)
    const shown = new Set(snippets.map((snippet) => snippet.path))
    const missing = Object.entries(REQUIRED).flatMap(([app, files]) =>
      files.map((file) => `examples/${app}/${file}`).filter((path) => !shown.has(path)),
    )
    expect(missing, 'README.md lacks a marked snippet of these files').toEqual([])
  })

  for (const snippet of snippets) {
    it(`${snippet.path} (README.md line ${snippet.line}) is the file`, () => {
      if (typeof snippet.content !== 'string')
        throw new Error(`README.md line ${snippet.line}, marker for ${snippet.path}: ${snippet.content.error}`)
      const resolved = normalize(join(ROOT, snippet.path))
      // The example apps, and the demo's own database helper (compiled and run with the demo).
      const shownFrom = [EXAMPLES_DIR, join(ROOT, 'db')]
      expect(
        shownFrom.some((dir) => resolved.startsWith(`${dir}${sep}`)),
        `${snippet.path} must be a file under examples/ or db/`,
      ).toBe(true)
      expect(existsSync(resolved), `${snippet.path} does not exist`).toBe(true)
      const file = readFileSync(resolved, 'utf8').trimEnd()
      const shown = snippet.content.trimEnd()
      if (shown !== file) {
        const fileLines = file.split('\n')
        const shownLines = shown.split('\n')
        const at = fileLines.findIndex((line, index) => line !== shownLines[index])
        const line = at === -1 ? fileLines.length : at
        throw new Error(
          `README.md's snippet of ${snippet.path} differs from the file at line ${line + 1}:\n  README: ${JSON.stringify(shownLines[line] ?? '(end)')}\n  file:   ${JSON.stringify(fileLines[line] ?? '(end)')}`,
        )
      }
    })
  }
})
