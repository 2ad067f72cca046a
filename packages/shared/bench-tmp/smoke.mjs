import { RawArray, RawValue, SharedArray, SharedMemory, SharedValue } from '@ipc/shared'

const v = new SharedValue('int32', 5)
console.log(v, v.add(3), v.value, v.handle)
const f = new SharedValue('d', -0)
console.log(f, Object.is(f.value, -0))
f.value = NaN
console.log(f.value)
const b = new SharedValue('q', 2n ** 63n - 1n)
console.log(b, b.add(1n), b.value)
const u = new SharedValue('Q', 2n ** 64n - 1n)
console.log(u.value)
const a = new SharedArray('float32', [1.5, 2, 3])
console.log(a, a.array, a.toArray())
const big = new SharedArray('int16', 300)
console.log(big)
try {
  new SharedValue('int33')
} catch (e) {
  console.log(e.message)
}
try {
  v.value = 1.5
} catch (e) {
  console.log(e.name, e.message)
}
try {
  v.value = 2 ** 31
} catch (e) {
  console.log(e.name, e.message)
}
try {
  b.value = 1
} catch (e) {
  console.log(e.name, e.message)
}
try {
  f.value = 1n
} catch (e) {
  console.log(e.name, e.message)
}
try {
  SharedArray.open(v.name)
} catch (e) {
  console.log(e.name, e.message)
}
try {
  SharedValue.open(v.name, 'float64')
} catch (e) {
  console.log(e.name, e.message)
}
const w = SharedValue.open(v.name)
console.log(w.value, w.type)
await v.withLock(async (lock) => {
  console.log('in lock', lock.held, lock)
})
const m = SharedMemory.create({ size: 10 })
m.buf[3] = 7
const m2 = SharedMemory.open(m.name)
console.log(m2, m2.buf)
const r = new RawValue('bool', true)
console.log(r, r.hasLock)
try {
  r.getLock()
} catch (e) {
  console.log(e.name, e.message)
}
for (const o of [v, w, f, b, u, a, big, m, m2, r]) o.close()
