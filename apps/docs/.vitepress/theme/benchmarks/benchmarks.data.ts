import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineLoader } from 'vitepress'
import { type BenchmarkData, normalize } from './normalize'

export type { BenchmarkData }

declare const data: BenchmarkData

export { data }

/** Where `pnpm bench` writes its latest results, relative to the repository root. */
const SOURCE = 'benchmarks/results/latest.json'
const defaultPath = fileURLToPath(new URL(`../../../../../${SOURCE}`, import.meta.url))

// Read at build time. IPC_BENCH_RESULTS points the page at another file
// (to preview a run that was saved elsewhere).
export default defineLoader({
  watch: [`../../../../../${SOURCE}`],
  load(): BenchmarkData {
    const path = process.env.IPC_BENCH_RESULTS || defaultPath
    if (!existsSync(path)) {
      return { status: 'missing', source: SOURCE, message: '', meta: [], notes: [], tables: [] }
    }
    try {
      return normalize(JSON.parse(readFileSync(path, 'utf8')), SOURCE)
    } catch (error) {
      return { status: 'invalid', source: SOURCE, message: (error as Error).message, meta: [], notes: [], tables: [] }
    }
  },
})
