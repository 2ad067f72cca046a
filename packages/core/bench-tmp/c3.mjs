import { Segment } from '@ipc/core/internal'
const KIND = { kind: 'lockbench', version: 1 }
const seg = Segment.open(KIND, process.argv[2])
console.error('opened', process.argv[3])
if (process.argv[3] === 'timer') await new Promise((r) => setTimeout(r, 10))
if (process.argv[3] === 'msg') { process.send('x'); await new Promise((r) => process.once('message', r)) }
if (process.argv[3] === 'msgsync') { process.send('x') }
seg.close()
console.error('closed')
