import { fork } from 'node:child_process'
import { Segment } from '@ipc/core/internal'
const seg = Segment.create({ kind: 'lockbench', version: 1 }, 128)
for (const mode of ['none', 'timer', 'msgsync', 'msg']) {
  const k = fork('c3.mjs', [seg.name, mode])
  k.on('message', (m) => { k.send('go') })
  await new Promise(r => k.on('exit', (c, s) => { console.log(mode, 'exit', c, s); r() }))
}
seg.close()
