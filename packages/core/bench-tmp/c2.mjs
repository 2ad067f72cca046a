import { Segment, RobustLock } from '@ipc/core/internal'
const KIND = { kind: 'lockbench', version: 1 }
const seg = Segment.open(KIND, process.argv[2])
console.error('opened')
process.send('ready')
console.error('sent')
await new Promise((r) => process.once('message', r))
console.error('got go')
seg.close()
console.error('closed')
