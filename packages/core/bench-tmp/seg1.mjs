import { Segment, RobustLock } from '@ipc/core/internal'
const KIND = { kind: 'lockbench', version: 1 }
console.log('a')
const seg = Segment.create(KIND, 128)
console.log('b', seg.name)
seg.close()
console.log('c')
