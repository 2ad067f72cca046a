import type { Mode } from './modes.ts'
import { type ChildHandle, childScope } from './process-handle.ts'
import { type Stat, summarize } from './stats.ts'

/** What one repetition of a job measured. */
export interface Rep {
  /** Wall time of the repetition; sizes the next one. */
  elapsedNs: number
  /** The figures of this repetition, e.g. `{ rate: 1.2e6 }` or `{ median: 31, p99: 80 }`. */
  metrics: Record<string, number>
  /** Correctness problems (lost messages, a wrong final count). */
  problems?: string[]
}

/**
 * One implementation of one workload: spawns what it needs once, runs repetitions of `n`
 * operations, and tears everything down (children killed, segments released).
 */
export interface Runner {
  setup(): Promise<void>
  run(n: number): Promise<Rep>
  teardown(): Promise<void>
}

/** Operation counts: the first warm-up uses `n0`, smoke uses `smoke`, calibration stays within `[min, max]`. */
export interface Size {
  n0: number
  smoke: number
  max: number
  min?: number
  /** Keep `n` a multiple of this (e.g. the number of producers). */
  multipleOf?: number
  /**
   * At most this many warm-up repetitions (default: the mode's). For jobs whose `n` is a
   * fixed duration (`min` = `max`), where a warm-up sizes nothing and only costs time.
   */
  warmup?: number
  /** At most this many measured repetitions (default: the mode's). */
  repetitions?: number
}

export interface Job {
  /** Unique; two rows may share a job (the Node peers' channel serves queue and pipe rows). */
  key: string
  /** Shown in the progress line. */
  workload: string
  impl: string
  size: Size
  create: () => Runner
  /** Set to skip the job with this note (e.g. no python3). */
  skipped?: string
}

export interface Measured {
  metrics?: Record<string, Stat>
  error?: string
  skipped?: string
}

/** Where a row takes a figure from: a job and one of its metrics. */
export interface Ref {
  job: string
  metric: string
}

/** A target from the issue; `met` says whether our median reaches it (undefined: cannot tell). */
export interface Target {
  text: string
  met: (ours: number, peers: Record<string, number | undefined>) => boolean | undefined
}

/** One row of the report: our figure beside each peer's, for one workload. */
export interface RowSpec {
  workload: string
  title: string
  unit: string
  higherIsBetter: boolean
  /** Payload bytes per operation, so throughput in msg/s converts to MB/s. */
  bytesPerOp?: number
  target?: Target
  note?: string
  ours: Ref
  peers: Record<string, Ref>
}

export interface Family {
  name: string
  title: string
  jobs: Job[]
  rows: RowSpec[]
}

/**
 * A CLOCK_MONOTONIC instant (ns) `delayMs` from now: children told the same instant start
 * their loops together (see `waitUntil` in children/lib.mjs).
 */
export function startInstant(delayMs = 50): number {
  return Number(process.hrtime.bigint()) + delayMs * 1e6
}

export class TimeoutError extends Error {
  override name = 'TimeoutError'
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${(ms / 1000).toFixed(0)} s`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface Progress {
  phase(text: string): void
}

function roundTo(n: number, multiple: number): number {
  return Math.max(multiple, Math.round(n / multiple) * multiple)
}

/** The next `n`, so that a repetition lasts about `targetMs`. */
export function calibrate(n: number, elapsedNs: number, targetMs: number, size: Size): number {
  const factor = Math.min(200, Math.max(0.02, (targetMs * 1e6) / Math.max(elapsedNs, 1)))
  const next = Math.min(size.max, Math.max(size.min ?? 1, Math.round(n * factor)))
  return roundTo(next, size.multipleOf ?? 1)
}

/**
 * Runs a job: setup, warm-up (which also sizes the repetitions), measured repetitions,
 * teardown. Never throws: a failure becomes `{ error }`. Whatever children the job
 * started are killed afterwards even if its teardown forgot one.
 */
export async function measure(job: Job, mode: Mode, progress: Progress): Promise<Measured> {
  if (job.skipped) return { skipped: job.skipped }
  const started = new Set<ChildHandle>()
  return childScope.run(started, () => measureInScope(job, mode, progress, started))
}

async function measureInScope(job: Job, mode: Mode, progress: Progress, started: Set<ChildHandle>): Promise<Measured> {
  const runner = job.create()
  try {
    progress.phase('setup')
    await withTimeout(runner.setup(), mode.setupTimeoutMs, 'setup')
    let n = roundTo(mode.name === 'smoke' ? job.size.smoke : job.size.n0, job.size.multipleOf ?? 1)
    const problems: string[] = []
    const warmup = Math.min(mode.warmup, job.size.warmup ?? mode.warmup)
    const repetitions = Math.min(mode.repetitions, job.size.repetitions ?? mode.repetitions)
    for (let i = 0; i < warmup; i++) {
      progress.phase(`warm-up ${i + 1}/${warmup}`)
      const rep = await withTimeout(runner.run(n), mode.repTimeoutMs, `warm-up of ${n}`)
      problems.push(...(rep.problems ?? []))
      n = calibrate(n, rep.elapsedNs, mode.targetMs, job.size)
    }
    const reps: Rep[] = []
    for (let i = 0; i < repetitions; i++) {
      progress.phase(`rep ${i + 1}/${repetitions}`)
      const rep = await withTimeout(runner.run(n), mode.repTimeoutMs, `repetition of ${n}`)
      problems.push(...(rep.problems ?? []))
      reps.push(rep)
    }
    const metrics: Record<string, Stat> = {}
    for (const name of Object.keys(reps[0]?.metrics ?? {})) {
      const values = reps.map((rep) => rep.metrics[name] ?? Number.NaN)
      metrics[name] = summarize(values, n, problems)
    }
    return { metrics }
  } catch (error) {
    return { error: firstLines((error as Error)?.message ?? String(error)) }
  } finally {
    progress.phase('teardown')
    try {
      await withTimeout(runner.teardown(), 10_000, 'teardown')
    } catch {}
    for (const child of started) child.kill()
  }
}

function firstLines(message: string): string {
  return message.split('\n').slice(0, 8).join('\n').slice(0, 1500)
}
