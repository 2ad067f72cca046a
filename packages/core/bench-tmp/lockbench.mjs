import { fork } from 'node:child_process'
import { Segment, RobustLock } from '@ipc/core/internal'
const KIND = { kind: 'lockbench', version: 1 }
const N = Number(process.argv[3] ?? 500000)
if (process.argv[2] === 'child') {
  const seg = Segment.open(KIND, process.argv[4])
  const lock = new RobustLock(seg, seg.dataOffset)
  const counter = new Int32Array(seg.buffer, seg.dataOffset + 64, 1)
  process.send('ready')
  await new Promise((r) => process.once('message', r))
  const t = performance.now()
  for (let i = 0; i < N; i++) {
    lock.acquireSync()
    counter[0]++
    lock.release()
  }
  process.send(performance.now() - t)
  seg.close()
} else {
  const seg = Segment.create(KIND, 128)
  console.log('parent', seg.name); const kids = [0, 1].map(() => fork(new URL(import.meta.url), ['child', String(N), seg.name])); kids.forEach(k => k.on('exit', (c, s) => console.log('kid exit', c, s)))
  await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))))
  const t = performance.now()
  const done = kids.map((k) => new Promise((r) => k.once('message', r)))
  for (const k of kids) k.send('go')
  const times = await Promise.all(done)
  const dt = performance.now() - t
  const counter = new Int32Array(seg.buffer, seg.dataOffset + 64, 1)
  console.log(`robust lock 2 procs: total=${counter[0]} expected=${2 * N} ${(2 * N / dt * 1000).toLocaleString()} ops/s (per-child ms ${times.map((x) => x.toFixed(0))}) waiters=${seg.i32[seg.dataOffset/4+1]}`)
  seg.close()
}
