// Turns benchmarks/results/latest.json into tables and charts for the
// Benchmarks page. The file is written by `pnpm bench` (benchmarks/); this
// reader accepts the shapes such a file naturally takes, so the page keeps
// working as the benchmark suite grows:
//
// - `{ …metadata, results: [{ name, group?, <numbers> }] }`
//   (also `benchmarks`, `scenarios`, `cases`, `suites`, … instead of `results`)
// - suites with their own lists: `{ suites: [{ name, results: [ … ] }] }`
// - maps: `{ results: { queue: [ … ], pipe: { name: { <numbers> } } } }`
// - a bare array of result objects.
//
// Numbers become table columns (nested objects one level deep, as
// `latency.p50`); the first column that looks like a rate (ops/s, msg/s, MB/s)
// is charted, else the first that looks like a time (lower is better).

export interface Column {
  key: string
  numeric: boolean
}

export interface Row {
  name: string
  /** Display text per column key ('' when the row has no value there). */
  cells: Record<string, string>
  /** Raw numbers per numeric column key. */
  numbers: Record<string, number>
}

export interface Chart {
  key: string
  higherIsBetter: boolean
}

export interface Table {
  title: string
  columns: Column[]
  rows: Row[]
  chart: Chart | undefined
}

export interface BenchmarkData {
  status: 'ok' | 'missing' | 'invalid'
  /** The file, relative to the repository root. */
  source: string
  /** Why the file could not be read or understood (status 'invalid'). */
  message: string
  meta: { key: string; value: string }[]
  tables: Table[]
}

const LIST_KEYS = [
  'results',
  'benchmarks',
  'scenarios',
  'cases',
  'tasks',
  'runs',
  'entries',
  'suites',
  'groups',
  'data',
]
const META_KEYS = ['env', 'environment', 'machine', 'system', 'meta', 'metadata', 'host', 'runtime', 'config']
const NAME_KEYS = ['name', 'title', 'label', 'benchmark', 'case', 'task', 'test', 'id']
const GROUP_KEYS = ['group', 'suite', 'category', 'primitive', 'family', 'kind', 'scenario']
const RATE = /ops|per.?sec|per.?s$|\/s$|throughput|hz|msgs|messages|mb.?s|gb.?s|bytes.?per|rate/i
const TIME = /mean|median|p50|p90|p95|p99|avg|average|latency|time|duration|(^|[^a-z])(ms|ns|us|µs)$/i

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
}

function firstString(record: JsonObject, keys: string[]): string | undefined {
  for (const key of keys) {
    const value = record[key]
    if (typeof value === 'string' && value !== '') return value
    if (typeof value === 'number') return String(value)
  }
  return undefined
}

interface Found {
  group: string | undefined
  record: JsonObject
}

function collect(node: Json, group: string | undefined, out: Found[], depth = 0): void {
  if (depth > 6) return
  if (Array.isArray(node)) {
    for (const item of node) {
      if (!isObject(item)) continue
      const list = LIST_KEYS.find((key) => Array.isArray(item[key]) || isObject(item[key]))
      if (list && !hasOwnNumbers(item)) {
        collect(
          item[list] as Json,
          firstString(item, NAME_KEYS) ?? firstString(item, GROUP_KEYS) ?? group,
          out,
          depth + 1,
        )
      } else {
        out.push({ group, record: item })
      }
    }
    return
  }
  if (!isObject(node)) return
  const list = LIST_KEYS.find((key) => Array.isArray(node[key]) || isObject(node[key]))
  if (list) {
    collect(node[list] as Json, group, out, depth + 1)
    return
  }
  for (const [key, value] of Object.entries(node)) {
    if (META_KEYS.includes(key)) continue
    if (Array.isArray(value)) collect(value, key, out, depth + 1)
    else if (isObject(value)) {
      if (hasOwnNumbers(value)) out.push({ group, record: { name: key, ...value } })
      else collect(value, key, out, depth + 1)
    }
  }
}

function hasOwnNumbers(record: JsonObject): boolean {
  return Object.values(record).some((value) => typeof value === 'number')
}

const integerFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const decimalFormat = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4 })

/** Formats a number for a table cell; fixed to en-US so server and browser agree. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  return Number.isInteger(value) || Math.abs(value) >= 1000 ? integerFormat.format(value) : decimalFormat.format(value)
}

function flatten(record: JsonObject, skip: Set<string>): Map<string, string | number> {
  const cells = new Map<string, string | number>()
  for (const [key, value] of Object.entries(record)) {
    if (skip.has(key)) continue
    if (typeof value === 'number' || typeof value === 'string') cells.set(key, value)
    else if (typeof value === 'boolean') cells.set(key, String(value))
    else if (isObject(value)) {
      for (const [inner, innerValue] of Object.entries(value)) {
        if (typeof innerValue === 'number' || typeof innerValue === 'string') cells.set(`${key}.${inner}`, innerValue)
      }
    }
  }
  return cells
}

function chooseChart(columns: Column[]): Chart | undefined {
  const numeric = columns.filter((column) => column.numeric)
  const rate = numeric.find((column) => RATE.test(column.key))
  if (rate) return { key: rate.key, higherIsBetter: true }
  const time = numeric.find((column) => TIME.test(column.key))
  if (time) return { key: time.key, higherIsBetter: false }
  const first = numeric[0]
  return first ? { key: first.key, higherIsBetter: true } : undefined
}

function collectMeta(json: Json): { key: string; value: string }[] {
  if (!isObject(json)) return []
  const meta: { key: string; value: string }[] = []
  for (const [key, value] of Object.entries(json)) {
    if (isScalar(value)) meta.push({ key, value: String(value) })
    else if (META_KEYS.includes(key) && isObject(value)) {
      for (const [inner, innerValue] of Object.entries(value)) {
        if (isScalar(innerValue)) meta.push({ key: `${key}.${inner}`, value: String(innerValue) })
      }
    }
  }
  return meta
}

/** Builds the page's data from the parsed JSON file. */
export function normalize(json: unknown, source: string): BenchmarkData {
  const found: Found[] = []
  collect(json as Json, undefined, found)
  const byGroup = new Map<string, Found[]>()
  for (const item of found) {
    const title = firstString(item.record, GROUP_KEYS) ?? item.group ?? 'Results'
    const list = byGroup.get(title) ?? []
    list.push(item)
    byGroup.set(title, list)
  }
  const tables: Table[] = []
  for (const [title, items] of byGroup) {
    const columns: Column[] = []
    const rows: Row[] = []
    items.forEach((item, index) => {
      const nameKey = NAME_KEYS.find(
        (key) => typeof item.record[key] === 'string' || typeof item.record[key] === 'number',
      )
      const groupKey = GROUP_KEYS.find((key) => key !== nameKey && typeof item.record[key] === 'string')
      const skip = new Set([nameKey, groupKey].filter((key): key is string => key !== undefined))
      const cells = flatten(item.record, skip)
      const row: Row = {
        name: nameKey ? String(item.record[nameKey]) : `#${index + 1}`,
        cells: {},
        numbers: {},
      }
      for (const [key, value] of cells) {
        let column = columns.find((existing) => existing.key === key)
        if (!column) {
          column = { key, numeric: typeof value === 'number' }
          columns.push(column)
        }
        if (typeof value === 'number') {
          row.numbers[key] = value
          row.cells[key] = formatNumber(value)
        } else {
          column.numeric = false
          row.cells[key] = value
        }
      }
      rows.push(row)
    })
    for (const column of columns) {
      if (column.numeric) continue
      // A column with text in some row is text for all rows.
      for (const row of rows) delete row.numbers[column.key]
    }
    tables.push({ title, columns, rows, chart: chooseChart(columns) })
  }
  if (tables.length === 0) {
    return {
      status: 'invalid',
      source,
      message: 'The file holds no benchmark results.',
      meta: collectMeta(json as Json),
      tables,
    }
  }
  return { status: 'ok', source, message: '', meta: collectMeta(json as Json), tables }
}
