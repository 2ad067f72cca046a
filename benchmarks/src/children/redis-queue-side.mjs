// One side of the Redis queue benchmark. Once connected it sends 'ready' to
// the parent, which answers with the common start time. From then, a
// producer puts `count` small messages; a consumer takes messages until the
// end (ShutDown for ours, a 'stop' sentinel for the raw loop; BullMQ workers
// run until killed), then prints {"endedAt": epoch ms, "taken": n, "cpu": ms of
// CPU (user + system) this process used since the start}.
// argv: impl ('ours-batch' | 'ours' | 'raw' | 'bullmq'), role ('producer' | 'consumer'), url, name, count
import { setTimeout as sleep } from 'node:timers/promises'

const [impl, role, url, name, countText] = process.argv.slice(2)
const count = Number(countText)
const BATCH = 512
const message = (i) => `msg-${String(i % 100000).padStart(5, '0')}`

/** process.cpuUsage() at the common start. */
let cpuAtStart

/** Tells the parent this side is connected and warm, and waits for the common start. */
async function atStart() {
  const startAt = await new Promise((resolve) => {
    process.once('message', (message) => resolve(message.startAt))
    process.send('ready')
  })
  process.disconnect()
  await sleep(Math.max(0, startAt - Date.now()))
  cpuAtStart = process.cpuUsage()
}

function done(taken) {
  const cpu = process.cpuUsage(cpuAtStart)
  process.stdout.write(`${JSON.stringify({ endedAt: Date.now(), taken, cpu: (cpu.user + cpu.system) / 1000 })}\n`)
}

if (impl === 'ours-batch' || impl === 'ours') {
  const { Queue, ShutDown } = await import('@ipc/queue/redis')
  const queue = await Queue.open(name, { url })
  await queue.qsize() // connected and warm before the start
  await atStart()
  let taken = 0
  if (role === 'producer') {
    if (impl === 'ours-batch') {
      for (let i = 0; i < count; i += BATCH)
        await queue.putMany(Array.from({ length: Math.min(BATCH, count - i) }, (_, j) => message(i + j)))
    } else for (let i = 0; i < count; i++) await queue.put(message(i))
  } else {
    try {
      if (impl === 'ours-batch') for (;;) taken += (await queue.getMany({ max: BATCH })).length
      else
        for (;;) {
          await queue.get()
          taken++
        }
    } catch (error) {
      if (!(error instanceof ShutDown)) throw error
    }
  }
  done(taken)
  await queue.close()
} else if (impl === 'raw') {
  const { createClient } = await import('@redis/client')
  const client = createClient({ url })
  await client.connect()
  await client.ping()
  await atStart()
  let taken = 0
  if (role === 'producer') for (let i = 0; i < count; i++) await client.rPush(name, message(i))
  else
    for (;;) {
      const reply = await client.blPop(name, 0)
      if (reply?.element === 'stop') break
      taken++
    }
  done(taken)
  client.destroy()
} else {
  const { Queue, Worker } = await import('bullmq')
  const { hostname, port } = new URL(url)
  const connection = { host: hostname, port: Number(port), maxRetriesPerRequest: null }
  if (role === 'producer') {
    const queue = new Queue(name, { connection })
    await queue.waitUntilReady()
    await atStart()
    for (let i = 0; i < count; i += BATCH)
      await queue.addBulk(
        Array.from({ length: Math.min(BATCH, count - i) }, (_, j) => ({ name: 'msg', data: message(i + j) })),
      )
    done(0)
    await queue.close()
  } else {
    // Runs until the parent kills it (it counts completions on the server).
    const worker = new Worker(name, async () => {}, { connection, concurrency: 64, autorun: false })
    await worker.waitUntilReady()
    await atStart()
    void worker.run()
  }
}
