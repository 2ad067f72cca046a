// Pipe one-way small strings, as the benchmark's `pipe.oneway.string` row runs
// them: one process creates `Pipe()` and `recvSync`s, another attaches the
// second end and `sendSync`s 'msg-12345'. Not part of `pnpm bench`.
//
//   pnpm -C benchmarks exec node experiments/pipe-oneway-cpu.mjs [messages] [rounds]
//
// Prints, per round, msg/s (wall time from the sender's first message after
// the warm-up to the receiver's last) and each side's CPU time per message
// (`process.cpuUsage`, user + system). CPU per message moves far less than
// msg/s when another process shares the machine: compare trees by it.
// On 2026-12-05 (2-core VM): sender 75–94 ns, receiver 72–90 ns on main; see
// results/2026-12-05-pipe-oneway.md (the change measured there is not merged).
import { fork } from 'node:child_process'
import { Connection, Pipe } from '@ipc/pipe'

const ITEM = 'msg-12345'
const WARM_UP = 200_000

function report(t0, cpu0, extra) {
  const t1 = performance.now()
  const cpu = process.cpuUsage(cpu0)
  return {
    t0: performance.timeOrigin + t0,
    t1: performance.timeOrigin + t1,
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...extra,
  }
}

async function receiver() {
  const [a, b] = Pipe()
  process.send({ handle: b.handle })
  const { n } = await new Promise((resolve) => process.once('message', resolve))
  for (let i = 0; i < WARM_UP; i++) a.recvSync()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let last
  let bad = 0
  for (let i = 0; i < n; i++) {
    last = a.recvSync()
    if (last !== ITEM) bad++
  }
  const out = report(t0, cpu0, { bad, last })
  a.close()
  b.close()
  process.send(out, () => process.disconnect())
}

async function sender() {
  const { handle, n } = await new Promise((resolve) => process.once('message', resolve))
  const conn = Connection.from(handle)
  for (let i = 0; i < WARM_UP; i++) conn.sendSync(ITEM)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < n; i++) conn.sendSync(ITEM)
  const out = report(t0, cpu0, {})
  conn.close()
  process.send(out, () => process.disconnect())
}

function nextMessage(child) {
  return new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code) => reject(new Error(`a child exited with ${code} before it reported`)))
  })
}

async function round(n) {
  const me = new URL(import.meta.url).pathname
  const rx = fork(me, ['receiver'])
  const { handle } = await nextMessage(rx)
  const tx = fork(me, ['sender'])
  const rxDone = nextMessage(rx)
  const txDone = nextMessage(tx)
  rx.send({ n })
  tx.send({ handle, n })
  const [s, r] = await Promise.all([txDone, rxDone])
  await Promise.all([rx, tx].map((c) => (c.exitCode === null ? new Promise((ok) => c.once('exit', ok)) : 0)))
  if (r.bad !== 0) throw new Error(`the receiver got ${r.bad} wrong messages`)
  return {
    rate: n / ((r.t1 - s.t0) / 1000),
    senderNs: (s.cpuMs * 1e6) / n,
    receiverNs: (r.cpuMs * 1e6) / n,
  }
}

const kind = process.argv[2]
if (kind === 'receiver') await receiver()
else if (kind === 'sender') await sender()
else {
  const n = Number(process.argv[2] ?? 4_000_000)
  const rounds = Number(process.argv[3] ?? 2)
  for (let k = 0; k < rounds; k++) {
    const { rate, senderNs, receiverNs } = await round(n)
    console.log(
      `round ${k + 1}: ${(rate / 1e6).toFixed(2)} M msg/s, sender ${senderNs.toFixed(1)} ns/msg, receiver ${receiverNs.toFixed(1)} ns/msg`,
    )
  }
}
