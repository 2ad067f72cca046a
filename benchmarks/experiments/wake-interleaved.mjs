// The semaphore wake-up rows' jobs (src/semaphore.ts: ours, Python and the floors), with
// their repetitions interleaved instead of one job after another: every job is set up at
// once, then each repetition runs every job in turn (the order rotates), so a burst of
// load on a shared machine hits every column alike. Not part of `pnpm bench`; the
// measurement behind results/2026-12-06-wake-floors.md.
//
//   cd benchmarks && node --import tsx experiments/wake-interleaved.mjs [repetitions] [--jobs key,key…]
//
// Prints each job's median over the repetitions of its median and p99 (µs), then, for
// each pair the wake-up rows compare, the median of the per-repetition ratio (paired:
// the same moment). 3 warm-up repetitions each are not counted.
import { cleanupNow, installCleanup } from '../src/cleanup.ts'
import { RunContext } from '../src/context.ts'
import { semaphoreFamily } from '../src/semaphore.ts'

const DEFAULT_JOBS = [
  'semaphore.wakeup/ours',
  'semaphore.wakeup-async/ours',
  'semaphore.wakeup/python',
  'semaphore.wakeup/node-futex',
  'semaphore.wakeup-async/node-event-loop',
  'semaphore.wakeup/c-futex',
]
/** [numerator, denominator] job keys of the ratios printed. */
const PAIRS = [
  ['semaphore.wakeup/ours', 'semaphore.wakeup/python'],
  ['semaphore.wakeup/ours', 'semaphore.wakeup/node-futex'],
  ['semaphore.wakeup/node-futex', 'semaphore.wakeup/python'],
  ['semaphore.wakeup/ours', 'semaphore.wakeup/c-futex'],
  ['semaphore.wakeup-async/ours', 'semaphore.wakeup/python'],
  ['semaphore.wakeup-async/ours', 'semaphore.wakeup-async/node-event-loop'],
  ['semaphore.wakeup-async/node-event-loop', 'semaphore.wakeup/python'],
  ['semaphore.wakeup-async/ours', 'semaphore.wakeup/c-futex'],
]
const WARMUP = 3

const jobsAt = process.argv.indexOf('--jobs')
const keys = jobsAt === -1 ? DEFAULT_JOBS : process.argv[jobsAt + 1].split(',')
const repetitions = Number(process.argv.slice(2).find((arg) => /^\d+$/.test(arg)) ?? 20)
const ctx = new RunContext()
installCleanup(ctx)
const family = semaphoreFamily(ctx)

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return (sorted[Math.floor((sorted.length - 1) / 2)] + sorted[Math.ceil((sorted.length - 1) / 2)]) / 2
}

const jobs = keys.map((key) => {
  const job = family.jobs.find((candidate) => candidate.key === key)
  if (job === undefined) throw new Error(`No job ${key}`)
  if (job.skipped) throw new Error(`${key} is skipped here: ${job.skipped}`)
  return job
})
const runners = jobs.map((job) => job.create())
const reps = keys.map(() => [])
try {
  for (const runner of runners) await runner.setup()
  const n = jobs[0].size.max
  for (let rep = 0; rep < WARMUP + repetitions; rep++) {
    for (let i = 0; i < runners.length; i++) {
      const k = (i + rep) % runners.length
      const { metrics, problems } = await runners[k].run(n)
      if (problems?.length) throw new Error(`${keys[k]}: ${problems.join('; ')}`)
      if (rep >= WARMUP) reps[k].push(metrics)
    }
  }
  console.log(`${repetitions} interleaved repetitions of ${n} wake-ups each`)
  keys.forEach((key, k) => {
    const medians = reps[k].map((m) => m.median)
    const p99 = median(reps[k].map((m) => m.p99))
    console.log(`  ${key.padEnd(40)} median ${median(medians).toFixed(2)} µs, p99 ${p99.toFixed(1)} µs`)
  })
  for (const [a, b] of PAIRS) {
    const ia = keys.indexOf(a)
    const ib = keys.indexOf(b)
    if (ia === -1 || ib === -1) continue
    const paired = reps[ia].map((m, r) => m.median / reps[ib][r].median)
    console.log(`  ${a} / ${b}: ${median(paired).toFixed(2)}× (paired medians)`)
  }
} finally {
  for (const runner of runners) await runner.teardown()
  cleanupNow(ctx)
}
