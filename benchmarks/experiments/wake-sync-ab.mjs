// Before/after of the sync semaphore wake-up (`semaphore.wakeup.median`) against the bare
// futex floor, interleaved: the benchmark's own children (src/children/ours-semaphore.mjs
// and wake-floor.mjs, kind 'futex') run from two checkouts, each resolving @ipc/* to its
// own build, and every repetition runs every job in turn (the order rotates), so a burst
// of load on a shared machine hits every column alike. Not part of `pnpm bench`; the
// measurement behind results/2026-12-06-wake-sync.md.
//
//   cd benchmarks && node --import tsx experiments/wake-sync-ab.mjs [repetitions] \
//     --before /path/to/other/checkout [--floor-from before|after] [--extra]
//
// "after" is this checkout. Prints each job's median of its per-repetition medians, and
// the paired (same repetition) ratios ours/floor for both builds and after/before.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cleanupNow, installCleanup } from '../src/cleanup.ts'
import { RunContext } from '../src/context.ts'
import { ChildHandle } from '../src/process-handle.ts'
import { wakeupRep } from '../src/rep.ts'
import { WAKEUP_GAP_MS } from '../src/semaphore.ts'

const WARMUP = 3
const N = 1000
const arg = (name) => {
  const at = process.argv.indexOf(name)
  return at === -1 ? undefined : process.argv[at + 1]
}
const here = fileURLToPath(new URL('..', import.meta.url))
const beforeRoot = arg('--before')
if (beforeRoot === undefined) throw new Error('--before <checkout> is required')
const childrenOf = (root) => join(root, 'src', 'children')
const dirs = { before: childrenOf(join(beforeRoot, 'benchmarks')), after: childrenOf(here) }
const floorFrom = arg('--floor-from') ?? 'before'
const repetitions = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 20)

const ctx = new RunContext()
installCleanup(ctx)

/** The benchmark's wake-up protocol between a releaser and a waiter forked from `dir`. */
function pair(label, script, setupPair, waiterBody, releaserBody) {
  let releaser
  let waiter
  return {
    label,
    async setup() {
      releaser = ChildHandle.fork(`${label} releaser`, script)
      waiter = ChildHandle.fork(`${label} waiter`, script)
      await setupPair(releaser, waiter)
    },
    async run(n) {
      const woken = waiter.request('waiter', { n, ...waiterBody }, 600_000)
      const { released } = await releaser.request('releaser', { n, gapMs: WAKEUP_GAP_MS, ...releaserBody }, 600_000)
      return wakeupRep(released, (await woken).woken)
    },
    async teardown() {
      await waiter?.stop()
      await releaser?.stop()
    },
  }
}

function ours(which) {
  return pair(
    `ours ${which}`,
    join(dirs[which], 'ours-semaphore.mjs'),
    async (releaser, waiter) => {
      const created = await releaser.request('create', {
        name: ctx.uniqueName('sem'),
        value: 0,
        readyName: ctx.uniqueName('sem'),
      })
      for (const name of created.names) ctx.rememberSegment(name)
      await waiter.request('attach', created)
    },
    { async: false },
    {},
  )
}

function floor(which, variant = {}) {
  const { sliceMs, workNs } = variant
  return pair(
    sliceMs === undefined && workNs === undefined ? `floor ${which}` : `floor variant ${which}`,
    join(dirs[which], 'wake-floor.mjs'),
    async (releaser, waiter) => {
      const name = ctx.uniqueName('wake')
      const created = await releaser.request('create', { name })
      for (const segment of created.names) ctx.rememberSegment(segment)
      await waiter.request('attach', { name })
    },
    { kind: 'futex', ...(sliceMs === undefined ? {} : { sliceMs }) },
    { kind: 'futex', ...(workNs === undefined ? {} : { workNs }) },
  )
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return (s[Math.floor((s.length - 1) / 2)] + s[Math.ceil((s.length - 1) / 2)]) / 2
}

// --extra: one more job, this checkout's floor with one difference, to measure what it
// costs: WAKE_FLOOR_SLICE=1 makes its waiter sleep in 100 ms slices (PEER_CHECK_MS, as a
// semaphore waiter does); WAKE_FLOOR_SPIN_NS=n gives its releaser n ns of work after each wake.
const extra = process.argv.includes('--extra')
  ? {
      ...(process.env.WAKE_FLOOR_SLICE === '1' ? { sliceMs: 100 } : {}),
      ...(process.env.WAKE_FLOOR_SPIN_NS ? { workNs: Number(process.env.WAKE_FLOOR_SPIN_NS) } : {}),
    }
  : undefined
const runners = [ours('before'), ours('after'), floor(floorFrom)]
if (extra !== undefined) runners.push(floor('after', extra))
const reps = runners.map(() => [])
try {
  for (const runner of runners) await runner.setup()
  for (let rep = 0; rep < WARMUP + repetitions; rep++) {
    for (let i = 0; i < runners.length; i++) {
      const k = (i + rep) % runners.length
      const { metrics, problems } = await runners[k].run(N)
      if (problems?.length) throw new Error(`${runners[k].label}: ${problems.join('; ')}`)
      if (rep >= WARMUP) reps[k].push(metrics)
    }
  }
  console.log(`${repetitions} interleaved repetitions of ${N} wake-ups each`)
  runners.forEach((runner, k) => {
    const p50 = median(reps[k].map((m) => m.median))
    const p99 = median(reps[k].map((m) => m.p99))
    console.log(`  ${runner.label.padEnd(14)} median ${p50.toFixed(2)} µs, p99 ${p99.toFixed(1)} µs`)
  })
  const ratio = (a, b) => median(reps[a].map((m, r) => m.median / reps[b][r].median)).toFixed(3)
  console.log(`  ours before / floor: ${ratio(0, 2)}×`)
  console.log(`  ours after  / floor: ${ratio(1, 2)}×`)
  console.log(`  after / before:      ${ratio(1, 0)}× (paired medians)`)
  if (extra !== undefined) console.log(`  floor variant ${JSON.stringify(extra)} / floor: ${ratio(3, 2)}×`)
} finally {
  for (const runner of runners) await runner.teardown()
  cleanupNow(ctx)
}
