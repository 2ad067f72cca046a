import { fork } from 'node:child_process'
import { Segment } from '@ipc/core/internal'
const seg = Segment.create({ kind: 'lockbench', version: 1 }, 128)
const k = fork('c1.mjs', [seg.name])
k.on('exit', (c, s) => { console.log('exit', c, s); seg.close() })
