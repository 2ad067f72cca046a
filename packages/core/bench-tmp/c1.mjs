import { Segment, RobustLock } from '@ipc/core/internal'
const KIND = { kind: 'lockbench', version: 1 }
const seg = Segment.open(KIND, process.argv[2])
console.error('opened')
const lock = new RobustLock(seg, seg.dataOffset)
console.error('lock')
const counter = new Int32Array(seg.buffer, seg.dataOffset + 64, 1)
console.error('view')
for (let i = 0; i < 100000; i++) { lock.acquireSync(); counter[0]++; lock.release() }
console.error('done', counter[0])
seg.close()
