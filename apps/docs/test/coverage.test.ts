import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { docsRoot, expectedOutputOf, listExamples, listFiles, readDocsFile } from './examples-on-disk'

// Pages include code only from examples/ (`<<< @/examples/…`), and the en and
// zh pages include the same files, so the two languages cannot disagree about
// code. This test proves both, and that nothing in examples/ is left unshown.

/** One `<<< @/path#region` line of a page. */
interface Include {
  file: string
  region: string | undefined
}

const SNIPPET = /^\s*<<<\s+@\/(\S+?)(?:#([\w-]+))?(?:\s*\{[^}]*\})?(?:\s*\[[^\]]*\])?\s*$/

function includesOf(page: string): Include[] {
  const found: Include[] = []
  for (const line of readDocsFile(page).split('\n')) {
    const match = SNIPPET.exec(line)
    if (match?.[1]) found.push({ file: match[1], region: match[2] })
  }
  return found
}

function key(include: Include): string {
  return include.region ? `${include.file}#${include.region}` : include.file
}

const pages = listFiles(docsRoot, (path) => path.endsWith('.md')).filter(
  (page) => page !== 'README.md' && !/^(examples|test|e2e)\//.test(page),
)
const enPages = pages.filter((page) => !page.startsWith('zh/'))
const zhPages = pages.filter((page) => page.startsWith('zh/'))
const examples = listExamples()

describe('docs pages and examples', () => {
  it('have pages in both languages', () => {
    expect(enPages.length).toBeGreaterThan(0)
    expect(zhPages.map((page) => page.slice('zh/'.length))).toEqual(enPages)
  })

  it('include only files that exist, and only regions that exist in them', () => {
    const problems: string[] = []
    for (const page of pages) {
      for (const include of includesOf(page)) {
        if (!existsSync(join(docsRoot, include.file))) {
          problems.push(`${page}: ${include.file} does not exist`)
          continue
        }
        if (!include.file.startsWith('examples/')) problems.push(`${page}: ${include.file} is not under examples/`)
        if (include.region) {
          const text = readDocsFile(include.file)
          const start = new RegExp(`^\\s*// #region ${include.region}\\s*$`, 'm')
          const end = new RegExp(`^\\s*// #endregion ${include.region}\\s*$`, 'm')
          if (!start.test(text) || !end.test(text)) {
            problems.push(`${page}: ${include.file} has no region "${include.region}"`)
          }
        }
      }
    }
    expect(problems).toEqual([])
  })

  it('show every example on an English page, with its expected output beside it', () => {
    const problems: string[] = []
    for (const example of examples) {
      const output = expectedOutputOf(example)
      const showing = enPages.filter((page) => includesOf(page).some((include) => include.file === example))
      if (showing.length === 0) problems.push(`${example} is included by no page`)
      if (!output) {
        problems.push(`${example} has no .out or .out.unordered file`)
        continue
      }
      for (const page of showing) {
        if (!includesOf(page).some((include) => include.file === output.path)) {
          problems.push(`${page} shows ${example} but not its output ${output.path}`)
        }
      }
    }
    expect(problems).toEqual([])
  })

  it('include the same example files on the zh page as on the en page', () => {
    const problems: string[] = []
    for (const page of enPages) {
      const zhPage = `zh/${page}`
      if (!existsSync(join(docsRoot, zhPage))) {
        problems.push(`${page} has no Chinese page ${zhPage}`)
        continue
      }
      const en = new Set(includesOf(page).map(key))
      const zh = new Set(includesOf(zhPage).map(key))
      for (const include of en) if (!zh.has(include)) problems.push(`${zhPage} lacks ${include} (included by ${page})`)
      for (const include of zh) if (!en.has(include)) problems.push(`${page} lacks ${include} (included by ${zhPage})`)
    }
    expect(problems).toEqual([])
  })

  it('paste no code: every ts/js code block comes from examples/', () => {
    const problems: string[] = []
    for (const page of pages) {
      const fences = readDocsFile(page).match(/^\s*```(ts|js|typescript|javascript)\b.*$/gm) ?? []
      if (fences.length > 0) problems.push(`${page}: ${fences.length} pasted TypeScript/JavaScript block(s)`)
    }
    expect(problems).toEqual([])
  })
})
