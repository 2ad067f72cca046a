// Queue 1→C fan-out: one producer process putSyncs N short strings, C consumer
// processes getSync until a null. Not part of `pnpm bench`.
//
//   pnpm -C benchmarks exec node experiments/fan-out.mjs [items] [rounds] [consumers]
//
// Prints, per round, items/s (wall time from the producer's first put to the
// last consumer's null) and the CPU time per item of each role.
// On 2026-12-04 (2-core VM): about 5.1 M items/s with 1 consumer, 2.5–3.1 with
// 2, 1.7–3.0 with 4; the consumers' CPU per item grows with their number
// (results/2026-12-04-fan-in.md, "Fan-out, measured again").
import { fork } from 'node:child_process'
import { Queue } from '@ipc/queue'

const ITEM = 'msg-12345'

async function role(kind) {
  const { handle, n } = await new Promise((resolve) => process.once('message', resolve))
  const queue = Queue.from(handle)
  const cpu0 = process.cpuUsage()
  let got = 0
  const t0 = performance.now()
  if (kind === 'producer') {
    for (let i = 0; i < n; i++) queue.putSync(ITEM)
  } else {
    while (queue.getSync() !== null) got++
  }
  const t1 = performance.now()
  const cpu = process.cpuUsage(cpu0)
  queue.close()
  process.send(
    { t0: performance.timeOrigin + t0, t1: performance.timeOrigin + t1, got, cpuMs: (cpu.user + cpu.system) / 1000 },
    () => process.disconnect(),
  )
}

async function round(n, consumers) {
  const queue = new Queue({ name: `fan-out-${process.pid}`, capacity: 1 << 20 })
  try {
    const me = new URL(import.meta.url).pathname
    const children = [fork(me, ['producer']), ...Array.from({ length: consumers }, () => fork(me, ['consumer']))]
    const reports = children.map(
      (child) =>
        new Promise((resolve, reject) => {
          child.once('message', resolve)
          child.once('exit', (code) => reject(new Error(`a child exited with ${code} before it reported`)))
        }),
    )
    for (const child of children.slice(1)) child.send({ handle: queue.handle, n: 0 })
    await new Promise((r) => setTimeout(r, 300))
    children[0].send({ handle: queue.handle, n })
    const [p] = await Promise.all([reports[0]])
    for (let i = 0; i < consumers; i++) queue.putSync(null)
    const cs = await Promise.all(reports.slice(1))
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : 0)))
    const got = cs.reduce((s, c) => s + c.got, 0)
    if (got !== n) throw new Error(`consumers got ${got} of ${n}`)
    const end = Math.max(...cs.map((c) => c.t1))
    const rate = n / ((end - p.t0) / 1000)
    const cCpu = cs.reduce((s, c) => s + c.cpuMs, 0)
    return { rate, pUs: (p.cpuMs * 1000) / n, cUs: (cCpu * 1000) / n }
  } finally {
    queue.unlink()
    queue.close()
  }
}

const kind = process.argv[2]
if (kind === 'producer' || kind === 'consumer') await role(kind)
else {
  const n = Number(process.argv[2] ?? 2_000_000)
  const rounds = Number(process.argv[3] ?? 3)
  const consumers = Number(process.argv[4] ?? 4)
  for (let r = 0; r < rounds; r++) {
    const { rate, pUs, cUs } = await round(n, consumers)
    console.log(
      `${consumers} consumers, round ${r}: ${(rate / 1e6).toFixed(2)} M items/s, producer ${pUs.toFixed(3)} µs CPU/item, consumers ${cUs.toFixed(3)} µs CPU/item`,
    )
  }
}
