// @vitest-environment node
/**
 * Every code block in the documentation (README.md, docs/*.md, lib/README.md) is either a tested
 * file of this repository or compiled here, so the docs cannot drift from the code.
 *
 * The comment line right before a fenced code block says which:
 * - `<!-- file: <path> -->`: the block is that file, byte for byte (apart from whitespace at the end).
 * - `<!-- excerpt: <path> -->`: the block is part of that file. Lines that hold only `// …` mark
 *   left-out lines; every run of lines between them is in the file, verbatim and in this order.
 * - `<!-- compile: <path> -->`: the block type-checks as if it were that file (it need not exist;
 *   if it does, the block stands in for it), against the package's sources and with the
 *   tsconfig that covers that path. Compile blocks above it on the same page stand in for their
 *   files too, so a block may import what an earlier one showed.
 * A file or excerpt must come from a file that `npm test` builds, lints or runs: anything in the
 * repository outside build output, dependencies and the docs themselves.
 *
 * Blocks in `sh` and `text` need no marker (see EXEMPT). Any other block without a marker fails.
 * `npm run docs:sync` rewrites the `file:` blocks (and excerpts whose first and last lines are still
 * in the file) from the files.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const LIB = join(ROOT, 'lib')
const DOCS = join(ROOT, 'docs')

/** Languages whose blocks need no marker, and why. */
const EXEMPT: Record<string, string> = {
  // Commands for a person to type. The test command is the one .ci/run runs; the rest install
  // packages or start the demo, which no test can do for a reader's machine.
  sh: 'shell commands',
  // Diagrams and printed output (benchmark lines, logs): nothing to compile.
  text: 'diagrams and program output',
}

/** Where files shown in the docs may not come from: nothing tests them. */
const UNTESTED = ['node_modules', 'dist', '.next', 'artifacts', 'docs']

const MAX_README_LINES = 200

/** The example apps whose wiring the docs must show, and the files that make it up. */
const REQUIRED: Record<string, string[]> = {
  'examples/next-auth-v4': ['middleware.ts', 'auth.ts', 'app/api/auth/[...nextauth]/route.ts'],
  'examples/authjs-v5': ['proxy.ts', 'auth.ts', 'app/auth/[...nextauth]/route.ts'],
  'examples/database-sessions': ['refresh-options.ts', 'middleware.ts', 'auth.ts'],
}

type Kind = 'file' | 'excerpt' | 'compile'

interface Block {
  /** Markdown file, relative to the repository root. */
  doc: string
  /** 1-based line of the opening fence. */
  line: number
  lang: string
  marker?: { kind: Kind; path: string }
  /** The block's content, or why there is none. */
  content: string | { error: string }
}

const MARKER = /^<!--\s*(file|excerpt|compile):\s*(\S+)\s*-->\s*$/
const FENCE = /^(`{3,}|~{3,})\s*([\w-]*)/
const ELISION = /^\s*\/\/ …$/

function docFiles(): string[] {
  const pages = existsSync(DOCS)
    ? readdirSync(DOCS)
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => `docs/${name}`)
    : []
  return ['README.md', ...pages, 'lib/README.md']
}

function readBlocks(doc: string): Block[] {
  const lines = readFileSync(join(ROOT, doc), 'utf8').split('\n')
  const blocks: Block[] = []
  for (let index = 0; index < lines.length; index++) {
    const opening = FENCE.exec(lines[index]!)
    if (!opening) {
      const marker = MARKER.exec(lines[index]!)
      if (marker && !FENCE.test(lines[index + 1] ?? ''))
        blocks.push({ doc, line: index + 1, lang: '', content: { error: `marker for ${marker[2]} is not followed by a code block` } })
      continue
    }
    const fence = opening[1]!
    const marker = MARKER.exec(lines[index - 1] ?? '')
    const line = index + 1
    const body: string[] = []
    let closed = false
    for (index++; index < lines.length; index++) {
      const current = lines[index]!
      if (current.startsWith(fence) && current.slice(fence.length).trim() === '') {
        closed = true
        break
      }
      body.push(current)
    }
    blocks.push({
      doc,
      line,
      lang: opening[2]!,
      ...(marker ? { marker: { kind: marker[1] as Kind, path: marker[2]! } } : {}),
      content: closed ? body.join('\n') : { error: 'the code block is never closed' },
    })
  }
  return blocks
}

/** The shown file, or why it may not be shown. */
function shownFile(path: string): string | { error: string } {
  const resolved = normalize(join(ROOT, path))
  if (!resolved.startsWith(ROOT) || relative(ROOT, resolved).startsWith('..')) return { error: `${path} is outside the repository` }
  const parts = relative(ROOT, resolved).split(sep)
  if (parts.some((part) => UNTESTED.includes(part))) return { error: `${path} is not a tested file (under ${UNTESTED.join(', ')})` }
  if (!existsSync(resolved) || !statSync(resolved).isFile()) return { error: `${path} does not exist` }
  return readFileSync(resolved, 'utf8').trimEnd()
}

function firstDifference(shown: string, file: string): string {
  const shownLines = shown.split('\n')
  const fileLines = file.split('\n')
  const at = fileLines.findIndex((line, index) => line !== shownLines[index])
  const line = at === -1 ? fileLines.length : at
  return `at line ${line + 1}:\n  shown: ${JSON.stringify(shownLines[line] ?? '(end)')}\n  file:  ${JSON.stringify(fileLines[line] ?? '(end)')}`
}

/** Undefined when every run of lines between `// …` is in the file, in order; else the first run that is not. */
function missingRun(shown: string, file: string): string | undefined {
  const fileLines = file.split('\n')
  const runs: string[][] = [[]]
  for (const line of shown.split('\n')) {
    if (ELISION.test(line)) runs.push([])
    else runs.at(-1)!.push(line)
  }
  let from = 0
  for (const run of runs.filter((lines) => lines.length > 0)) {
    let found = -1
    for (let start = from; start + run.length <= fileLines.length && found === -1; start++)
      if (run.every((line, offset) => fileLines[start + offset] === line)) found = start
    if (found === -1) return run.join('\n')
    from = found + run.length
  }
  return undefined
}

// ---- compiling `compile:` blocks ----------------------------------------------------------

/** The nearest tsconfig.json above a path. */
function tsconfigFor(file: string): string {
  for (let dir = dirname(file); dir.startsWith(ROOT); dir = dirname(dir)) {
    if (existsSync(join(dir, 'tsconfig.json'))) return join(dir, 'tsconfig.json')
    if (dir === dirname(dir)) break
  }
  return join(ROOT, 'tsconfig.json')
}

/**
 * The repository installs next-auth v4 as `next-auth` and Auth.js v5 as `next-auth-v5`. A path in an
 * example app whose package.json asks for next-auth 5 gets `next-auth` resolved to v5, as the app's
 * own install would (tsconfig.lint-authjs-v5.json does the same for ESLint).
 */
function nextAuthPaths(file: string): Record<string, string[]> {
  const [top, app] = relative(ROOT, file).split(sep)
  const manifest = join(ROOT, top ?? '', app ?? '', 'package.json')
  if (top !== 'examples' || !existsSync(manifest)) return {}
  const { dependencies = {} } = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> }
  if (!/^\D*5\./.test(dependencies['next-auth'] ?? '')) return {}
  const v5 = join(ROOT, 'node_modules', 'next-auth-v5')
  return { 'next-auth': [v5], 'next-auth/*': [join(v5, '*')] }
}

/** The entries lib/package.json exports (`.`, `./client`, …), as import specifiers. */
function packageEntries(): string[] {
  const manifest = JSON.parse(readFileSync(join(LIB, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> }
  return Object.keys(manifest.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`))
}

/**
 * The package resolves to its sources (no build needed): `next-auth-edge-refresh` is lib/index.ts,
 * `next-auth-edge-refresh/x` is lib/x.ts. Which subpaths exist is checked against lib/package.json.
 */
const PACKAGE_PATHS = { 'next-auth-edge-refresh': [join(LIB, 'index.ts')], 'next-auth-edge-refresh/*': [join(LIB, '*')] }

const sourceCache = new Map<string, ts.SourceFile>()

/**
 * Type errors of `code` as the file `path`. `earlier` holds the page's compile blocks above this one
 * (path → code): a page is read in order, so a block may import a file an earlier block showed.
 */
function typeErrors(path: string, code: string, earlier: Map<string, string>): string[] {
  const file = normalize(join(ROOT, path))
  const virtual = new Map([...earlier].map(([shown, text]) => [normalize(join(ROOT, shown)), text]))
  virtual.set(file, code)
  const config = tsconfigFor(file)
  const parsed = ts.getParsedCommandLineOfConfigFile(
    config,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))
      },
    },
  )!
  const options: ts.CompilerOptions = {
    ...parsed.options,
    incremental: false,
    noEmit: true,
    paths: { ...parsed.options.paths, ...nextAuthPaths(file), ...PACKAGE_PATHS },
    pathsBasePath: parsed.options.pathsBasePath ?? dirname(config),
  }
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  host.readFile = (name) => virtual.get(normalize(name)) ?? readFile(name)
  host.fileExists = (name) => virtual.has(normalize(name)) || fileExists(name)
  host.getSourceFile = (name, languageVersion) => {
    const shown = virtual.get(normalize(name))
    if (shown !== undefined) return ts.createSourceFile(name, shown, languageVersion, true)
    const cached = sourceCache.get(name)
    if (cached) return cached
    const text = readFile(name)
    if (text === undefined) return undefined
    const source = ts.createSourceFile(name, text, languageVersion, true)
    sourceCache.set(name, source)
    return source
  }
  // The context's other files too, so that their module augmentations (next-auth's Session) apply.
  const rootNames = [file, ...parsed.fileNames.filter((name) => normalize(name) !== file)]
  const program = ts.createProgram({ rootNames, options, host })
  const source = program.getSourceFile(file)!
  const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]
  return diagnostics.map((diagnostic) => {
    const at = diagnostic.start === undefined ? '' : `line ${source.getLineAndCharacterOfPosition(diagnostic.start).line + 1}: `
    return `${at}${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`
  })
}

/** `next-auth-edge-refresh…` specifiers the block imports that the package does not export. */
function unexportedImports(code: string): string[] {
  const entries = packageEntries()
  const specifiers = [...code.matchAll(/from\s+'(next-auth-edge-refresh[^']*)'/g)].map((match) => match[1]!)
  return specifiers.filter((specifier) => !entries.includes(specifier))
}

// ---- the tests ---------------------------------------------------------------------------------

const docs = docFiles()
const blocks = docs.flatMap(readBlocks)

describe('documentation', () => {
  it(`README.md has at most ${MAX_README_LINES} lines`, () => {
    const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').trimEnd().split('\n').length
    expect(lines).toBeLessThanOrEqual(MAX_README_LINES)
  })

  it('relative links point at files that exist', () => {
    const broken = docs.flatMap((doc) => {
      const text = readFileSync(join(ROOT, doc), 'utf8')
      return [...text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)]
        .map((match) => match[1]!)
        .filter((target) => !/^[a-z]+:/i.test(target))
        .filter((target) => !existsSync(join(ROOT, dirname(doc), target)))
        .map((target) => `${doc}: ${target}`)
    })
    expect(broken).toEqual([])
  })

  it("shows each example app's wiring: middleware, auth configuration and route", () => {
    const shown = new Set(blocks.filter((block) => block.marker && block.marker.kind !== 'compile').map((block) => block.marker!.path))
    const missing = Object.entries(REQUIRED).flatMap(([app, files]) =>
      files.map((name) => `${app}/${name}`).filter((path) => !shown.has(path)),
    )
    expect(missing, 'no `<!-- file: … -->` or `<!-- excerpt: … -->` block shows these files').toEqual([])
    const apps = readdirSync(join(ROOT, 'examples')).filter((name) => statSync(join(ROOT, 'examples', name)).isDirectory())
    const unshown = apps.filter((app) => ![...shown].some((path) => path.startsWith(`examples/${app}/`)))
    expect(unshown, 'example apps the docs never show').toEqual([])
  })

  for (const block of blocks) {
    const where = `${block.doc}:${block.line}`
    const label = block.marker ? `${block.marker.kind} ${block.marker.path}` : block.lang || '(no language)'
    it(`${where} ${label}`, { timeout: 60_000 }, () => {
      if (typeof block.content !== 'string') throw new Error(`${where}: ${block.content.error}`)
      const code = block.content
      if (!block.marker) {
        if (block.lang in EXEMPT) return
        throw new Error(
          `${where}: a \`${block.lang || 'plain'}\` block needs a marker on the line above it: <!-- file: path -->, <!-- excerpt: path --> or <!-- compile: path --> (only ${Object.keys(EXEMPT).join(', ')} blocks are exempt)`,
        )
      }
      const { kind, path } = block.marker
      if (kind === 'compile') {
        expect(unexportedImports(code), `${where} imports entries lib/package.json does not export`).toEqual([])
        const earlier = new Map(
          blocks
            .filter((other) => other.doc === block.doc && other.line < block.line && other.marker?.kind === 'compile')
            .flatMap((other) => (typeof other.content === 'string' ? [[other.marker!.path, other.content] as const] : [])),
        )
        expect(typeErrors(path, code, earlier), `${where}: the block does not type-check as ${path}`).toEqual([])
        return
      }
      const file = shownFile(path)
      if (typeof file !== 'string') throw new Error(`${where}: ${file.error}`)
      if (kind === 'file') {
        if (code.trimEnd() !== file)
          throw new Error(`${where} differs from ${path} ${firstDifference(code.trimEnd(), file)}\n(npm run docs:sync)`)
        return
      }
      const missing = missingRun(code, file)
      if (missing !== undefined) throw new Error(`${where}: these lines are not in ${path} (in this order):\n${missing}`)
    })
  }
})
