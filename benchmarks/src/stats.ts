/**
 * Summary statistics for one figure measured over several repetitions.
 *
 * Every figure in the report is a `Stat`: the median of the repetitions after warm-up,
 * their spread (min/max and the interquartile range), and the raw samples, so a reader
 * can judge how noisy the run was.
 */
export interface Stat {
  /** Median of the samples. */
  median: number
  min: number
  max: number
  /** First quartile (25th percentile, linear interpolation). */
  q1: number
  /** Third quartile (75th percentile, linear interpolation). */
  q3: number
  /** One value per measured repetition, in the order they ran. */
  samples: number[]
  /** Operations per repetition (messages, round trips, increments, copies). */
  opsPerSample: number
  /** Correctness problems seen during the run (lost messages, a wrong final count). */
  problems?: string[]
}

/** A figure that could not be measured. */
export interface Failure {
  /** Why: the import, setup or run error, or a timeout. */
  error?: string
  /** Set instead of `error` when the implementation was deliberately not run. */
  skipped?: string
}

export type Outcome = Stat | Failure

export function isStat(outcome: Outcome | undefined): outcome is Stat {
  return outcome !== undefined && 'median' in outcome && Number.isFinite(outcome.median)
}

/** Percentile by linear interpolation between closest ranks; `sorted` ascending. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const position = (sorted.length - 1) * q
  const lower = Math.floor(position)
  const upper = Math.ceil(position)
  const low = sorted[lower] as number
  const high = sorted[upper] as number
  return low + (high - low) * (position - lower)
}

/** Nearest-rank percentile, the usual definition for latency tails (p99). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1] as number
}

export function summarize(samples: number[], opsPerSample: number, problems: string[] = []): Stat {
  const sorted = [...samples].sort((a, b) => a - b)
  const stat: Stat = {
    median: quantile(sorted, 0.5),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    samples,
    opsPerSample,
  }
  if (problems.length > 0) stat.problems = [...new Set(problems)]
  return stat
}

/** `ours / peer` on medians; undefined when either side has no number. */
export function ratio(ours: Outcome | undefined, peer: Outcome | undefined): number | undefined {
  if (!isStat(ours) || !isStat(peer) || peer.median === 0) return undefined
  return ours.median / peer.median
}
