// What the slowest 1-2 % of issue 15's sync wake-ups are made of
// (`semaphore.wakeup.p99`, `sync.condition.wakeup.p99`). Not part of
// `pnpm bench`; the measurement behind results/2026-12-05-wake-tail.md.
//
//   pnpm -C benchmarks exec node experiments/wake-tail.mjs [rounds] [--cases a,b] [--repeat k]
//     [--trace] [--cpu] [--dump prefix] [--yield-after-wake] [--trace-gc] [--trace-jit]
//
// With `perf sched record -k CLOCK_MONOTONIC` around it and --dump,
// wake-tail-sched.py says what the scheduler did during each wake-up.
//
// Runs the benchmark's protocols (benchmarks/src/children/ours-semaphore.mjs
// `waiter`/`releaser`, ours-sync.mjs `condition.*`, and Python's peers: the same
// calls in the same order; the times go to shared memory instead of arrays),
// two child processes each, every sample kept, then prints the distribution (p50 …
// max) and what the slow ones (above the case's p98) have in common. Cases:
// - 'C': wake-tail.c, the same shape in C (blocking "ready", 0.2 ms gap).
// - 'semaphore', 'condition': ours, as the benchmark (Node children).
// - 'python-semaphore', 'python-condition': wake-tail.py, the benchmark's peers.
// --trace wraps the native futex calls in the Node cases and splits each
// wake-up: release → the wake's native call, → the waiter's native wait
// returned, → the waiter's call returned; and counts the waiter's sleeps
// that ended 'ok' (woken) against 'not-equal' (never slept).
// --cpu records CPUs (from /proc/thread-self/stat, outside the timed window):
// the waiter's before it slept and after it woke, the releaser's at the release.
// --dump <prefix> writes every sample to <prefix>.<case>[.<repeat>].json (times: CLOCK_MONOTONIC ns,
// to line up with `perf sched record -k CLOCK_MONOTONIC`).
// --yield-after-wake: each native wake that woke a thread is followed by
// sched_yield() (a trial of a releaser that yields to the thread it woke).
// --trace-gc, --trace-jit: the Node children print V8's GC trace, or its optimizations
// and deoptimizations (whether either recurs once warm).
// A case may name a variant: 'semaphore+yield' (--yield-after-wake in its
// children), 'semaphore+base' (children from $WAKE_TAIL_BASE, another checkout
// holding this file, so base and candidate builds interleave). --repeat k runs
// the case list k times in turn and pools each case's samples (noise spreads
// over all cases alike).
// Env switches (IPC_NO_FUTEX_WAITV=1, IPC_NO_REMOTE_FENCE=1, …) reach the children.
import { execFileSync, fork } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RawSegment } from '@ipc/core/internal'
import { Semaphore } from '@ipc/semaphore'
import { Condition } from '@ipc/sync'

const now = () => Number(process.hrtime.bigint())
const sleeper = new Int32Array(new SharedArrayBuffer(4))
const sleepSync = (ms) => Atomics.wait(sleeper, 0, 0, ms)
const GAP_MS = 0.2
const args = process.argv.slice(2)
const tracing = args.includes('--trace')
const cpus = args.includes('--cpu')
const yieldAfterWake = args.includes('--yield-after-wake')
const here = (file) => fileURLToPath(new URL(file, import.meta.url))

/** This thread's CPU (field 39 of /proc/thread-self/stat), or -1 without --cpu. */
function cpu() {
  if (!cpus) return -1
  const stat = readFileSync('/proc/thread-self/stat', 'latin1')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[36])
}

/** The last native futex wait's return (time, result) and the last wake's entry and return (--trace). */
const trace = { waitEntered: 0, waitReturned: 0, waitResult: -1, waits: 0, woke: 0, wakeEntered: 0, wakeReturned: 0 }
async function instrument() {
  if (!tracing && !yieldAfterWake) return
  const { notify } = await import('@ipc/core')
  notify(new Int32Array(new SharedArrayBuffer(4)), 0, 1) // loads the binding
  const binding = globalThis[Symbol.for('@ipc/core/runtime')].native
  const { futexWait, futexWake } = binding
  binding.futexWait = (...a) => {
    if (trace.waitEntered === 0) trace.waitEntered = now()
    const r = futexWait(...a)
    trace.waitReturned = now()
    trace.waitResult = r
    trace.waits++
    if (r === 0) trace.woke++
    return r
  }
  binding.futexWake = (...a) => {
    trace.wakeEntered = now()
    const r = futexWake(...a)
    trace.wakeReturned = now()
    // A woken thread queued on this CPU runs now, not when this one blocks.
    if (yieldAfterWake && r > 0) binding.yieldThread()
    return r
  }
}

// The segment: f64 columns of `rounds` samples from byte 64.
const COLUMNS = ['released', 'woken', 'wakeEntered', 'wakeReturned', 'waitReturned', 'sleeps', 'woke', 'blocked']
const CPU_COLUMNS = ['cpuBefore', 'cpuAfter', 'cpuReleaser']
function views(buffer, rounds) {
  const v = {}
  ;[...COLUMNS, ...CPU_COLUMNS].forEach((name, k) => {
    v[name] = new Float64Array(buffer, 64 + 8 * k * rounds, rounds)
  })
  return v
}
const segmentSize = (rounds) => 64 + 8 * (COLUMNS.length + CPU_COLUMNS.length) * rounds

function waiter(kind, v, rounds, primitive, ready) {
  for (let i = 0; i < rounds; i++) {
    if (kind === 'semaphore') {
      v.cpuBefore[i] = cpu()
      const w0 = trace.waits
      const k0 = trace.woke
      ready.release()
      primitive.acquireSync()
      v.woken[i] = now()
      v.waitReturned[i] = trace.waitReturned
      v.sleeps[i] = trace.waits - w0
      v.woke[i] = trace.woke - k0
      v.cpuAfter[i] = cpu()
    } else {
      primitive.acquireSync()
      v.cpuBefore[i] = cpu()
      const w0 = trace.waits
      const k0 = trace.woke
      ready.release()
      primitive.waitSync()
      v.woken[i] = now()
      v.waitReturned[i] = trace.waitReturned
      v.sleeps[i] = trace.waits - w0
      v.woke[i] = trace.woke - k0
      v.cpuAfter[i] = cpu()
      primitive.release()
    }
  }
}

function releaser(kind, v, rounds, primitive, ready) {
  for (let i = 0; i < rounds; i++) {
    ready.acquireSync()
    // The releaser's first futex sleep after the last release (0 when it did not sleep).
    if (i > 0) v.blocked[i - 1] = trace.waitEntered
    sleepSync(GAP_MS)
    v.cpuReleaser[i] = cpu()
    if (kind === 'semaphore') {
      v.released[i] = now()
      primitive.release()
    } else {
      primitive.acquireSync()
      v.released[i] = now()
      primitive.notify()
      primitive.release()
    }
    v.wakeEntered[i] = trace.wakeEntered
    v.wakeReturned[i] = trace.wakeReturned
    trace.waitEntered = 0
  }
}

async function child() {
  const [, role, kind, name, rounds] = args
  if (args.includes('--trace-gc')) (await import('node:v8')).setFlagsFromString('--trace-gc')
  if (args.includes('--trace-jit')) (await import('node:v8')).setFlagsFromString('--trace-opt --trace-deopt')
  await instrument()
  const handles = await new Promise((resolve) => process.once('message', resolve))
  const segment = RawSegment.open(name)
  const v = views(segment.buffer, Number(rounds))
  const primitive = kind === 'semaphore' ? Semaphore.from(handles.primitive) : Condition.from(handles.primitive)
  const ready = Semaphore.from(handles.ready)
  process.send('attached')
  await new Promise((resolve) => process.once('message', resolve))
  ;(role === 'waiter' ? waiter : releaser)(kind, v, Number(rounds), primitive, ready)
  primitive.close()
  ready.close()
  segment.close()
  process.disconnect()
}

const exited = (c) => new Promise((resolve) => c.once('exit', resolve))
const message = (c) => new Promise((resolve) => c.once('message', resolve))

/** Ours: two forked children, as the benchmark (its parent waits in its event loop meanwhile). */
async function measureOurs(kind, rounds, variant) {
  const segment = RawSegment.create(undefined, segmentSize(rounds), false)
  const primitive = kind === 'semaphore' ? new Semaphore(0) : new Condition()
  const ready = new Semaphore(0)
  const handles = { primitive: primitive.handle, ready: ready.handle }
  const flags = args.filter((a) => a.startsWith('--'))
  if (variant === 'yield') flags.push('--yield-after-wake')
  // 'base': the children run a copy of this file in another checkout (its builds), e.g. main's.
  const file =
    variant === 'base'
      ? join(process.env.WAKE_TAIL_BASE ?? '', 'benchmarks/experiments/wake-tail.mjs')
      : fileURLToPath(import.meta.url)
  const children = ['releaser', 'waiter'].map((role) =>
    fork(file, ['child', role, kind, segment.name, String(rounds), ...flags]),
  )
  for (const c of children) c.send(handles)
  await Promise.all(children.map(message))
  for (const c of children) c.send('go')
  await Promise.all(children.map(exited))
  const v = views(segment.buffer, rounds)
  const samples = []
  for (let i = 0; i < rounds; i++)
    samples.push({
      i,
      total: (v.woken[i] - v.released[i]) / 1e3,
      release: (v.wakeEntered[i] - v.released[i]) / 1e3,
      wakeCall: (v.wakeReturned[i] - v.wakeEntered[i]) / 1e3,
      kernel: (v.waitReturned[i] - v.wakeEntered[i]) / 1e3,
      after: (v.woken[i] - v.waitReturned[i]) / 1e3,
      toBlock: v.blocked[i] === 0 ? Number.NaN : (v.blocked[i] - v.wakeReturned[i]) / 1e3,
      sleeps: v.sleeps[i],
      woke: v.woke[i],
      cpuBefore: v.cpuBefore[i],
      cpuAfter: v.cpuAfter[i],
      cpuReleaser: v.cpuReleaser[i],
      released: v.released[i],
      woken: v.woken[i],
    })
  primitive.unlink?.()
  if (kind === 'condition') primitive.lock.unlink()
  ready.unlink()
  primitive.close()
  ready.close()
  segment.unlink?.()
  segment.close()
  return samples
}

/** C or Python: one line per sample, "latency-ns cpu-before cpu-after cpu-releaser released-ns". */
function parseLines(text) {
  return text
    .trim()
    .split('\n')
    .map((line, i) => {
      const [ns, before, after, rel, released] = line.split(' ').map(Number)
      return {
        i,
        total: ns / 1e3,
        cpuBefore: before,
        cpuAfter: after,
        cpuReleaser: rel,
        released,
        woken: released + ns,
      }
    })
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
const median = (xs) => {
  const known = xs.filter((x) => !Number.isNaN(x))
  return known.length === 0
    ? Number.NaN
    : quantile(
        known.sort((a, b) => a - b),
        0.5,
      )
}
const f = (x) => (x === undefined || Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1))

function report(kind, samples) {
  const sorted = samples.map((s) => s.total).sort((a, b) => a - b)
  const p98 = quantile(sorted, 0.98)
  const over = (t) => ((100 * sorted.filter((x) => x > t).length) / sorted.length).toFixed(2)
  console.log(
    `${kind.padEnd(18)} n ${sorted.length}  p50 ${f(quantile(sorted, 0.5))}  p90 ${f(quantile(sorted, 0.9))}  p98 ${f(p98)}  p99 ${f(quantile(sorted, 0.99))}  p99.9 ${f(quantile(sorted, 0.999))}  max ${f(sorted[sorted.length - 1])} µs;  >10 µs ${over(10)} %, >20 µs ${over(20)} %`,
  )
  const slow = samples.filter((s) => s.total > p98)
  const fast = samples.filter((s) => s.total <= quantile(sorted, 0.5))
  const describe = (label, group) => {
    const parts = []
    if (group[0]?.release !== undefined && tracing)
      parts.push(
        `release→wake ${f(median(group.map((s) => s.release)))}, wake call ${f(median(group.map((s) => s.wakeCall)))}, →wait returned ${f(median(group.map((s) => s.kernel)))}, →returned ${f(median(group.map((s) => s.after)))}`,
        `releaser: wake returned → its next futex wait ${f(median(group.map((s) => s.toBlock)))} (${group.filter((s) => !Number.isNaN(s.toBlock)).length} slept)`,
        `slept ${group.filter((s) => s.woke > 0).length}/${group.length}, >1 wait ${group.filter((s) => s.sleeps > 1).length}`,
      )
    if (cpus && group[0]?.cpuAfter >= 0) {
      const same = group.filter((s) => s.cpuAfter === s.cpuReleaser).length
      const moved = group.filter((s) => s.cpuAfter !== s.cpuBefore).length
      parts.push(`woke on the releaser's CPU ${same}/${group.length}, moved ${moved}/${group.length}`)
    }
    if (parts.length > 0) console.log(`  ${label.padEnd(16)} ${parts.join('; ')}`)
  }
  describe('slowest 2 %:', slow)
  describe('fastest half:', fast)
  if (slow.length > 1) {
    const gaps = slow.slice(1).map((s, k) => s.i - (slow[k]?.i ?? 0))
    const runs = gaps.filter((g) => g === 1).length
    console.log(
      `  slow indexes: median gap ${median(gaps)}, adjacent pairs ${runs}; first ${slow
        .slice(0, 12)
        .map((s) => `${s.i}:${f(s.total)}`)
        .join(' ')}`,
    )
  }
}

async function main() {
  const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 20000)
  const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined)
  const cases = option('--cases')?.split(',') ?? ['C', 'semaphore', 'python-semaphore', 'condition', 'python-condition']
  const repeat = Number(option('--repeat') ?? 1)
  const dir = mkdtempSync(join(tmpdir(), 'wake-tail-'))
  const pooled = new Map()
  try {
    for (let r = 0; r < repeat; r++)
      for (const kind of cases) {
        let samples
        const [base, variant] = kind.split('+')
        if (base === 'C') {
          const out = join(dir, 'wake-tail')
          execFileSync('cc', ['-O2', '-o', out, here('./wake-tail.c')])
          samples = parseLines(execFileSync(out, [String(rounds)], { encoding: 'latin1', maxBuffer: 1 << 28 }))
        } else if (base.startsWith('python-')) {
          const pyArgs = [here('./wake-tail.py'), base.slice(7), String(rounds), ...(cpus ? ['--cpu'] : [])]
          samples = parseLines(execFileSync('python3', pyArgs, { encoding: 'latin1', maxBuffer: 1 << 28 }))
        } else samples = await measureOurs(base, rounds, variant)
        // The first tenth warms up (JIT, caches), as the benchmark's warm-up repetitions do.
        const kept = samples.slice(Math.floor(samples.length / 10))
        if (repeat === 1) report(kind, kept)
        pooled.set(kind, [...(pooled.get(kind) ?? []), ...kept])
        const dump = option('--dump')
        if (dump) writeFileSync(`${dump}.${kind}${repeat > 1 ? `.${r}` : ''}.json`, JSON.stringify(samples))
      }
    if (repeat > 1) {
      console.log(`pooled over ${repeat} interleaved runs of ${rounds}:`)
      for (const [kind, samples] of pooled) report(kind, samples)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (args[0] === 'child') await child()
else await main()
