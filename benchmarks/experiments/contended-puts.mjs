// What a Queue put costs when producers share one queue, by where they run.
// Not part of `pnpm bench`; the measurement behind the fan-in note of
// results/2026-12-04-fan-in.md (issue 15's Queue 4→1 and 2→2 rows).
//
//   pnpm -C benchmarks exec node experiments/contended-puts.mjs [puts] [rounds]
//
// Each case forks 1, 2 or 4 producer processes that `putSync` the same short
// string into one Queue large enough never to fill (no consumer, so only the
// producers' side is measured). Cases "on one CPU" start every producer under
// `taskset -c 0`: they take turns on one CPU and never run at the same time.
// Prints, per case, the median over the rounds of the CPU time per put (summed
// over the producers, from process.cpuUsage) and of the puts per second.
// On 2026-12-04 (2-core VM): 0.135 µs alone, 0.457 with two producers, 0.479
// with four, 0.149 and 0.161 with two and four on one CPU.
import { fork, spawn } from 'node:child_process'
import { Queue } from '@ipc/queue'

const ITEM = 'msg-12345'
const WARM_UP = 200_000

async function producer() {
  const { handle, puts } = await new Promise((resolve) => process.once('message', resolve))
  const queue = Queue.from(handle)
  for (let i = 0; i < WARM_UP; i++) queue.putSync(ITEM)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < puts; i++) queue.putSync(ITEM)
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  queue.close()
  process.send({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000 }, () => process.disconnect())
}

function start(pinned) {
  const args = [new URL(import.meta.url).pathname, 'producer']
  if (!pinned) return fork(args[0], args.slice(1))
  return spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
}

async function runCase(producers, pinned, puts) {
  const each = puts / producers
  // Room for every put of the case, warm-ups included (the data area is sparse until written).
  const capacity = 32 * (producers * WARM_UP + puts) + 4096
  const queue = new Queue({ name: `contended-puts-${process.pid}`, capacity })
  try {
    const children = Array.from({ length: producers }, () => start(pinned))
    const reports = await Promise.all(
      children.map(
        (child) =>
          new Promise((resolve, reject) => {
            child.once('message', resolve)
            child.once('exit', (code) => reject(new Error(`a producer exited with ${code} before it reported`)))
            child.send({ handle: queue.handle, puts: each })
          }),
      ),
    )
    await Promise.all(
      children.map((child) => (child.exitCode === null ? new Promise((r) => child.once('exit', r)) : 0)),
    )
    const cpuMs = reports.reduce((sum, r) => sum + r.cpuMs, 0)
    const wallMs = Math.max(...reports.map((r) => r.wallMs))
    return { usPerPut: (cpuMs * 1000) / puts, putsPerSecond: puts / (wallMs / 1000) }
  } finally {
    queue.unlink()
    queue.close()
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

async function main() {
  const puts = Number(process.argv[2] ?? 4_000_000)
  const rounds = Number(process.argv[3] ?? 5)
  const cases = [
    [1, false],
    [2, false],
    [4, false],
    [2, true],
    [4, true],
  ]
  const results = cases.map(() => [])
  // Cases alternate within each round, so a drift of the machine's load hits all of them.
  for (let round = 0; round < rounds; round++)
    for (const [i, [producers, pinned]] of cases.entries()) results[i].push(await runCase(producers, pinned, puts))
  for (const [i, [producers, pinned]] of cases.entries()) {
    const us = median(results[i].map((r) => r.usPerPut)).toFixed(3)
    const rate = (median(results[i].map((r) => r.putsPerSecond)) / 1e6).toFixed(2)
    console.log(`${producers} producer(s)${pinned ? ' on one CPU' : ''}: ${us} µs CPU per put, ${rate} M puts/s`)
  }
}

if (process.argv[2] === 'producer') await producer()
else await main()
