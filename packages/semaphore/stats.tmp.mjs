import { fork } from 'node:child_process'
import { Segment } from '@ipc/core/internal'
import { Semaphore } from '@ipc/semaphore'
const KIND = { kind: 'bench-counter', version: 1 }
if (process.argv[2] === 'child') {
  const [, , , semName, segName, iters] = process.argv
  const sem = Semaphore.open(semName)
  const seg = Segment.open(KIND, segName)
  const i32 = seg.i32, base = seg.dataOffset / 4
  Atomics.add(i32, base + 1, 1)
  while (Atomics.load(i32, base + 2) === 0) {}
  const t = performance.now()
  for (let i = 0, n = Number(iters); i < n; i++) { sem.acquireSync(); i32[base]++; sem.release() }
  console.log(process.pid, (performance.now() - t).toFixed(0), 'ms', JSON.stringify(globalThis.__semStats))
  sem.close(); seg.close(); process.exit(0)
} else {
  const P = Number(process.argv[2] ?? 2), iters = Number(process.argv[3] ?? 2e6)
  const sem = new Semaphore(1); const seg = Segment.create(KIND, 64); const base = seg.dataOffset / 4
  const kids = Array.from({ length: P }, () => fork(new URL(import.meta.url), ['child', sem.name, seg.name, String(iters)]))
  while (Atomics.load(seg.i32, base + 1) < P) await new Promise((r) => setTimeout(r, 5))
  const t0 = performance.now(); Atomics.store(seg.i32, base + 2, 1)
  await Promise.all(kids.map((k) => new Promise((r) => k.on('exit', r))))
  const dt = (performance.now() - t0) / 1000
  console.log(`P=${P} ops/s ${Math.round((P * iters) / dt).toLocaleString()}`)
  sem.close(); seg.unlink(); seg.close()
}
