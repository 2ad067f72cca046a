import { fork } from 'node:child_process'
import { SharedValue } from '@ipc/shared'
const N = Number(process.argv[2] === 'child' ? process.argv[3] : 1_000_000)
if (process.argv[2] === 'child' && process.argv.length > 4) {
  const v = SharedValue.from(JSON.parse(process.argv[4]))
  const lock = v.getLock()
  process.send('ready')
  await new Promise((r) => process.once('message', r))
  const t = performance.now()
  if (process.argv[5] === 'with') for (let i = 0; i < N; i++) v.withLockSync(() => { v.value += 1 })
  else for (let i = 0; i < N; i++) { lock.acquireSync(); v.value += 1; lock.release() }
  process.send(performance.now() - t)
  v.close()
} else {
  for (const style of (process.argv[2] ? [process.argv[2]] : ['acquire', 'with'])) {
    for (let r = 0; r < 3; r++) {
      const v = new SharedValue('int32', 0)
      const kids = [0, 1].map(() => fork(new URL(import.meta.url), ['child', String(N), JSON.stringify(v.handle), style]))
      const exits = kids.map((k) => new Promise((res) => k.once('exit', res)))
      await Promise.all(kids.map((k) => new Promise((res) => k.once('message', res))))
      const done = kids.map((k) => new Promise((res) => k.once('message', res)))
      const t = performance.now()
      for (const k of kids) k.send('go')
      await Promise.all(done)
      const dt = performance.now() - t
      console.log(`@ipc/shared SharedValue('int32') locked (${style}) 2 procs: ${(2 * N / dt * 1000 / 1e6).toFixed(2)} M ops/s, final=${v.value} expected=${2 * N}`)
      await Promise.all(exits)
      v.close()
    }
  }
}
