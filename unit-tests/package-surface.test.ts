// @vitest-environment node
/**
 * The package's surface, read from its sources with the TypeScript compiler: no exported signature
 * uses a type the package keeps to itself, and the file table of docs/07-contributing.md lists
 * exactly the package's files. (What the package exports is recorded by the generated API report
 * and reference, docs/api/, not by a hand-written table.)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const LIB = join(ROOT, 'lib')
/** The page that lists the package's files (the repository's file table). */
const FILE_TABLE_PAGE = 'docs/07-contributing.md'
const FILE_TABLE_TEXT = readFileSync(join(ROOT, FILE_TABLE_PAGE), 'utf8')

/** The lines between `<!-- name:start -->` and `<!-- name:end -->`. */
function markedBlock(name: string): string[] {
  const match = FILE_TABLE_TEXT.match(new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)<!-- ${name}:end -->`))
  if (!match) throw new Error(`${FILE_TABLE_PAGE} lacks the <!-- ${name}:start --> … <!-- ${name}:end --> block`)
  return match[1]!.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| ---'))
}

function compileIndex() {
  const entry = join(LIB, 'index.ts')
  const program = ts.createProgram([entry], {
    strict: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  })
  const checker = program.getTypeChecker()
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!
  const resolve = (symbol: ts.Symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol)
  const exports = checker.getExportsOfModule(moduleSymbol)
  return { checker, exports, resolve }
}

/**
 * Types declared in lib/ that an exported declaration mentions (in a signature, a property, a
 * heritage clause) but index.ts does not export. Function bodies and private members are skipped.
 */
function forgottenExports(): string[] {
  const { checker, exports, resolve } = compileIndex()
  const exported = new Set(exports.map(resolve))
  const forgotten = new Set<string>()
  const visit = (owner: string, node: ts.Node): void => {
    const nameNode = ts.isTypeReferenceNode(node)
      ? node.typeName
      : ts.isTypeQueryNode(node)
        ? node.exprName
        : ts.isExpressionWithTypeArguments(node)
          ? node.expression
          : undefined
    if (nameNode) {
      const found = checker.getSymbolAtLocation(nameNode)
      const symbol = found && resolve(found)
      const file = symbol?.declarations?.[0]?.getSourceFile().fileName
      if (symbol && !(symbol.flags & ts.SymbolFlags.TypeParameter) && file?.startsWith(`${LIB}${sep}`) && !exported.has(symbol))
        forgotten.add(`${symbol.name} (in ${owner})`)
    }
    if (ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((modifier) => modifier.kind === ts.SyntaxKind.PrivateKeyword)) return
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      for (const child of [...(node.typeParameters ?? []), ...node.parameters, ...(node.type ? [node.type] : [])]) visit(owner, child)
      return
    }
    ts.forEachChild(node, (child) => visit(owner, child))
  }
  for (const symbol of exports) for (const declaration of resolve(symbol).declarations ?? []) visit(symbol.name, declaration)
  return [...forgotten].sort()
}

/** Every file of the package (what `npm pack` would take from the sources), relative to lib/. */
function packageFiles(dir = LIB): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (name === 'dist' || name === 'node_modules') return []
    return statSync(path).isDirectory() ? packageFiles(path) : [relative(LIB, path).split(sep).join('/')]
  })
}

/** Files the file table lists: its folder column joined with each backticked file name. */
function filesInTable(): string[] {
  return markedBlock('files')
    .slice(1)
    .flatMap((line) => {
      const [, folder, files] = line.split(' | ')
      const base = /`lib\/([^`]*)`/.exec(folder ?? '')?.[1] ?? '(unreadable folder)'
      return [...(files ?? '').matchAll(/`([\w.-]+\.(?:ts|mjs|json|md)|LICENSE)`/g)].map((match) => `${base}${match[1]}`)
    })
}

describe('the package surface', () => {
  // A whole-program type check: seconds, more on a busy machine.
  it('no exported signature uses a type the package does not export', () => {
    expect(forgottenExports()).toEqual([])
  }, 30_000)

  it(`the file table of ${FILE_TABLE_PAGE} lists every file of the package, and only those`, () => {
    const files = packageFiles().sort()
    const listed = filesInTable().sort()
    expect({
      missingFromTable: files.filter((file) => !listed.includes(file)),
      gone: listed.filter((file) => !files.includes(file)),
    }).toEqual({ missingFromTable: [], gone: [] })
  })
})
