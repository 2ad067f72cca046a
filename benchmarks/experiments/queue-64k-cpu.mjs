// 64 KiB Buffers one way, as the benchmark's `queue.1to1.buffer64k` and
// `pipe.oneway.buffer64k` rows run them: one process creates the queue (8 MiB,
// as the benchmark) or `Pipe()` and takes (`getSync` / `recvBytesSync`),
// another attaches and puts (`putSync` / `sendBytesSync`). Not part of `pnpm bench`.
//
//   pnpm -C benchmarks exec node experiments/queue-64k-cpu.mjs queue|pipe [messages] [rounds] [capacity]
//
// Prints, per round, msg/s (wall time from the sender's first message after
// the warm-up to the receiver's last), each side's CPU time per message
// (`process.cpuUsage`, user + system) and its voluntary context switches per
// 1000 messages (sleeps). CPU per message moves far less than msg/s when
// another process shares the machine: compare trees by it.
//
// On 2026-12-06 (2-core VM, shared with another benchmark), 100k items a
// round: the queue (8 MiB) and the pipe each ran from 25k to 180k msg/s
// between rounds, the queue ahead in most; the receiver's CPU per item
// followed its minor page faults per item (0.01 → 6.7 µs, 0.5 → 15 µs):
// the fresh 64 KiB Buffer of each get (glibc heap, transparent huge pages
// always on) faulting on its first write, the same in both and in the
// ceiling. `perf record` of either receiver: memcpy and those faults, no
// zero-fill (V8 allocates the copy uninitialized), no v8 serialize.
import { fork } from 'node:child_process'
import { Connection, Pipe } from '@ipc/pipe'
import { Queue } from '@ipc/queue'

const WARM_UP = 20_000

function makeItem() {
  const buffer = Buffer.allocUnsafe(65536)
  for (let i = 0; i < buffer.length; i++) buffer[i] = i & 0xff
  return buffer
}

function report(t0, cpu0, switches0, extra) {
  const t1 = performance.now()
  const cpu = process.cpuUsage(cpu0)
  return {
    t0: performance.timeOrigin + t0,
    t1: performance.timeOrigin + t1,
    cpuMs: (cpu.user + cpu.system) / 1000,
    switches: process.resourceUsage().voluntaryContextSwitches - switches0.switches,
    faults: process.resourceUsage().minorPageFault - switches0.faults,
    ...extra,
  }
}

async function receiver(mode, capacity) {
  let take
  let handle
  let close
  if (mode === 'queue') {
    const queue = new Queue({ capacity })
    handle = queue.handle
    take = () => queue.getSync()
    close = () => queue.close()
  } else {
    const [a, b] = Pipe()
    handle = b.handle
    take = () => a.recvBytesSync()
    close = () => {
      a.close()
      b.close()
    }
  }
  process.send({ handle })
  const { n } = await new Promise((resolve) => process.once('message', resolve))
  for (let i = 0; i < WARM_UP; i++) take()
  const usage0 = process.resourceUsage()
  const switches0 = { switches: usage0.voluntaryContextSwitches, faults: usage0.minorPageFault }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let last
  for (let i = 0; i < n; i++) last = take()
  const ok = last.byteLength === 65536 && last[65535] === 0xff && last[1] === 1
  const out = report(t0, cpu0, switches0, { ok })
  close()
  process.send(out, () => process.disconnect())
}

async function sender(mode) {
  const { handle, n } = await new Promise((resolve) => process.once('message', resolve))
  const item = makeItem()
  let put
  let close
  if (mode === 'queue') {
    const queue = Queue.from(handle)
    put = () => queue.putSync(item)
    close = () => queue.close()
  } else {
    const conn = Connection.from(handle)
    put = () => conn.sendBytesSync(item)
    close = () => conn.close()
  }
  for (let i = 0; i < WARM_UP; i++) put()
  const usage0 = process.resourceUsage()
  const switches0 = { switches: usage0.voluntaryContextSwitches, faults: usage0.minorPageFault }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) put()
  const out = report(t0, cpu0, switches0, {})
  close()
  process.send(out, () => process.disconnect())
}

function nextMessage(child) {
  return new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code) => reject(new Error(`a child exited with ${code} before it reported`)))
  })
}

async function round(mode, n, capacity) {
  const me = new URL(import.meta.url).pathname
  const rx = fork(me, ['receiver', mode, String(capacity)])
  const { handle } = await nextMessage(rx)
  const tx = fork(me, ['sender', mode])
  const rxDone = nextMessage(rx)
  const txDone = nextMessage(tx)
  rx.send({ n })
  tx.send({ handle, n })
  const [s, r] = await Promise.all([txDone, rxDone])
  await Promise.all([rx, tx].map((c) => (c.exitCode === null ? new Promise((ok) => c.once('exit', ok)) : 0)))
  if (!r.ok) throw new Error('the receiver got a wrong message')
  return {
    rate: n / ((r.t1 - s.t0) / 1000),
    senderNs: (s.cpuMs * 1e6) / n,
    receiverNs: (r.cpuMs * 1e6) / n,
    senderSleeps: (s.switches * 1000) / n,
    receiverSleeps: (r.switches * 1000) / n,
    senderFaults: s.faults / n,
    receiverFaults: r.faults / n,
  }
}

const role = process.argv[2]
if (role === 'receiver') await receiver(process.argv[3], Number(process.argv[4]))
else if (role === 'sender') await sender(process.argv[3])
else {
  const mode = role ?? 'queue'
  const n = Number(process.argv[3] ?? 200_000)
  const rounds = Number(process.argv[4] ?? 2)
  const capacity = Number(process.argv[5] ?? 8 * 1024 * 1024)
  for (let k = 0; k < rounds; k++) {
    const r = await round(mode, n, capacity)
    console.log(
      `${mode} round ${k + 1}: ${(r.rate / 1e3).toFixed(1)}k msg/s, sender ${(r.senderNs / 1e3).toFixed(2)} µs/msg ` +
        `(${r.senderSleeps.toFixed(0)} sleeps/1k, ${r.senderFaults.toFixed(2)} faults), receiver ${(r.receiverNs / 1e3).toFixed(2)} µs/msg (${r.receiverSleeps.toFixed(0)} sleeps/1k, ${r.receiverFaults.toFixed(2)} faults)`,
    )
  }
}
