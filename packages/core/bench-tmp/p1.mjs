import { spawnSync } from 'node:child_process'
import { Segment } from '@ipc/core/internal'
const seg = Segment.create({ kind: 'lockbench', version: 1 }, 128)
const r = spawnSync(process.execPath, ['c1.mjs', seg.name], { stdio: 'inherit' })
console.log(r.status, r.signal)
seg.close()
