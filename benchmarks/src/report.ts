import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Family, Measured, Ref, RowSpec } from './harness.ts'
import type { Machine } from './machine.ts'
import type { Mode } from './modes.ts'
import { isStat, type Outcome, ratio, type Stat } from './stats.ts'

/** One workload: our figure, each peer's, and `ours / peer` for each. See README.md for the schema. */
export interface ResultRow {
  workload: string
  family: string
  title: string
  unit: string
  higherIsBetter: boolean
  bytesPerOp?: number
  ours: Outcome
  peers: Record<string, Outcome>
  /** `ours.median / peer.median`, only for peers where both sides have a number. */
  ratios: Record<string, number>
  target?: string
  /** Whether our median meets `target`; null when it cannot be told (no number). */
  targetMet?: boolean | null
  note?: string
}

export interface Report {
  schemaVersion: 1
  /** Every segment and socket of the run carries `ipcbench-<runId>`. */
  runId: string
  machine: Machine
  mode: Mode['name']
  date: string
  durationSeconds: number
  settings: { warmup: number; repetitions: number; targetRepetitionMs: number }
  notes: string[]
  results: ResultRow[]
}

function outcomeOf(measured: Map<string, Measured>, ref: Ref): Outcome {
  const m = measured.get(ref.job)
  if (!m) return { error: 'not run' }
  if (m.skipped) return { skipped: m.skipped }
  if (m.error) return { error: m.error }
  const stat = m.metrics?.[ref.metric]
  return stat ?? { error: `no metric ${ref.metric}` }
}

export function buildRows(families: Family[], rows: RowSpec[], measured: Map<string, Measured>): ResultRow[] {
  const familyOf = new Map<RowSpec, string>()
  for (const family of families) for (const row of family.rows) familyOf.set(row, family.name)
  return rows.map((spec) => {
    const ours = outcomeOf(measured, spec.ours)
    const peers: Record<string, Outcome> = {}
    const ratios: Record<string, number> = {}
    const peerMedians: Record<string, number | undefined> = {}
    for (const [name, ref] of Object.entries(spec.peers)) {
      const peer = outcomeOf(measured, ref)
      peers[name] = peer
      peerMedians[name] = isStat(peer) ? peer.median : undefined
      const r = ratio(ours, peer)
      if (r !== undefined) ratios[name] = r
    }
    const row: ResultRow = {
      workload: spec.workload,
      family: familyOf.get(spec) ?? '',
      title: spec.title,
      unit: spec.unit,
      higherIsBetter: spec.higherIsBetter,
      ...(spec.bytesPerOp !== undefined ? { bytesPerOp: spec.bytesPerOp } : {}),
      ours,
      peers,
      ratios,
    }
    if (spec.target) {
      row.target = spec.target.text
      row.targetMet = isStat(ours) ? (spec.target.met(ours.median, peerMedians) ?? null) : null
    }
    if (spec.note) row.note = spec.note
    return row
  })
}

/** 3 significant digits with k/M/G suffixes: 2.31M, 456k, 12.3. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  const abs = Math.abs(value)
  const [scaled, suffix] =
    abs >= 1e9 ? [value / 1e9, 'G'] : abs >= 1e6 ? [value / 1e6, 'M'] : abs >= 1e4 ? [value / 1e3, 'k'] : [value, '']
  const digits = Math.abs(scaled) >= 100 ? 0 : Math.abs(scaled) >= 10 ? 1 : 2
  return `${scaled.toFixed(digits)}${suffix}`
}

function bandwidth(stat: Stat, bytesPerOp: number): string {
  const mbps = (stat.median * bytesPerOp) / 1e6
  return mbps >= 1000 ? `${(mbps / 1000).toFixed(2)} GB/s` : `${formatNumber(mbps)} MB/s`
}

/**
 * A peer whose name ends in "(ceiling)" is a reference measured alone in the same run
 * (e.g. the new Buffer + copy every Buffer-returning get() does), not an alternative.
 */
export function isCeiling(peer: string): boolean {
  return peer.endsWith('(ceiling)')
}

/**
 * A peer whose name ends in "(floor)" is a reference too: what the hardware or the
 * runtime costs before any library does anything (the C ping-pongs, an idle Node
 * process). Never a target to beat.
 */
export function isFloor(peer: string): boolean {
  return peer.endsWith('(floor)')
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function cell(outcome: Outcome | undefined, row: ResultRow): string {
  if (outcome === undefined) return '—'
  if ('skipped' in outcome && outcome.skipped) return 'skipped'
  if (!isStat(outcome)) return `error¹`
  let text = `${formatNumber(outcome.median)} [${formatNumber(outcome.min)}–${formatNumber(outcome.max)}]`
  if (row.bytesPerOp !== undefined && row.unit === 'msg/s') text += `<br>${bandwidth(outcome, row.bytesPerOp)}`
  if (outcome.problems?.length) text += ' ⚠²'
  return text
}

function ratioCell(row: ResultRow, peer: string): string {
  const r = row.ratios[peer]
  if (r === undefined) return '—'
  // A floor or a ceiling is a reference, not a peer: a ratio to one is never "better".
  const better = !isFloor(peer) && !isCeiling(peer) && (row.higherIsBetter ? r > 1 : r < 1)
  const text = r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)
  return better ? `**${text}×**` : `${text}×`
}

function targetCell(row: ResultRow): string {
  if (!row.target) return ''
  const mark = row.targetMet === true ? '✅' : row.targetMet === false ? '❌' : '…'
  return `${escapeCell(row.target)} ${mark}`
}

export function renderMarkdown(report: Report, families: Family[]): string {
  const m = report.machine
  const lines: string[] = []
  lines.push('# @ipc benchmarks', '')
  lines.push(
    `Measured ${m.date} in **${report.mode}** mode (${report.durationSeconds.toFixed(0)} s; ` +
      `${report.settings.warmup} warm-up + ${report.settings.repetitions} measured repetitions of about ` +
      `${report.settings.targetRepetitionMs} ms each). Regenerate with \`pnpm bench\` ` +
      '(`--quick` for a 2-minute run).',
    '',
  )
  lines.push('| CPU | cores | memory | OS | Node | Python | load at start |', '|---|---|---|---|---|---|---|')
  lines.push(
    `| ${escapeCell(m.cpu)} | ${m.cores} | ${m.memoryGiB} GiB | ${escapeCell(m.os)} | ${m.node} | ${m.python ?? 'not found'} | ${m.loadAverage} |`,
    '',
  )
  const built = Object.entries(m.packages)
    .map(([name, info]) => `${name} ${info ? `${info.version}${info.built ? '' : ' (not built)'}` : '(missing)'}`)
    .join(', ')
  lines.push(`Ours: ${built}.`, '')
  lines.push(
    'Each cell is the **median [min–max]** over the measured repetitions. ' +
      '**ours / peer ×** divides our median by the peer’s, measured in the same run; ' +
      'it is **bold** where ours is better (above 1 for throughput ↑, below 1 for latency and ns/op ↓), ' +
      'never beside a floor or a ceiling (references, not peers). ' +
      'MB/s is 10⁶ bytes of payload per second. The peers and how each one is driven are described in ' +
      '[benchmarks/README.md](../README.md).',
    '',
  )
  // The reference peers of the run, each kind explained once: its names, then `text`.
  const references: [(peer: string) => boolean, string, string][] = [
    [
      isCeiling,
      '(ceiling)',
      'is not an alternative but a reference: the work any implementation must do for that row, measured ' +
        'alone (one process, no IPC) in the same run. **ours / ceiling** near 1 means ours is at that limit.',
    ],
    [
      isFloor,
      '(floor)',
      'is a reference too: what the hardware, the kernel or the runtime costs before any library does ' +
        'anything, measured in the same run. It is not an alternative and not a target to beat; a row’s ' +
        'target says how it is used.',
    ],
  ]
  for (const [is, suffix, text] of references) {
    const names = [...new Set(report.results.flatMap((row) => Object.keys(row.peers).filter(is)))]
    if (names.length === 0) continue
    lines.push(`A peer named “… ${suffix}” (${names.map((name) => `“${escapeCell(name)}”`).join(', ')}) ${text}`, '')
  }
  const footnotes: string[] = []
  for (const family of families) {
    const rows = report.results.filter((row) => row.family === family.name)
    if (rows.length === 0) continue
    lines.push(`## ${family.title}`, '')
    // Consecutive rows compared with the same peers share a table.
    const groups: ResultRow[][] = []
    for (const row of rows) {
      const last = groups[groups.length - 1]
      const key = (r: ResultRow) => Object.keys(r.peers).join('\u0000')
      if (last && key(last[0] as ResultRow) === key(row)) last.push(row)
      else groups.push([row])
    }
    for (const group of groups) {
      const peers = Object.keys((group[0] as ResultRow).peers)
      const header = ['Workload', 'Unit', 'Target', 'Ours']
      for (const peer of peers) header.push(escapeCell(peer), `ours / ${escapeCell(peer)} ×`)
      lines.push(`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`)
      for (const row of group) {
        const arrow = row.higherIsBetter ? '↑' : '↓'
        const cells = [
          `**${escapeCell(row.title)}**<br>\`${row.workload}\``,
          `${row.unit} ${arrow}`,
          targetCell(row),
          cell(row.ours, row),
        ]
        for (const peer of peers) cells.push(cell(row.peers[peer], row), ratioCell(row, peer))
        lines.push(`| ${cells.join(' | ')} |`)
        for (const [who, outcome] of [['ours', row.ours], ...Object.entries(row.peers)] as [string, Outcome][]) {
          if (!isStat(outcome) && 'error' in outcome && outcome.error) {
            footnotes.push(`- ¹ \`${row.workload}\` ${who}: ${escapeCell(outcome.error).slice(0, 300)}`)
          } else if (isStat(outcome) && outcome.problems?.length) {
            footnotes.push(`- ² \`${row.workload}\` ${who}: ${escapeCell(outcome.problems.join('; '))}`)
          }
        }
      }
      lines.push('')
    }
    // One line per distinct note, naming the workloads it applies to.
    const notes = new Map<string, string[]>()
    for (const row of rows) if (row.note) notes.set(row.note, [...(notes.get(row.note) ?? []), row.workload])
    if (notes.size > 0) {
      for (const [note, workloads] of notes) lines.push(`- ${workloads.map((w) => `\`${w}\``).join(', ')}: ${note}`)
      lines.push('')
    }
  }
  if (footnotes.length > 0 || report.notes.length > 0) {
    lines.push('## Errors and notes', '')
    lines.push(...new Set(footnotes))
    lines.push(...report.notes.map((note) => `- ${note}`))
    lines.push('')
  }
  return `${lines.join('\n')}\n`
}

/** Writes `latest.json` and `latest.md` into `dir`. */
export function writeReport(dir: string, report: Report, families: Family[]): { json: string; md: string } {
  mkdirSync(dir, { recursive: true })
  const json = join(dir, 'latest.json')
  const md = join(dir, 'latest.md')
  // Six significant digits are more than any of these measurements can claim.
  const round = (_key: string, value: unknown) =>
    typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(6)) : value
  writeFileSync(json, `${JSON.stringify(report, round, 2)}\n`)
  writeFileSync(md, renderMarkdown(report, families))
  return { json, md }
}
