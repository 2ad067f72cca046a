// Where the sync wake-up time of issue 15's `semaphore.wakeup` row goes.
// Not part of `pnpm bench`; the measurement behind results/2026-12-05-wake-up.md.
//
//   pnpm -C benchmarks exec node experiments/wake-latency.mjs [rounds] [--trace] [--async]
//
// The benchmark's protocol: a waiter process blocks; the releaser waits until
// the waiter is about to block, sleeps 0.2 ms (so it is asleep), takes the
// time and wakes it; the waiter takes the time when its call returns. Times
// are CLOCK_MONOTONIC, written into shared memory. Cases, run in turn:
// - 'C futex': wake-latency.c, both processes C (the floor; needs `cc`).
// - 'futex': @ipc/core's native futex wait / wake on one word, from Node.
// - 'semaphore': Semaphore(0), acquireSync() / release(), as the benchmark.
// With --async, the async cases instead (the `semaphore.wakeup.async` row):
// - 'wait': @ipc/core's wait() on that word, bare (io_uring on Linux 6.7+).
// - 'semaphore async': `await acquire()` on Semaphore(0).
// With --trace the native calls are wrapped, and each Node case also prints
// the medians of its three parts: release → the wake's native call, that
// call → the wait's native call returned (async: the completion callback
// entered), → the waiter's call returned (async: its await resumed).
import { execFileSync, fork, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { notify, wait, waitSync } from '@ipc/core'
import { RawSegment } from '@ipc/core/internal'
import { Semaphore } from '@ipc/semaphore'

const now = () => Number(process.hrtime.bigint())
const sleeper = new Int32Array(new SharedArrayBuffer(4))
const sleepSync = (ms) => Atomics.wait(sleeper, 0, 0, ms)
const GAP_MS = 0.2
const tracing = process.argv.includes('--trace')
const KINDS = process.argv.includes('--async')
  ? ['C futex', 'wait', 'semaphore async']
  : ['C futex', 'futex', 'semaphore']

/** When the last native futex wait returned and the last native wake was entered (--trace). */
const trace = { waitReturned: 0, wakeEntered: 0 }
function instrument() {
  notify(new Int32Array(new SharedArrayBuffer(4)), 0, 1) // loads the binding
  const binding = globalThis[Symbol.for('@ipc/core/runtime')].native
  const { futexWait, futexWake, onWaitComplete } = binding
  binding.onWaitComplete = (callback) =>
    onWaitComplete((batch) => {
      trace.waitReturned = now()
      callback(batch)
    })
  binding.futexWait = (...args) => {
    const r = futexWait(...args)
    trace.waitReturned = now()
    return r
  }
  binding.futexWake = (...args) => {
    trace.wakeEntered = now()
    return futexWake(...args)
  }
}

// The segment: word 0 the round the waiter is ready for, word 1 the futex
// word, then four f64 arrays of times from byte 64 (the C peer uses the first two).
function views(buffer, rounds) {
  const times = (k) => new Float64Array(buffer, 64 + 8 * k * rounds, rounds)
  return {
    i32: new Int32Array(buffer, 0, 16),
    released: times(0),
    woken: times(1),
    wakeEntered: times(2),
    waitReturned: times(3),
  }
}

async function waiter(kind, name, rounds, semaphoreHandle) {
  const segment = RawSegment.open(name)
  const { i32, woken, waitReturned } = views(segment.buffer, rounds)
  const semaphore = semaphoreHandle ? Semaphore.from(semaphoreHandle) : undefined
  for (let i = 0; i < rounds; i++) {
    Atomics.store(i32, 0, i + 1)
    if (kind === 'futex' || kind === 'wait') {
      while (Atomics.load(i32, 1) === 0) {
        if (kind === 'futex') waitSync(i32, 1, 0)
        else await wait(i32, 1, 0)
      }
      Atomics.store(i32, 1, 0)
    } else if (kind === 'semaphore') semaphore.acquireSync()
    else await semaphore.acquire()
    woken[i] = now()
    waitReturned[i] = trace.waitReturned
  }
  semaphore?.close()
  segment.close()
}

function releaser(kind, { i32, released, wakeEntered }, rounds, semaphore) {
  for (let i = 0; i < rounds; i++) {
    while (Atomics.load(i32, 0) !== i + 1) {}
    sleepSync(GAP_MS)
    released[i] = now()
    if (kind === 'futex' || kind === 'wait') {
      Atomics.store(i32, 1, 1)
      notify(i32, 1, 1)
    } else semaphore.release()
    wakeEntered[i] = trace.wakeEntered
  }
}

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const exited = (child) => new Promise((resolve) => child.once('exit', resolve))

async function measure(kind, rounds, cPeer) {
  const segment = RawSegment.create(undefined, 64 + 32 * rounds, false)
  const v = views(segment.buffer, rounds)
  const semaphore = kind.startsWith('semaphore') ? new Semaphore(0) : undefined
  if (kind === 'C futex') {
    await exited(spawn(cPeer, [`/${segment.name}`, String(rounds)], { stdio: 'inherit' }))
  } else {
    const child = fork(fileURLToPath(import.meta.url), [
      'waiter',
      kind,
      segment.name,
      String(rounds),
      ...process.argv.slice(3),
    ])
    child.send(semaphore?.handle ?? null)
    releaser(kind, v, rounds, semaphore)
    await exited(child)
  }
  const parts = { total: [], release: [], kernel: [], after: [] }
  for (let i = Math.floor(rounds / 10); i < rounds; i++) {
    parts.total.push((v.woken[i] - v.released[i]) / 1000)
    parts.release.push((v.wakeEntered[i] - v.released[i]) / 1000)
    parts.kernel.push((v.waitReturned[i] - v.wakeEntered[i]) / 1000)
    parts.after.push((v.woken[i] - v.waitReturned[i]) / 1000)
  }
  semaphore?.unlink()
  semaphore?.close()
  segment.close()
  let line = `${kind.padEnd(15)} median ${median(parts.total).toFixed(2)} µs`
  if (tracing && kind !== 'C futex')
    line += ` (release → wake call ${median(parts.release).toFixed(2)}, → wait returned ${median(parts.kernel).toFixed(2)}, → call returned ${median(parts.after).toFixed(2)})`
  console.log(line)
}

/** Compiles wake-latency.c into a temp dir; undefined without a C compiler. */
function compileCPeer(dir) {
  const out = join(dir, 'wake-latency')
  try {
    execFileSync('cc', ['-O2', '-o', out, fileURLToPath(new URL('./wake-latency.c', import.meta.url))])
    return out
  } catch {
    console.log('C futex: skipped (no working `cc`)')
    return undefined
  }
}

if (tracing) instrument()
if (process.argv[2] === 'waiter') {
  const [, , , kind, name, rounds] = process.argv
  process.once('message', async (handle) => {
    await waiter(kind, name, Number(rounds), handle ?? undefined)
    setImmediate(() => process.disconnect())
  })
} else {
  const rounds = Number(process.argv[2] ?? 5000)
  const dir = mkdtempSync(join(tmpdir(), 'wake-latency-'))
  try {
    const cPeer = compileCPeer(dir)
    for (let round = 0; round < 3; round++)
      for (const kind of KINDS) if (kind !== 'C futex' || cPeer) await measure(kind, rounds, cPeer)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
