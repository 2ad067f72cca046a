// Quick side-by-side speed check of @ipc/semaphore against Python's
// multiprocessing.Semaphore (when python3 exists). Not a test; the full
// benchmarks live in benchmarks/. Run after `npx tsup`:
//   node scripts/quick-bench.mjs [rounds]
// Prints medians over `rounds` (default 3), Node and Python interleaved so
// that both see the same machine load.
import { execFileSync, fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Segment } from '@ipc/core/internal'
import { Lock, Semaphore } from '@ipc/semaphore'

const KIND = { kind: 'semaphore-bench', version: 1 }
const role = process.argv[2]

if (role === 'contend') {
  // Child: hammer Semaphore(1) guarding a plain (non-atomic) shared counter.
  const [, , , semName, boardName, iterations] = process.argv
  const sem = Semaphore.open(semName)
  const board = Segment.open(KIND, boardName)
  const i32 = board.i32
  const base = board.dataOffset / 4
  Atomics.add(i32, base + 1, 1)
  while (Atomics.load(i32, base + 2) === 0) {}
  for (let i = 0, n = Number(iterations); i < n; i++) {
    sem.acquireSync()
    i32[base]++
    sem.release()
  }
  sem.close()
  board.close()
  process.exit(0)
} else if (role === 'pong') {
  // Child: sleep in acquireSync on `go`; on wake, record the latency since
  // the parent's release (CLOCK_MONOTONIC in both), then release `ack`.
  const [, , , goName, ackName, boardName, samples] = process.argv
  const go = Semaphore.open(goName)
  const ack = Semaphore.open(ackName)
  const board = Segment.open(KIND, boardName)
  const f64 = new Float64Array(board.buffer, board.dataOffset + 64)
  for (let i = 0, n = Number(samples); i < n; i++) {
    go.acquireSync()
    f64[i + 1] = Number(process.hrtime.bigint()) - f64[0]
    ack.release()
  }
  go.close()
  ack.close()
  board.close()
  process.exit(0)
} else {
  const rounds = Number(process.argv[2] ?? 3)
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const python = (() => {
    try {
      execFileSync('python3', ['-c', 'import multiprocessing'])
      return true
    } catch {
      return false
    }
  })()
  const pyFile = join(tmpdir(), `ipc-semaphore-bench-${process.pid}.py`)
  writeFileSync(
    pyFile,
    `import multiprocessing as mp, time, sys
def contend(sem, counter, n, ready, go):
    with ready.get_lock(): ready.value += 1
    while go.value == 0: pass
    for _ in range(n):
        sem.acquire(); counter.value += 1; sem.release()
def pong(go, ack, t0, out, n):
    for i in range(n):
        go.acquire(); out[i] = time.monotonic_ns() - t0.value; ack.release()
if __name__ == '__main__':
    mp.set_start_method('fork')
    what = sys.argv[1]
    if what == 'uncontended':
        s = mp.Semaphore(1); n = 2000000
        t = time.perf_counter()
        for _ in range(n): s.acquire(); s.release()
        print((time.perf_counter() - t) * 1e9 / n)
    elif what == 'contend':
        P = int(sys.argv[2]); n = int(sys.argv[3])
        sem = mp.Semaphore(1); counter = mp.RawValue('q', 0); ready = mp.Value('i', 0); go = mp.RawValue('i', 0)
        ps = [mp.Process(target=contend, args=(sem, counter, n, ready, go)) for _ in range(P)]
        for p in ps: p.start()
        while ready.value < P: time.sleep(0.005)
        t = time.perf_counter(); go.value = 1
        for p in ps: p.join()
        assert counter.value == P * n
        print(P * n / (time.perf_counter() - t))
    else:
        n = int(sys.argv[2])
        go = mp.Semaphore(0); ack = mp.Semaphore(0); t0 = mp.RawValue('q', 0); out = mp.RawArray('q', n)
        p = mp.Process(target=pong, args=(go, ack, t0, out, n)); p.start()
        for i in range(n):
            time.sleep(0.0005)
            t0.value = time.monotonic_ns(); go.release(); ack.acquire()
        p.join()
        xs = sorted(out); print(xs[len(xs) // 2] / 1000, xs[int(len(xs) * 0.99)] / 1000)
`,
  )
  const py = (...args) => execFileSync('python3', [pyFile, ...args], { encoding: 'utf8' }).trim()

  const uncontended = (make) => {
    const sem = make()
    const n = 2_000_000
    for (let i = 0; i < 100_000; i++) {
      sem.acquireSync()
      sem.release()
    }
    const t = performance.now()
    for (let i = 0; i < n; i++) {
      sem.acquireSync()
      sem.release()
    }
    const ns = ((performance.now() - t) * 1e6) / n
    sem.close()
    return ns
  }
  const uncontendedAsync = () => {
    const sem = new Semaphore(1)
    const n = 1_000_000
    return (async () => {
      const t = performance.now()
      for (let i = 0; i < n; i++) {
        await sem.acquire()
        sem.release()
      }
      const ns = ((performance.now() - t) * 1e6) / n
      sem.close()
      return ns
    })()
  }
  const contend = async (P, iterations) => {
    const sem = new Semaphore(1)
    const board = Segment.create(KIND, 64)
    const base = board.dataOffset / 4
    const url = new URL(import.meta.url)
    const kids = Array.from({ length: P }, () =>
      fork(url, ['contend', sem.name, board.name, String(iterations)], { stdio: 'inherit' }),
    )
    const exits = kids.map((k) => new Promise((r) => k.on('exit', r)))
    while (Atomics.load(board.i32, base + 1) < P) await new Promise((r) => setTimeout(r, 5))
    const t = performance.now()
    Atomics.store(board.i32, base + 2, 1)
    await Promise.all(exits)
    const seconds = (performance.now() - t) / 1000
    if (board.i32[base] !== P * iterations) throw new Error(`counter ${board.i32[base]} != ${P * iterations}`)
    sem.close()
    board.unlink()
    board.close()
    return (P * iterations) / seconds
  }
  const wake = async (samples) => {
    const go = new Semaphore(0)
    const ack = new Semaphore(0)
    const board = Segment.create(KIND, 64 + 8 * (samples + 1))
    const f64 = new Float64Array(board.buffer, board.dataOffset + 64)
    const kid = fork(new URL(import.meta.url), ['pong', go.name, ack.name, board.name, String(samples)], {
      stdio: 'inherit',
    })
    const exit = new Promise((r) => kid.on('exit', r))
    await new Promise((r) => setTimeout(r, 300))
    for (let i = 0; i < samples; i++) {
      // Let the child fall asleep in the kernel, then time the wake-up.
      const until = performance.now() + 0.5
      while (performance.now() < until) {}
      f64[0] = Number(process.hrtime.bigint())
      go.release()
      ack.acquireSync()
    }
    await exit
    const xs = Array.from(f64.subarray(1, samples + 1)).sort((a, b) => a - b)
    go.close()
    ack.close()
    board.unlink()
    board.close()
    return [xs[Math.floor(samples / 2)] / 1000, xs[Math.floor(samples * 0.99)] / 1000]
  }

  const rows = []
  const add = (what, node, pyValue, unit, better) => rows.push({ what, node, python: pyValue, unit, better })
  const results = {}
  const push = (key, value) => {
    results[key] ??= []
    results[key].push(value)
  }
  for (let r = 0; r < rounds; r++) {
    push(
      'sem',
      uncontended(() => new Semaphore(1)),
    )
    push(
      'lock',
      uncontended(() => new Lock()),
    )
    push('async', await uncontendedAsync())
    if (python) push('py-sem', Number(py('uncontended')))
    for (const P of [2, 4]) {
      push(`c${P}`, await contend(P, P === 2 ? 2_000_000 : 1_000_000))
      if (python) push(`py-c${P}`, Number(py('contend', String(P), P === 2 ? '1000000' : '500000')))
    }
    const [p50, p99] = await wake(2000)
    push('w50', p50)
    push('w99', p99)
    if (python) {
      const [q50, q99] = py('wake', '2000').split(' ').map(Number)
      push('py-w50', q50)
      push('py-w99', q99)
    }
  }
  const m = (key) => (results[key] ? median(results[key]) : Number.NaN)
  add('uncontended acquire+release (Semaphore)', m('sem'), m('py-sem'), 'ns/op', 'lower')
  add('uncontended acquire+release (Lock)', m('lock'), m('py-sem'), 'ns/op', 'lower')
  add('uncontended await acquire()+release', m('async'), Number.NaN, 'ns/op', 'lower')
  add('2 processes on Semaphore(1) + counter', m('c2'), m('py-c2'), 'ops/s', 'higher')
  add('4 processes on Semaphore(1) + counter', m('c4'), m('py-c4'), 'ops/s', 'higher')
  add('wake-up latency p50', m('w50'), m('py-w50'), 'µs', 'lower')
  add('wake-up latency p99', m('w99'), m('py-w99'), 'µs', 'lower')
  console.log(`median of ${rounds} rounds; Node ${process.version}; python3 ${python ? 'yes' : 'not found'}`)
  for (const row of rows) {
    const ratio = row.better === 'lower' ? row.python / row.node : row.node / row.python
    const fmt = (v) => (Number.isNaN(v) ? '—' : v >= 1000 ? Math.round(v).toLocaleString('en') : v.toFixed(1))
    console.log(
      `${row.what.padEnd(42)} node ${fmt(row.node).padStart(12)}  python ${fmt(row.python).padStart(12)} ${row.unit.padEnd(6)} ${Number.isNaN(ratio) ? '' : `${ratio.toFixed(2)}× better`}`,
    )
  }
}
