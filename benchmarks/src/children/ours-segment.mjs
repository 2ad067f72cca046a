// Ours: @ipc/core's Segment. Times create + close of a small segment (each create
// runs the cleanup scan of /dev/shm) with /dev/shm holding `count` junk `ipc-*`
// files: none, files of this user without our magic, or files of another user
// (uid 65534; needs root). The junk is removed when the child exits.
import { chownSync, unlinkSync, writeFileSync } from 'node:fs'
import { importOurs, now, serve } from './lib.mjs'

const KIND = { kind: 'bench-seg', version: 1 }
const NOBODY = 65534
let Segment
const junk = []

function removeJunk() {
  for (const path of junk.splice(0)) {
    try {
      unlinkSync(path)
    } catch {}
  }
}

serve({
  async 'segment.setup'({ junk: what, count, prefix }) {
    ;({ Segment } = await importOurs('@ipc/core/internal'))
    if (what === 'none') return {}
    // 8 KiB of bytes that are no magic: every scan opens it, checks it and reads a header's worth.
    const content = Buffer.alloc(8192, 0x5a)
    for (let i = 0; i < count; i++) {
      const path = `/dev/shm/ipc-${prefix}-${i}`
      writeFileSync(path, content, { mode: what === 'foreign' ? 0o644 : 0o600 })
      junk.push(path)
      if (what === 'foreign') chownSync(path, NOBODY, NOBODY)
    }
    return {}
  },
  'segment.run'({ n }) {
    const t0 = now()
    for (let i = 0; i < n; i++) Segment.create(KIND, 64).close()
    return { elapsedNs: now() - t0 }
  },
  close() {
    removeJunk()
  },
})
process.on('exit', removeJunk)
