import { fork } from 'node:child_process'
import { Segment } from '@ipc/core/internal'
const seg = Segment.create({ kind: 'lockbench', version: 1 }, 128)
const k = fork('c2.mjs', [seg.name])
k.on('message', (m) => { console.log('msg', m); k.send('go') })
k.on('exit', (c, s) => { console.log('exit', c, s); seg.close() })
