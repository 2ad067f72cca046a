import { SharedArray } from '@ipc/shared'
const BYTES = 16 * 1024 * 1024
const n = BYTES / 8
const shared = new SharedArray('float64', n, { lock: false })
const view = shared.array
const src = new Float64Array(n).map((_, i) => i)
const dst = new Float64Array(n)
const a = Buffer.alloc(BYTES, 1), b = Buffer.alloc(BYTES)
function gbps(f, reps = 40) {
  f(); f()
  const t = performance.now()
  for (let i = 0; i < reps; i++) f()
  return (BYTES * reps) / ((performance.now() - t) / 1000) / 1e9
}
for (let r = 0; r < 3; r++) {
  const copy = gbps(() => a.copy(b))
  const write = gbps(() => view.set(src))
  const read = gbps(() => dst.set(view))
  console.log(`Buffer.copy ${copy.toFixed(2)} GB/s | SharedArray.array write (set) ${write.toFixed(2)} GB/s (${(write / copy).toFixed(2)}x) | read ${read.toFixed(2)} GB/s (${(read / copy).toFixed(2)}x)`)
}
let s = 0
let t = performance.now(); for (let i = 0; i < n; i++) s += view[i]; let dt = performance.now() - t
console.log(`element loop read over .array: ${(BYTES / dt / 1e6).toFixed(2)} GB/s`, s > 0)
t = performance.now(); for (let i = 0; i < n; i++) view[i] = i; dt = performance.now() - t
console.log(`element loop write over .array: ${(BYTES / dt / 1e6).toFixed(2)} GB/s`)
const plain = new Float64Array(n)
t = performance.now(); for (let i = 0; i < n; i++) plain[i] = i; dt = performance.now() - t
console.log(`element loop write over a plain Float64Array: ${(BYTES / dt / 1e6).toFixed(2)} GB/s`)
shared.close()
