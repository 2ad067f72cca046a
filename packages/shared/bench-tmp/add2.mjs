import { SharedValue } from '@ipc/shared'
const N = 50_000_000
const v = new SharedValue('int32', 0, { lock: false })
const big = new SharedValue('int64', 0n, { lock: false })
const sab = new Int32Array(new SharedArrayBuffer(64))
const mapped = new SharedValue('int32', 0)
function rate(f) { const t = performance.now(); f(); return N / (performance.now() - t) / 1000 }
for (let r = 0; r < 4; r++) {
  const ours = rate(() => { for (let i = 0; i < N; i++) v.add(1) })
  const raw = rate(() => { for (let i = 0; i < N; i++) Atomics.add(sab, 0, 1) })
  console.log(`SharedValue.add ${ours.toFixed(1)} M ops/s | raw Atomics.add(SAB) ${raw.toFixed(1)} M ops/s | ratio ${(ours / raw).toFixed(2)}`)
}
const tb = performance.now(); for (let i = 0; i < 5_000_000; i++) big.add(1n); console.log(`int64 add(1n): ${(5_000_000 / (performance.now() - tb) / 1000).toFixed(1)} M ops/s`)
console.log(v.value === 4 * N, big.value)
v.close(); big.close(); mapped.close()
