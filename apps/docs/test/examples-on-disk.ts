import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The docs app's folder (`apps/docs`). Examples run with it as their cwd. */
export const docsRoot = fileURLToPath(new URL('..', import.meta.url))

/** The folder that holds every example shown in the docs. */
export const examplesRoot = join(docsRoot, 'examples')

/** Paths of files under `dir` (recursive), relative to `docsRoot`, with `/` separators. */
export function listFiles(dir: string, keep: (path: string) => boolean): string[] {
  const found: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) found.push(...listFiles(path, keep))
    } else if (keep(path)) {
      found.push(relative(docsRoot, path).split(sep).join('/'))
    }
  }
  return found.sort()
}

/**
 * Every example program: `examples/<way>/<name>.ts`, and `examples/<way>/<name>.mjs`,
 * the plain JavaScript twin of a quick start (same output file, runs without a loader).
 */
export function listExamples(): string[] {
  return listFiles(examplesRoot, (path) => (path.endsWith('.ts') && !path.endsWith('.d.ts')) || path.endsWith('.mjs'))
}

/** True for a JavaScript example, which runs with plain `node`; TypeScript runs with `node --import tsx`. */
export function isJavaScript(example: string): boolean {
  return example.endsWith('.mjs')
}

/**
 * The expected output of an example: `.out` (exact) or `.out.unordered` (compared after sorting lines).
 * A `.ts` example and its `.mjs` twin share one.
 */
export function expectedOutputOf(example: string): { path: string; unordered: boolean } | undefined {
  const base = example.replace(/\.(ts|mjs)$/, '')
  if (existsSync(join(docsRoot, `${base}.out`))) return { path: `${base}.out`, unordered: false }
  if (existsSync(join(docsRoot, `${base}.out.unordered`))) return { path: `${base}.out.unordered`, unordered: true }
  return undefined
}

export function readDocsFile(path: string): string {
  return readFileSync(join(docsRoot, path), 'utf8').replace(/\r\n/g, '\n')
}
