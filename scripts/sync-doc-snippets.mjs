// Rewrites the marked code blocks of README.md, docs/*.md and lib/README.md from the files they
// show (the convention unit-tests/doc-snippets.test.ts checks):
// - `<!-- file: path -->`: the block becomes the file.
// - `<!-- excerpt: path -->`: each run of lines between `// …` lines that is no longer in the file
//   is replaced by the file's lines from the run's first line to its last, when both are still there.
//   A run whose first or last line is gone is reported: rewrite it by hand.
// `compile:` blocks are not the copy of any file; the test compiles them.
// Usage: npm run docs:sync [-- --check]   (--check: change nothing, exit 1 if anything would change)
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const MARKER = /^<!--\s*(file|excerpt):\s*(\S+)\s*-->\s*$/
const FENCE = /^(`{3,}|~{3,})/
const ELISION = /^\s*\/\/ …$/
const check = process.argv.includes('--check')

const docs = [
  'README.md',
  ...(existsSync(join(ROOT, 'docs'))
    ? readdirSync(join(ROOT, 'docs'))
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => `docs/${name}`)
    : []),
  'lib/README.md',
]

/** The excerpt's runs re-read from the file, or a problem. */
function syncExcerpt(shown, fileLines) {
  const runs = [[]]
  const elisions = []
  for (const line of shown) {
    if (ELISION.test(line)) {
      elisions.push(line)
      runs.push([])
    } else runs.at(-1).push(line)
  }
  const out = []
  let from = 0
  for (const [index, run] of runs.entries()) {
    if (run.length > 0) {
      const exact = findRun(run, fileLines, from)
      let start = exact
      let end = exact === -1 ? -1 : exact + run.length
      if (exact === -1) {
        start = fileLines.indexOf(run[0], from)
        end = start === -1 ? -1 : fileLines.indexOf(run.at(-1), start) + 1
        if (start === -1 || end === 0) return { problem: `lines from ${JSON.stringify(run[0])} to ${JSON.stringify(run.at(-1))}` }
      }
      out.push(...fileLines.slice(start, end))
      from = end
    }
    if (index < elisions.length) out.push(elisions[index])
  }
  return { lines: out }
}

function findRun(run, lines, from) {
  for (let start = from; start + run.length <= lines.length; start++)
    if (run.every((line, offset) => lines[start + offset] === line)) return start
  return -1
}

let changed = 0
const problems = []
for (const doc of docs) {
  const path = join(ROOT, doc)
  if (!existsSync(path)) continue
  const lines = readFileSync(path, 'utf8').split('\n')
  const out = []
  for (let index = 0; index < lines.length; index++) {
    out.push(lines[index])
    const marker = MARKER.exec(lines[index])
    const opening = FENCE.exec(lines[index + 1] ?? '')
    if (!marker || !opening) continue
    const [, kind, shown] = marker
    const fence = opening[1]
    let close = index + 2
    while (close < lines.length && !(lines[close].startsWith(fence) && lines[close].slice(fence.length).trim() === '')) close++
    const body = lines.slice(index + 2, close)
    const source = join(ROOT, shown)
    let next = body
    if (!existsSync(source)) problems.push(`${doc}:${index + 1}: ${shown} does not exist`)
    else {
      const fileLines = readFileSync(source, 'utf8').trimEnd().split('\n')
      if (kind === 'file') next = fileLines
      else {
        const result = syncExcerpt(body, fileLines)
        if (result.problem) problems.push(`${doc}:${index + 1}: excerpt of ${shown}: ${result.problem} not found`)
        else next = result.lines
      }
    }
    if (next.join('\n') !== body.join('\n')) {
      changed++
      console.log(`${check ? 'out of date' : 'updated'}: ${doc}:${index + 1} ${kind} ${shown}`)
    }
    out.push(lines[index + 1], ...next)
    index = close - 1
  }
  if (!check) writeFileSync(path, out.join('\n'))
}
for (const problem of problems) console.error(problem)
if (problems.length > 0 || (check && changed > 0)) process.exit(1)
