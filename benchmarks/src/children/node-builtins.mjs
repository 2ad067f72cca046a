// Baselines that Node has built in: Atomics.add on a SharedArrayBuffer (one process), and
// Buffer.copy between two ordinary Buffers (a plain memcpy).
import { now, serve } from './lib.mjs'

const counter = new Int32Array(new SharedArrayBuffer(4))
let a
let b

serve({
  'add.run'({ n }) {
    Atomics.store(counter, 0, 0)
    const t0 = now()
    for (let i = 0; i < n; i++) Atomics.add(counter, 0, 1)
    const elapsedNs = now() - t0
    return { elapsedNs, value: Atomics.load(counter, 0) }
  },
  'copy.setup'({ bytes }) {
    a = Buffer.alloc(bytes, 7)
    b = Buffer.alloc(bytes)
    return {}
  },
  'copy.run'({ n }) {
    const t0 = now()
    for (let i = 0; i < n; i++) a.copy(b)
    const t1 = now()
    for (let i = 0; i < n; i++) b.copy(a)
    const t2 = now()
    return { writeNs: t1 - t0, readNs: t2 - t1, ok: a[a.length - 1] === 7 }
  },
})
