// Baselines that Node has built in, each in one process with no IPC: Atomics.add on a
// SharedArrayBuffer, Buffer.copy between two ordinary Buffers (a plain memcpy), and
// Buffer.from(payload), the new Buffer + copy that every get()/recv() of a Buffer does.
import { isPayload, makePayload, now, serve } from './lib.mjs'

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
  // What a consumer's get() does for a Buffer item (@ipc/core decodePayload):
  // Buffer.from(bytes) allocates a new, private Buffer and copies the bytes into it.
  'fresh.run'({ n, payload }) {
    const source = makePayload(payload)
    let last
    const tStart = now()
    for (let i = 0; i < n; i++) last = Buffer.from(source)
    const tEnd = now()
    return { tStart, tEnd, count: n, ok: isPayload(payload, last) }
  },
})
