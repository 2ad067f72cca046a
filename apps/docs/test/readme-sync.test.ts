import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { docsRoot, examplesRoot } from './examples-on-disk'

// A package README's quick start is a region of a docs example (STYLE 4.11), so
// the code on the package page is code that examples.test.ts runs. In the
// README, a marker comment names the example and region; the ```ts block right
// after it must equal that region as VitePress would show it:
//
//   <!-- example: queue/producer-consumer.ts#quick-start -->
//   ```ts
//   …
//   ```
//
// To update a README, copy the region's lines (without `// #region` /
// `// #endregion` lines, indentation removed) into the block.
//
// A `.ts` example with a `.mjs` twin is shown twice: the ```js block of the
// twin (plain `node`, no loader) and the ```ts block. And since npm shows the
// README without the repository around it, every link must be absolute, and
// a link into the docs site must name a page that exists.

const packagesRoot = join(docsRoot, '..', '..', 'packages')

/** Where apps/docs is published (GitHub Pages, `DOCS_BASE=/ipc/`). */
const DOCS_URL = 'https://ipc-js.github.io/ipc/'

/** Packages whose README has no quick start taken from an example yet (none now: keep it that way). */
const WITHOUT_EXAMPLE = new Set<string>()

const MARKER = /^<!--\s*example:\s*(\S+?)(?:#([\w*-]+))?\s*-->$/
/** A `// #region name` / `// #endregion name` line, as VitePress matches it (after trim). */
const REGION_LINE = /^\/\/ ?#?((?:end)?region) ([\w*-]+)$/

interface Marker {
  readme: string
  /** 1-based line of the marker. */
  line: number
  file: string
  region: string | undefined
  /** The lines of the code block after the marker, or an explanation of why there is none. */
  block: string | { problem: string }
}

function readText(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r\n/g, '\n')
}

function markersOf(readme: string): Marker[] {
  const lines = readText(join(packagesRoot, readme)).split('\n')
  const found: Marker[] = []
  for (let i = 0; i < lines.length; i++) {
    const match = MARKER.exec((lines[i] ?? '').trim())
    if (!match?.[1]) continue
    const marker = { readme, line: i + 1, file: match[1], region: match[2] }
    let open = i + 1
    while (open < lines.length && (lines[open] ?? '').trim() === '') open++
    const fence = /^(`{3,})(\w*)\s*$/.exec(lines[open] ?? '')
    const languages = marker.file.endsWith('.mjs') ? ['js', 'javascript'] : ['ts', 'typescript']
    if (!fence?.[1] || !languages.includes(fence[2] ?? '')) {
      found.push({ ...marker, block: { problem: `no \`\`\`${languages[0]} block follows the marker` } })
      continue
    }
    const close = lines.findIndex((line, k) => k > open && line.trim() === fence[1])
    if (close < 0) {
      found.push({ ...marker, block: { problem: 'the code block after the marker is never closed' } })
      continue
    }
    found.push({ ...marker, block: lines.slice(open + 1, close).join('\n') })
  }
  return found
}

/** VitePress's dedent: removes the indentation common to all non-blank lines. */
function dedent(text: string): string {
  const lines = text.split('\n')
  let min = Number.POSITIVE_INFINITY
  for (const line of lines) {
    const indent = line.search(/[^ \t]/)
    if (indent >= 0) min = Math.min(min, indent)
  }
  return min === Number.POSITIVE_INFINITY ? text : lines.map((line) => line.slice(min)).join('\n')
}

/**
 * What `<<< @/examples/<file>#<region>` shows (VitePress 1.6's findRegion): the
 * lines between the region's markers, minus every region marker line
 * (nested regions included), dedented. Without a region, the whole file.
 */
function regionOf(file: string, region: string | undefined): string | { problem: string } {
  const path = join(examplesRoot, file)
  if (!existsSync(path)) return { problem: `examples/${file} does not exist` }
  const text = readText(path)
  if (region === undefined) return text
  const lines = text.split('\n')
  const marks = lines.map((line) => REGION_LINE.exec(line.trim()))
  const start = marks.findIndex((m) => m?.[1] === 'region' && m[2] === region)
  const end = marks.findIndex((m, k) => k > start && m?.[1] === 'endregion' && m[2] === region)
  if (start < 0 || end < 0) return { problem: `examples/${file} has no region "${region}"` }
  return dedent(
    lines
      .slice(start + 1, end)
      .filter((_, k) => marks[start + 1 + k] === null)
      .join('\n'),
  )
}

/** True if `url` (under DOCS_URL, clean URLs, `#anchor` ignored) is a page of apps/docs. */
function docsPageExists(url: string): boolean {
  const path = url.slice(DOCS_URL.length).replace(/#.*$/, '')
  if (path === '' || path.endsWith('/')) return existsSync(join(docsRoot, path, 'index.md'))
  return existsSync(join(docsRoot, `${path}.md`))
}

const readmes = readdirSync(packagesRoot, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(packagesRoot, entry.name, 'README.md')))
  .map((entry) => `${entry.name}/README.md`)
  .sort()
const markers = readmes.flatMap(markersOf)

describe('package READMEs', () => {
  it('exist', () => {
    expect(readmes.length).toBeGreaterThan(0)
  })

  it('each show a quick start taken from a docs example (or are listed in WITHOUT_EXAMPLE)', () => {
    const problems: string[] = []
    for (const readme of readmes) {
      const pkg = readme.split('/')[0] ?? readme
      const has = markers.some((marker) => marker.readme === readme)
      if (!has && !WITHOUT_EXAMPLE.has(pkg)) problems.push(`packages/${readme} has no <!-- example: … --> marker`)
      if (has && WITHOUT_EXAMPLE.has(pkg))
        problems.push(`packages/${readme} has a marker: remove "${pkg}" from WITHOUT_EXAMPLE`)
    }
    expect(problems).toEqual([])
  })

  it('show the JavaScript twin of each TypeScript quick start that has one, with the same region', () => {
    const problems: string[] = []
    for (const marker of markers) {
      if (!marker.file.endsWith('.ts')) continue
      const twin = marker.file.replace(/\.ts$/, '.mjs')
      if (!existsSync(join(examplesRoot, twin))) continue
      const shown = markers.some((m) => m.readme === marker.readme && m.file === twin && m.region === marker.region)
      if (!shown) problems.push(`packages/${marker.readme}:${marker.line} shows ${marker.file} but not ${twin}`)
    }
    expect(problems).toEqual([])
  })

  it('stand alone on the npm page: absolute links, and docs links to pages that exist', () => {
    const problems: string[] = []
    for (const readme of readmes) {
      // Links in prose only: code blocks and code spans may hold `](`.
      const prose = readText(join(packagesRoot, readme))
        .replace(/^```[\s\S]*?^```/gm, '')
        .replace(/`[^`\n]*`/g, '')
      for (const [, target = ''] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (target.startsWith('#')) continue
        if (!target.startsWith('https://')) problems.push(`packages/${readme} links to ${target}, which breaks on npm`)
        else if (target.startsWith(DOCS_URL) && !docsPageExists(target))
          problems.push(`packages/${readme} links to ${target}, which is no page of apps/docs`)
      }
    }
    expect(problems).toEqual([])
  })

  for (const marker of markers) {
    const where = `packages/${marker.readme}:${marker.line}`
    const source = `examples/${marker.file}${marker.region === undefined ? '' : `#${marker.region}`}`
    it(`${where} equals ${source}`, () => {
      const expected = regionOf(marker.file, marker.region)
      if (typeof expected !== 'string') throw new Error(`${where}: ${expected.problem}`)
      if (typeof marker.block !== 'string') throw new Error(`${where}: ${marker.block.problem}`)
      // Compared line by line, so that a failure shows a readable diff.
      expect(marker.block.split('\n'), `${where} differs from ${source}: copy the region into the README`).toEqual(
        expected.split('\n'),
      )
    })
  }
})
