/**
 * `pnpm bench [--quick | --smoke] [--out DIR] [--only PATTERN] [--no-python] [--python CMD]`
 *
 * Measures every @ipc primitive beside what Node and Python offer, in one run, and
 * writes `latest.json` and `latest.md` (default: benchmarks/results/).
 */
import { fileURLToPath } from 'node:url'
import { cleanupNow, installCleanup, sweepSegments, sweepStaleRuns } from './cleanup.ts'
import { RunContext } from './context.ts'
import { type Family, type Job, type Measured, measure } from './harness.ts'
import { idleFamily } from './idle.ts'
import { describeMachine } from './machine.ts'
import { MODES, type Mode } from './modes.ts'
import { pipeFamily } from './pipe.ts'
import { poolFamily } from './pool.ts'
import { ProgressLine } from './progress.ts'
import { queueFamily } from './queue.ts'
import { buildRows, formatNumber, type Report, writeReport } from './report.ts'
import { segmentFamily } from './segment.ts'
import { semaphoreFamily } from './semaphore.ts'
import { sharedFamily } from './shared.ts'
import { syncFamily } from './sync.ts'

const USAGE = `Usage: pnpm bench [options]

  (no option)     full run, the published numbers (under 15 min on 2 cores)
  --quick         fewer, shorter repetitions (under 2 min)
  --smoke         one tiny repetition of everything (under 30 s): proves it runs
  --out DIR       where to write latest.json and latest.md (default: benchmarks/results)
  --only PATTERN  only workloads whose name contains PATTERN (comma-separated list)
  --no-python     skip the Python peers
  --python CMD    the Python interpreter (default: python3)
  --help          this text
`

interface Options {
  mode: Mode
  out: string
  only: string[]
  python: string | false | undefined
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    mode: MODES.full,
    out: fileURLToPath(new URL('../results/', import.meta.url)),
    only: [],
    python: undefined,
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const value = () => {
      const next = argv[++i]
      if (next === undefined) throw new Error(`${arg} needs a value`)
      return next
    }
    if (arg === '--') continue
    else if (arg === '--quick') options.mode = MODES.quick
    else if (arg === '--smoke') options.mode = MODES.smoke
    else if (arg === '--full') options.mode = MODES.full
    else if (arg === '--out') options.out = value()
    else if (arg === '--only') options.only.push(...value().split(','))
    else if (arg === '--no-python') options.python = false
    else if (arg === '--python') options.python = value()
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE)
      process.exit(0)
    } else throw new Error(`Unknown option ${arg}\n\n${USAGE}`)
  }
  return options
}

function summarizeMeasured(measured: Measured): string {
  if (measured.skipped) return `skipped (${measured.skipped})`
  if (measured.error) return `error: ${measured.error.split('\n')[0]}`
  return Object.entries(measured.metrics ?? {})
    .map(([name, stat]) => `${name} ${formatNumber(stat.median)}${stat.problems ? ' ⚠' : ''}`)
    .join(', ')
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  const mode = options.mode
  const started = new Date()
  const stale = sweepStaleRuns()
  const ctx = new RunContext({ python: options.python })
  installCleanup(ctx)

  const families: Family[] = [
    queueFamily(ctx),
    pipeFamily(ctx),
    sharedFamily(ctx, mode),
    semaphoreFamily(ctx),
    syncFamily(ctx),
    segmentFamily(ctx),
    poolFamily(ctx),
    idleFamily(ctx),
  ]
  const rows = families
    .flatMap((family) => family.rows)
    .filter((row) => options.only.length === 0 || options.only.some((pattern) => row.workload.includes(pattern)))
  if (rows.length === 0) throw new Error(`No workload matches --only ${options.only.join(',')}`)
  const wanted = new Set(rows.flatMap((row) => [row.ours.job, ...Object.values(row.peers).map((ref) => ref.job)]))
  const jobs: Job[] = []
  const seen = new Set<string>()
  for (const job of families.flatMap((family) => family.jobs)) {
    if (!wanted.has(job.key) || seen.has(job.key)) continue
    seen.add(job.key)
    jobs.push(job)
  }

  process.stderr.write(
    `[bench] ${mode.name} mode: ${rows.length} workloads, ${jobs.length} jobs` +
      `${ctx.python ? `, python ${ctx.python.version}` : `; ${ctx.pythonSkipped}`}\n`,
  )
  const progress = new ProgressLine(jobs.length)
  const measured = new Map<string, Measured>()
  const queue = [...jobs]
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const handle = progress.start(job)
      const result = await measure(job, mode, handle)
      measured.set(job.key, result)
      handle.done(summarizeMeasured(result))
    }
  }
  await Promise.all(Array.from({ length: mode.concurrency }, worker))
  progress.finish()

  const notes: string[] = []
  if (stale.length > 0)
    notes.push(`Removed ${stale.length} segment(s) left by an earlier, killed run: ${stale.join(', ')}`)
  if (ctx.pythonSkipped) notes.push(ctx.pythonSkipped)
  const leftovers = sweepSegments(ctx)
  if (leftovers.length > 0) {
    notes.push(
      `Removed ${leftovers.length} shared-memory segment(s) left behind after close(): ${leftovers.join(', ')}`,
    )
  }
  const report: Report = {
    schemaVersion: 1,
    runId: ctx.runId,
    machine: describeMachine(ctx, started),
    mode: mode.name,
    date: started.toISOString(),
    durationSeconds: Math.round((Date.now() - started.getTime()) / 100) / 10,
    settings: { warmup: mode.warmup, repetitions: mode.repetitions, targetRepetitionMs: mode.targetMs },
    notes,
    results: buildRows(families, rows, measured),
  }
  const written = writeReport(options.out, report, families)
  process.stderr.write(`[bench] done in ${report.durationSeconds} s: ${written.md} and ${written.json}\n`)
  cleanupNow(ctx)
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`[bench] ${(error as Error)?.stack ?? error}\n`)
    process.exit(1)
  },
)
