import { fork } from 'node:child_process'
import { Segment } from '@ipc/core/internal'
const KIND = { kind: 'lockbench', version: 1 }
console.log('a')
const seg = Segment.create(KIND, 128)
console.log('b', seg.name)
const k = fork(new URL('./seg1.mjs', import.meta.url))
console.log('c')
await new Promise(r => k.on('exit', r))
console.log('d')
seg.close()
