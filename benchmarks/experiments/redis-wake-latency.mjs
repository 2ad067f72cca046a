// How long a PUBLISH takes to reach a sleeping subscriber process: the wake-up of a Redis
// semaphore waiter handed a permit. Not part of `pnpm bench`.
//
//   cd benchmarks && node --import tsx experiments/redis-wake-latency.mjs [rounds]
//
// The publisher sleeps GAP_MS (so the subscriber's process is asleep), takes the time, PUBLISHes
// with @redis/client and takes the time of the reply; the subscriber takes the time in its
// listener (CLOCK_MONOTONIC, comparable across processes). Subscribers: 'client' (@redis/client's
// subscribe, as RedisConnection's wake-up socket) and 'raw' (a plain socket that finds the
// message's last bulk string itself), alternating.
import { fork } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

const now = () => Number(process.hrtime.bigint()) / 1000
const GAP_MS = 2

if (process.argv[2] === 'child') {
  const [, , , mode, url] = process.argv
  const times = []
  if (mode === 'client') {
    const { createClient } = await import('@redis/client')
    const client = createClient({ url })
    await client.connect()
    await client.subscribe('w', () => times.push(now()))
  } else {
    const { port } = new URL(url)
    const socket = net.connect(Number(port), '127.0.0.1')
    socket.setNoDelay(true)
    await new Promise((r) => socket.once('connect', r))
    let subscribed
    const ready = new Promise((r) => {
      subscribed = r
    })
    socket.on('data', (data) => {
      // Each message is one push; count the pushes in this chunk by their header.
      const text = data.toString('latin1')
      let at = text.indexOf('*3\r\n$7\r\nmessage')
      if (text.startsWith('*3\r\n$9\r\nsubscribe')) subscribed()
      while (at !== -1) {
        times.push(now())
        at = text.indexOf('*3\r\n$7\r\nmessage', at + 1)
      }
    })
    socket.write('SUBSCRIBE w\r\n')
    await ready
  }
  process.send('ready')
  process.on('message', () => process.send(times, () => process.exit(0)))
} else {
  const rounds = Number(process.argv[2] ?? 2000)
  const { startRedisServer } = await import('@ipc/test-utils')
  const { createClient } = await import('@redis/client')
  const server = await startRedisServer()
  const publisher = createClient({ url: server.url })
  await publisher.connect()
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]
  const p90 = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length * 0.9)]
  try {
    for (const mode of ['client', 'raw', 'client', 'raw']) {
      const child = fork(fileURLToPath(import.meta.url), ['child', mode, server.url])
      await new Promise((r) => child.once('message', r))
      const sent = []
      const replied = []
      for (let i = 0; i < rounds; i++) {
        await sleep(GAP_MS)
        sent.push(now())
        await publisher.sendCommand(['PUBLISH', 'w', `x/1/${i} ${i + 1}`])
        replied.push(now())
      }
      await sleep(50)
      const times = await new Promise((r) => {
        child.once('message', r)
        child.send('done')
      })
      const fromSent = times.map((t, i) => t - sent[i])
      const fromReply = times.map((t, i) => t - replied[i])
      const rtt = replied.map((t, i) => t - sent[i])
      console.log(
        `${mode.padEnd(6)}: ${times.length} of ${rounds} messages; µs median / p90: PUBLISH sent → listener ${median(fromSent).toFixed(0)} / ${p90(fromSent).toFixed(0)}, reply → listener ${median(fromReply).toFixed(0)} / ${p90(fromReply).toFixed(0)}, PUBLISH round trip ${median(rtt).toFixed(0)} / ${p90(rtt).toFixed(0)}`,
      )
    }
  } finally {
    publisher.destroy()
    await server.stop()
  }
}
