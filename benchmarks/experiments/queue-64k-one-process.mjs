// The work of one 64 KiB Buffer through a Queue (`putSync` then `getSync`),
// through a Pipe (`sendBytesSync` then `recvBytesSync`), and of the
// benchmark's ceiling (`Buffer.from`), in one process: no waiting, no
// wake-ups, no second CPU, so an instruction count of it is exact where a
// clock on a shared 2-core machine is not. Not part of `pnpm bench`.
//
//   CAP=1048576 node experiments/queue-64k-one-process.mjs queue|pipe|ceiling [messages]
//   valgrind --tool=callgrind --smc-check=all-non-file node experiments/queue-64k-one-process.mjs queue 9000
//
// Per item, take (Ir at 9000 − Ir at 3000) / 6000. On 2026-12-06, queue
// 162k and pipe 150k instructions per item (8 MiB ring), both 131k of them
// in memcpy (two 64 KiB copies each); the rest of the gap was GC of that
// run, not the put and get paths. The queue, 1 MiB ring, before and after
// the split-payload change (one copy, not two, for the 1 item in 16 that
// runs past the ring's end): 157.8k → 154.6k.
import { Pipe } from '@ipc/pipe'
import { Queue } from '@ipc/queue'

const item = Buffer.allocUnsafe(65536)
for (let i = 0; i < item.length; i++) item[i] = i & 0xff
const which = process.argv[2] ?? 'queue'
const n = Number(process.argv[3] ?? 100_000)
const queue = new Queue({ capacity: Number(process.env.CAP ?? 8 * 1024 * 1024) })
const [a, b] = Pipe()
/** Items in flight: a few, so the ring's positions move round it. */
const depth = 3
const cases = {
  queue() {
    for (let i = 0; i < depth; i++) queue.putSync(item)
    for (let i = 0; i < depth; i++) queue.getSync()
  },
  pipe() {
    for (let i = 0; i < depth; i++) b.sendBytesSync(item)
    for (let i = 0; i < depth; i++) a.recvBytesSync()
  },
  ceiling() {
    for (let i = 0; i < depth; i++) Buffer.from(item)
  },
}
const run = cases[which]
if (run === undefined) throw new Error(`Unknown case ${which}: queue, pipe or ceiling`)
const t0 = performance.now()
for (let i = 0; i < n; i += depth) run()
console.log(which, (((performance.now() - t0) * 1000) / n).toFixed(2), 'µs/item')
queue.close()
a.close()
b.close()
