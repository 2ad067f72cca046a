import { fork } from 'node:child_process'
import { Segment, waitWordSync, notifyWord } from '@ipc/core/internal'
const KIND = { kind: 'rawbench', version: 1 }
const N = 2000
if (process.argv[2] === 'child') {
  const seg = Segment.open(KIND, process.argv[3])
  const i32 = seg.i32, b = seg.dataOffset / 4
  const f64 = new Float64Array(seg.buffer, seg.dataOffset + 64)
  for (let i = 0; i < N; i++) {
    while (Atomics.load(i32, b) !== i + 1) waitWordSync(i32, b, i, Number(process.argv[4]))
    f64[i + 1] = Number(process.hrtime.bigint()) - f64[0]
    Atomics.store(i32, b + 1, i + 1); notifyWord(i32, b + 1)
  }
  seg.close(); process.exit(0)
} else {
  const seg = Segment.create(KIND, 64 + 8 * (N + 1))
  const i32 = seg.i32, b = seg.dataOffset / 4
  const f64 = new Float64Array(seg.buffer, seg.dataOffset + 64)
  const kid = fork(new URL(import.meta.url), ['child', seg.name, process.argv[2] ?? '1000'])
  const exit = new Promise((r) => kid.on('exit', r))
  await new Promise((r) => setTimeout(r, 300))
  for (let i = 0; i < N; i++) {
    const until = performance.now() + 0.5; while (performance.now() < until) {}
    f64[0] = Number(process.hrtime.bigint())
    Atomics.store(i32, b, i + 1); notifyWord(i32, b)
    while (Atomics.load(i32, b + 1) !== i + 1) waitWordSync(i32, b + 1, i, 1000)
  }
  await exit
  const xs = Array.from(f64.subarray(1, N + 1)).sort((a, c) => a - c)
  console.log('raw futex timeout', process.argv[2] ?? '1000', 'p50', xs[N / 2] / 1000, 'p99', xs[Math.floor(N * 0.99)] / 1000)
  seg.unlink(); seg.close()
}
