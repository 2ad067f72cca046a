import { Segment } from '@ipc/core/internal'
const KIND = { kind: 'lockbench', version: 1 }
const a = Segment.create(KIND, 128)
a.close()
const b = Segment.create(KIND, 128)
await new Promise((r) => setTimeout(r, 10))
console.error('touch b')
Atomics.store(b.i32, 540, 1)
console.error('ok')
b.close()
