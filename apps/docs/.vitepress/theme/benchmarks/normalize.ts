// Turns benchmarks/results/latest.json into tables and charts for the
// Benchmarks page. The file is written by `pnpm bench` (benchmarks/), whose
// README documents its schema (`schemaVersion: 1`): one result per workload,
// with our figure and each peer's. That schema gets a table per family and a
// chart per workload (our bar against the peers').
//
// Any other JSON falls back to a generic reading, so the page keeps working if
// the schema changes:
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
  /** Shown as the header; `''` means the page's own word for `key` ('unit', 'target', '@ipc'). */
  label: string
  numeric: boolean
  /** A reference peer ("… (ceiling)", "… (floor)"), not an alternative: see `isReference`. */
  reference?: boolean
}

export interface Row {
  name: string
  /** Display text per column key ('' when the row has no value there). */
  cells: Record<string, string>
  /** Raw numbers per numeric column key. */
  numbers: Record<string, number>
}

export interface Bar {
  label: string
  value: number
  text: string
  /** The @ipc figure, drawn in the brand colour. */
  ours: boolean
  /** A reference peer ("… (ceiling)", "… (floor)"), drawn as an outline. */
  reference?: boolean
}

export interface Chart {
  title: string
  unit: string
  higherIsBetter: boolean
  bars: Bar[]
  note: string
}

export interface Table {
  /** A family id (`queue`, `pipe`, …) or a group name. */
  title: string
  columns: Column[]
  rows: Row[]
  charts: Chart[]
}

export interface BenchmarkData {
  status: 'ok' | 'missing' | 'invalid'
  /** The file, relative to the repository root. */
  source: string
  /** Why the file could not be read or understood (status 'invalid'). */
  message: string
  meta: { key: string; value: string }[]
  notes: string[]
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

function chooseChart(columns: Column[], rows: Row[]): Chart[] {
  const numeric = columns.filter((column) => column.numeric)
  const rate = numeric.find((column) => RATE.test(column.key))
  const time = numeric.find((column) => TIME.test(column.key))
  const pick = rate ?? time ?? numeric[0]
  if (!pick) return []
  const bars = rows
    .filter((row) => row.numbers[pick.key] !== undefined)
    .map((row) => ({
      label: row.name,
      value: row.numbers[pick.key] ?? 0,
      text: row.cells[pick.key] ?? '',
      ours: false,
    }))
  // A rate is better high; a time (chosen only when there is no rate) is better low.
  const higherIsBetter = pick !== time || rate !== undefined
  return [{ title: pick.key, unit: '', higherIsBetter, bars, note: '' }]
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
  if (isReportV1(json)) return normalizeV1(json, source)
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
          column = { key, label: key, numeric: typeof value === 'number' }
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
    tables.push({ title, columns, rows, charts: chooseChart(columns, rows) })
  }
  const meta = collectMeta(json as Json)
  if (tables.length === 0) {
    return { status: 'invalid', source, message: 'The file holds no benchmark results.', meta, notes: [], tables }
  }
  return { status: 'ok', source, message: '', meta, notes: [], tables }
}

// --- schemaVersion 1 (benchmarks/README.md) -------------------------------

/**
 * A peer whose name ends in "(ceiling)" or "(floor)" is not an alternative but
 * a reference measured in the same run: the least work any implementation must
 * do (e.g. "one process: new Buffer + copy (ceiling)" beside the 64 KiB rows,
 * "C spin (floor)" beside the pinned round trips, "Node, nothing pending
 * (floor)" beside the idle rows). Files from before they existed have none.
 */
export function isReference(peer: string): boolean {
  return peer.endsWith('(ceiling)') || peer.endsWith('(floor)')
}

interface FigureV1 {
  median?: number
  error?: string
  skipped?: string
}

interface ResultV1 {
  workload: string
  family: string
  title: string
  unit: string
  higherIsBetter: boolean
  ours: FigureV1
  peers: Record<string, FigureV1>
  target?: string
  targetMet?: boolean | null
  note?: string
}

function isReportV1(json: unknown): json is { schemaVersion: 1; results: ResultV1[] } & JsonObject {
  return isObject(json) && json.schemaVersion === 1 && Array.isArray(json.results)
}

function figureText(figure: FigureV1 | undefined): string {
  if (!figure) return ''
  if (typeof figure.median === 'number') return formatNumber(figure.median)
  if (figure.skipped !== undefined) return 'skipped'
  return 'error'
}

function normalizeV1(json: { results: ResultV1[] } & JsonObject, source: string): BenchmarkData {
  const machine = isObject(json.machine) ? json.machine : {}
  const settings = isObject(json.settings) ? json.settings : {}
  const meta: { key: string; value: string }[] = []
  const add = (key: string, value: unknown) => {
    if (isScalar(value)) meta.push({ key, value: typeof value === 'number' ? formatNumber(value) : String(value) })
  }
  add('date', json.date)
  add('mode', json.mode)
  add('durationSeconds', json.durationSeconds)
  for (const key of ['cpu', 'cores', 'memoryGiB', 'os', 'node', 'python', 'loadAverage']) add(key, machine[key])
  add('repetitions', settings.repetitions)

  const families = new Map<string, ResultV1[]>()
  for (const result of json.results) {
    if (!isObject(result) || !isObject(result.ours) || !isObject(result.peers)) continue
    const list = families.get(result.family) ?? []
    list.push(result)
    families.set(result.family, list)
  }

  const tables: Table[] = []
  for (const [family, results] of families) {
    const peers: string[] = []
    for (const result of results) {
      for (const peer of Object.keys(result.peers)) if (!peers.includes(peer)) peers.push(peer)
    }
    const columns: Column[] = [
      { key: 'unit', label: '', numeric: false },
      { key: 'ours', label: '', numeric: true },
      ...peers.map((peer) => ({
        key: `peer:${peer}`,
        label: peer,
        numeric: true,
        ...(isReference(peer) ? { reference: true } : {}),
      })),
      { key: 'target', label: '', numeric: false },
    ]
    const rows: Row[] = results.map((result) => {
      const cells: Record<string, string> = { unit: result.unit, ours: figureText(result.ours) }
      const numbers: Record<string, number> = {}
      if (typeof result.ours.median === 'number') numbers.ours = result.ours.median
      for (const peer of peers) {
        const figure = result.peers[peer]
        cells[`peer:${peer}`] = figureText(figure)
        if (typeof figure?.median === 'number') numbers[`peer:${peer}`] = figure.median
      }
      const met = result.targetMet === true ? ' ✓' : result.targetMet === false ? ' ✗' : ''
      cells.target = result.target ? `${result.target}${met}` : ''
      return { name: result.title, cells, numbers }
    })
    const charts: Chart[] = results.map((result) => {
      const bars: Bar[] = []
      if (typeof result.ours.median === 'number') {
        bars.push({ label: '@ipc', value: result.ours.median, text: formatNumber(result.ours.median), ours: true })
      }
      for (const [peer, figure] of Object.entries(result.peers)) {
        if (typeof figure.median === 'number') {
          bars.push({
            label: peer,
            value: figure.median,
            text: formatNumber(figure.median),
            ours: false,
            ...(isReference(peer) ? { reference: true } : {}),
          })
        }
      }
      return {
        title: result.title,
        unit: result.unit,
        higherIsBetter: result.higherIsBetter,
        bars,
        note: result.note ?? '',
      }
    })
    tables.push({ title: family, columns, rows, charts })
  }
  const notes = Array.isArray(json.notes) ? json.notes.filter((note): note is string => typeof note === 'string') : []
  if (tables.length === 0) {
    return { status: 'invalid', source, message: 'The file holds no benchmark results.', meta, notes, tables }
  }
  return { status: 'ok', source, message: '', meta, notes, tables }
}
