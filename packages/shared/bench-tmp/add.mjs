import { SharedArray, SharedValue } from '@ipc/shared'

const v = new SharedValue('int32', 0, { lock: false })
const N = 50_000_000
function run() {
  const t = performance.now()
  for (let i = 0; i < N; i++) v.add(1)
  return performance.now() - t
}
for (let r = 0; r < 3; r++) {
  const dt = run()
  console.log(`add: ${(N / dt / 1000).toFixed(1)} M ops/s`)
}
console.log(v.value)
// raw Atomics baseline
const i32 = new Int32Array(new SharedArrayBuffer(4))
let t = performance.now()
for (let i = 0; i < N; i++) Atomics.add(i32, 0, 1)
let dt = performance.now() - t
console.log(`raw Atomics.add on SAB: ${(N / dt / 1000).toFixed(1)} M ops/s`)
// value get/set
const f = new SharedValue('float64', 0)
t = performance.now()
for (let i = 0; i < 5_000_000; i++) f.value = f.value + 1
dt = performance.now() - t
console.log(`float64 value get+set: ${(5_000_000 / dt / 1000).toFixed(1)} M ops/s`, f.value)
const q = new SharedValue('int32', 0)
t = performance.now()
for (let i = 0; i < 5_000_000; i++) q.value = q.value + 1
dt = performance.now() - t
console.log(`int32 value get+set: ${(5_000_000 / dt / 1000).toFixed(1)} M ops/s`, q.value)
const lock = q.getLock()
t = performance.now()
for (let i = 0; i < 5_000_000; i++) {
  lock.acquireSync()
  q.value = q.value + 1
  lock.release()
}
dt = performance.now() - t
console.log(`uncontended locked incr: ${(5_000_000 / dt / 1000).toFixed(1)} M ops/s`, q.value)
v.close()
f.close()
q.close()
