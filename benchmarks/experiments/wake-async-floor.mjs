// Which way of resolving a pending promise from another process is cheapest: the
// candidates for the "Node event loop woken by another process (floor)" column of
// `semaphore.wakeup.async.*`. Not part of `pnpm bench`; the measurement behind
// results/2026-12-06-wake-floors.md.
//
//   cd benchmarks && node --import tsx experiments/wake-async-floor.mjs [repetitions]
//
// Each candidate is the benchmark's own floor runner (src/peers/wake-floor.ts: the rows'
// protocol, 0.2 ms sleep before each release, CLOCK_MONOTONIC release and wake times, the
// rows' wake-up count per repetition, two unpinned processes). All are set up at once and
// their repetitions interleaved (the order rotates each time), so a burst of load on a
// shared machine hits every candidate alike. After 3 warm-up repetitions each, it prints
// every candidate's median over the repetitions of their median and p99 (µs), and the
// median of its per-repetition ratio to 'wait' (paired: the same moment).
// - 'wait': @ipc/core's wait() on a shared word, bare (io_uring futex wait on Linux 6.7+).
// - 'uds': one byte on a Unix socket to a pending 'data' event.
// - 'fifo': one byte on a named pipe (writeSync) to a pending 'data' event.
// - 'signal': process.kill(pid, 'SIGUSR2') to a pending process.on('SIGUSR2').
// 'futex' (the sync floor, a blocked thread, not the event loop) is printed for scale.
import { cleanupNow, installCleanup } from '../src/cleanup.ts'
import { RunContext } from '../src/context.ts'
import { nodeWakeFloor } from '../src/peers/wake-floor.ts'
import { WAKEUP_GAP_MS, WAKEUP_SIZE } from '../src/semaphore.ts'

const KINDS = ['wait', 'uds', 'fifo', 'signal', 'futex']
const WARMUP = 3
const repetitions = Number(process.argv[2] ?? 30)
const n = WAKEUP_SIZE.max
const ctx = new RunContext({ python: false })
installCleanup(ctx)

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return (sorted[Math.floor((sorted.length - 1) / 2)] + sorted[Math.ceil((sorted.length - 1) / 2)]) / 2
}

const runners = Object.fromEntries(KINDS.map((kind) => [kind, nodeWakeFloor(ctx, kind, WAKEUP_GAP_MS)]))
const reps = Object.fromEntries(KINDS.map((kind) => [kind, []]))
try {
  for (const kind of KINDS) await runners[kind].setup()
  for (let rep = 0; rep < WARMUP + repetitions; rep++) {
    const order = KINDS.map((_, i) => KINDS[(i + rep) % KINDS.length])
    for (const kind of order) {
      const { metrics } = await runners[kind].run(n)
      if (rep >= WARMUP) reps[kind].push(metrics)
    }
  }
  console.log(`${repetitions} interleaved repetitions of ${n} wake-ups, gap ${WAKEUP_GAP_MS} ms`)
  for (const kind of KINDS) {
    const medians = reps[kind].map((m) => m.median)
    const paired = medians.map((m, i) => m / reps.wait[i].median)
    console.log(
      `  ${kind.padEnd(7)} median ${median(medians).toFixed(2)} µs, p99 ${median(reps[kind].map((m) => m.p99)).toFixed(2)} µs, ${median(paired).toFixed(2)}× wait (paired)`,
    )
  }
} finally {
  for (const kind of KINDS) await runners[kind].teardown()
  cleanupNow(ctx)
}
