// node contend.mjs P iterations  — P processes hammer Semaphore(1) guarding a shared counter.
import { fork } from 'node:child_process'
import { Segment } from '@ipc/core/internal'
import { Semaphore } from '@ipc/semaphore'
const KIND = { kind: 'bench-counter', version: 1 }
if (process.argv[2] === 'child') {
  const [, , , semName, segName, iters, mode] = process.argv
  const sem = Semaphore.open(semName)
  const seg = Segment.open(KIND, segName)
  const i32 = seg.i32
  const base = seg.dataOffset / 4
  Atomics.add(i32, base + 1, 1)
  while (Atomics.load(i32, base + 2) === 0) {}
  const n = Number(iters)
  if (mode === 'async') {
    for (let i = 0; i < n; i++) { await sem.acquire(); i32[base]++; sem.release() }
  } else {
    for (let i = 0; i < n; i++) { sem.acquireSync(); i32[base]++; sem.release() }
  }
  sem.close(); seg.close()
  process.exit(0)
} else {
  const P = Number(process.argv[2] ?? 2)
  const iters = Number(process.argv[3] ?? 1e6)
  const mode = process.argv[4] ?? 'sync'
  const sem = new Semaphore(1)
  const seg = Segment.create(KIND, 64)
  const base = seg.dataOffset / 4
  const kids = Array.from({ length: P }, () => fork(new URL(import.meta.url), ['child', sem.name, seg.name, String(iters), mode]))
  while (Atomics.load(seg.i32, base + 1) < P) await new Promise((r) => setTimeout(r, 5))
  const t0 = performance.now()
  Atomics.store(seg.i32, base + 2, 1)
  await Promise.all(kids.map((k) => new Promise((r) => k.on('exit', r))))
  const dt = (performance.now() - t0) / 1000
  const total = seg.i32[base]
  console.log(`node ${mode} P=${P} ops/s ${Math.round((P * iters) / dt).toLocaleString()} counter ${total === P * iters ? 'ok' : `WRONG ${total}`}`)
  sem.close(); seg.unlink(); seg.close()
}
