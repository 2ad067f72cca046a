/**
 * `pnpm --filter @ipc/benchmarks bench:redis-queue`: @ipc/queue/redis against
 * BullMQ (a job added with `addBulk`, a Worker with concurrency 64 that
 * completes it) and a raw @redis/client loop (RPUSH one message per round
 * trip, BLPOP one per round trip), on one private redis-server started here,
 * in the same run. Workloads: 1 producer → 1 consumer and 4 → 4, small
 * messages ('msg-12345'), each side a separate process; messages per second
 * from the common start to the last message taken (higher is better).
 * Ours twice: batched (`putMany` / `getMany({ max: 512 })`) and one message
 * per call (`put` / `get`). For the sides that end by themselves (not
 * BullMQ's workers) it also prints the CPU time per message of the producers,
 * the consumers and redis-server (INFO cpu), from the start to the last
 * message taken: a steadier figure than msg/s on a shared machine.
 */
import { fork } from 'node:child_process'
import { Queue } from '@ipc/queue/redis'
import { startRedisServer } from '@ipc/test-utils'
import { createClient } from '@redis/client'
import { Queue as BullQueue } from 'bullmq'

const SIDE = new URL('./children/redis-queue-side.mjs', import.meta.url)
const quick = process.argv.includes('--quick')
const scale = quick ? 0.25 : 1
const COUNTS: Record<string, number> = {
  'ours-batch': 200_000 * scale,
  ours: 40_000 * scale,
  raw: 40_000 * scale,
  bullmq: 20_000 * scale,
}
const LABELS: Record<string, string> = {
  'ours-batch': '@ipc/queue/redis (putMany/getMany)',
  ours: '@ipc/queue/redis (put/get)',
  raw: 'raw @redis/client RPUSH/BLPOP',
  bullmq: 'BullMQ (addBulk + Worker)',
}

interface Result {
  endedAt: number
  taken: number
  /** CPU ms this side used from the common start to its end. */
  cpu: number
}

/** redis-server's CPU time so far, ms (INFO cpu: used_cpu_sys + used_cpu_user, the whole process). */
async function serverCpu(url: string): Promise<number> {
  const client = createClient({ url })
  await client.connect()
  const info = String(await client.sendCommand(['INFO', 'cpu']))
  client.destroy()
  let seconds = 0
  for (const [, value] of info.matchAll(/^used_cpu_(?:sys|user):([\d.]+)/gm)) seconds += Number(value)
  return seconds * 1000
}

function side(impl: string, role: string, url: string, name: string, count: number) {
  const child = fork(SIDE, [impl, role, url, name, String(count)], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  })
  const ready = new Promise<void>((resolve) => child.once('message', () => resolve()))
  const result = new Promise<Result>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (data) => {
      out += data
    })
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${impl} ${role} exited ${code}`)),
    )
  })
  return { child, ready, result }
}

async function run(impl: string, url: string, sides: number): Promise<number> {
  const name = `bench-${impl}-${sides}-${Date.now()}`
  const total = COUNTS[impl] as number
  const perProducer = Math.floor(total / sides)
  let ours: Queue<string> | undefined
  if (impl.startsWith('ours')) ours = new Queue<string>({ url, name, persistent: true })
  await ours?.ready()
  const consumers = Array.from({ length: sides }, () => side(impl, 'consumer', url, name, 0))
  // BullMQ workers run until killed: their exit is not a failure.
  if (impl === 'bullmq') for (const consumer of consumers) consumer.result.catch(() => {})
  const producers = Array.from({ length: sides }, () => side(impl, 'producer', url, name, perProducer))
  // Every side connected and warm first, then one common start.
  await Promise.all([...consumers, ...producers].map((s) => s.ready))
  const cpuBefore = await serverCpu(url)
  const startAt = Date.now() + 50
  for (const s of [...consumers, ...producers]) s.child.send({ startAt })
  await Promise.all(producers.map((p) => p.result))
  let endedAt: number
  let cpu = ''
  if (impl === 'bullmq') {
    const queue = new BullQueue(name, { connection: { host: new URL(url).hostname, port: Number(new URL(url).port) } })
    while ((await queue.getCompletedCount()) < perProducer * sides) await new Promise((r) => setTimeout(r, 5))
    endedAt = Date.now()
    for (const consumer of consumers) consumer.child.kill('SIGKILL')
    await queue.obliterate({ force: true })
    await queue.close()
  } else {
    if (ours !== undefined) await ours.shutdown()
    else {
      const client = createClient({ url })
      await client.connect()
      await client.rPush(
        name,
        Array.from({ length: sides }, () => 'stop'),
      )
      client.destroy()
    }
    const results = await Promise.all(consumers.map((c) => c.result))
    const taken = results.reduce((sum, r) => sum + r.taken, 0)
    if (taken !== perProducer * sides) throw new Error(`${impl}: took ${taken} of ${perProducer * sides} messages`)
    endedAt = Math.max(...results.map((r) => r.endedAt))
    const server = (await serverCpu(url)) - cpuBefore
    const produced = await Promise.all(producers.map((p) => p.result))
    const perMessage = (ms: number) => ((ms * 1000) / taken).toFixed(0)
    cpu = `CPU per message: producers ${perMessage(produced.reduce((sum, r) => sum + r.cpu, 0))} µs, consumers ${perMessage(results.reduce((sum, r) => sum + r.cpu, 0))} µs, redis-server ${perMessage(server)} µs`
  }
  await ours?.unlink()
  await ours?.close()
  const perSecond = (perProducer * sides) / ((endedAt - startAt) / 1000)
  console.log(
    `${sides} → ${sides}, ${LABELS[impl]}: ${Math.round(perSecond)} msg/s (${perProducer * sides} messages)${cpu === '' ? '' : `; ${cpu}`}`,
  )
  return perSecond
}

const server = await startRedisServer()
try {
  console.log(`redis-server ${server.url}, ${quick ? 'quick' : 'full'} run`)
  for (const sides of [1, 4]) {
    const rates: Record<string, number> = {}
    for (const impl of ['ours-batch', 'ours', 'raw', 'bullmq']) rates[impl] = await run(impl, server.url, sides)
    const ratio = (a: string, b: string) => ((rates[a] as number) / (rates[b] as number)).toFixed(2)
    console.log(
      `${sides} → ${sides} ratios: ours (batched) ${ratio('ours-batch', 'bullmq')}× BullMQ, ${ratio('ours-batch', 'raw')}× the raw loop; ours (one per call) ${ratio('ours', 'bullmq')}× BullMQ, ${ratio('ours', 'raw')}× the raw loop\n`,
    )
  }
} finally {
  await server.stop()
}
