/**
 * How hard each mode measures. Every job warms up (the warm-up repetitions also size the
 * measured ones so each lasts about `targetMs`), then runs `repetitions` measured ones.
 */
export interface Mode {
  name: 'smoke' | 'quick' | 'full'
  /** Warm-up repetitions; not reported. The first runs with the job's `n0`. */
  warmup: number
  /** Measured repetitions; the report gives their median and spread. */
  repetitions: number
  /** Wanted duration of one measured repetition. */
  targetMs: number
  /** Longest a repetition may take before the job is abandoned as hung. */
  repTimeoutMs: number
  /** Longest the setup (spawning, imports, attaching) may take. */
  setupTimeoutMs: number
  /**
   * Jobs run at once. 1 whenever the numbers matter; smoke runs several at a time since
   * it only proves that everything still runs.
   */
  concurrency: number
}

export const MODES: Record<Mode['name'], Mode> = {
  // One tiny iteration of everything: proves the benchmarks still run (the vitest smoke test).
  smoke: {
    name: 'smoke',
    warmup: 0,
    repetitions: 1,
    targetMs: 0,
    repTimeoutMs: 10_000,
    setupTimeoutMs: 15_000,
    concurrency: 4,
  },
  // Under 2 minutes on 2 cores.
  quick: {
    name: 'quick',
    warmup: 2,
    repetitions: 3,
    targetMs: 120,
    repTimeoutMs: 20_000,
    setupTimeoutMs: 20_000,
    concurrency: 1,
  },
  // The published numbers: under 15 minutes on 2 cores.
  full: {
    name: 'full',
    warmup: 3,
    repetitions: 9,
    targetMs: 400,
    repTimeoutMs: 60_000,
    setupTimeoutMs: 30_000,
    concurrency: 1,
  },
}
