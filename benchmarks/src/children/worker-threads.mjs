// Peer: worker_threads `postMessage` over a MessageChannel (structured clone, copies
// like every other implementation here; the sender keeps its buffer).
//
// The benchmark forks this file as a host process. Its main thread only coordinates:
//   channel  `pairs` producer threads each post n/pairs messages to their own consumer
//            thread. postMessage never pushes back, so producers keep at most `window`
//            messages in flight: the consumer acknowledges every window/4 (credit flow
//            control, as any user must add to bound memory).
//   rtt      the host thread pings an echo thread and times each round trip.
import { isMainThread, MessageChannel, parentPort, Worker, workerData } from 'node:worker_threads'
import { echoRoundTrips, isPayload, makePayload, now, serve } from './lib.mjs'

if (isMainThread) {
  let producers = []
  let consumers = []
  let echo
  const once = (worker) =>
    new Promise((resolve, reject) => {
      const onMessage = (message) => {
        worker.off('error', reject)
        resolve(message)
      }
      worker.once('message', onMessage)
      worker.once('error', reject)
    })
  serve({
    async setup({ mode, pairs = 1, payload }) {
      const url = new URL(import.meta.url)
      if (mode === 'rtt') {
        echo = new Worker(url, { workerData: { role: 'echo' } })
        await once(echo)
        return {}
      }
      const bytes = payload === 'buffer64k' ? 65536 : 64
      const window = Math.max(64, Math.min(8192, Math.floor((4 * 1024 * 1024) / bytes)))
      for (let i = 0; i < pairs; i++) {
        const { port1, port2 } = new MessageChannel()
        const consumer = new Worker(url, {
          workerData: { role: 'consumer', port: port2, payload, window },
          transferList: [port2],
        })
        const producer = new Worker(url, {
          workerData: { role: 'producer', port: port1, payload, window },
          transferList: [port1],
        })
        consumers.push(consumer)
        producers.push(producer)
      }
      await Promise.all([...consumers, ...producers].map(once))
      return {}
    },
    async run({ n }) {
      if (echo) return echoRoundTrips(echo, 'postMessage', n)
      const each = n / producers.length
      // Arm the consumers before any data flows, then start the producers.
      await Promise.all(
        consumers.map((consumer) => {
          const armed = once(consumer)
          consumer.postMessage({ cmd: 'arm', n: each })
          return armed
        }),
      )
      const done = consumers.map(once)
      const started = producers.map((producer) => {
        const report = once(producer)
        producer.postMessage({ cmd: 'go', n: each })
        return report
      })
      const [starts, ends] = await Promise.all([Promise.all(started), Promise.all(done)])
      return {
        tStart: Math.min(...starts.map((s) => s.tStart)),
        tEnd: Math.max(...ends.map((e) => e.tEnd)),
        count: ends.reduce((sum, e) => sum + e.count, 0),
        ok: ends.every((e) => e.ok),
      }
    },
    async close() {
      await Promise.all([...producers, ...consumers, echo].filter(Boolean).map((w) => w.terminate()))
      producers = []
      consumers = []
      echo = undefined
    },
  })
} else if (workerData.role === 'echo') {
  parentPort.on('message', (message) => parentPort.postMessage(message))
  parentPort.postMessage('ready')
} else if (workerData.role === 'producer') {
  const { port, payload, window } = workerData
  const item = makePayload(payload)
  let acked = 0
  let wake
  port.on('message', (count) => {
    acked = count
    wake?.()
  })
  parentPort.on('message', async ({ n }) => {
    acked = 0
    const tStart = now()
    for (let i = 0; i < n; i++) {
      while (i - acked >= window) await new Promise((resolve) => (wake = resolve))
      port.postMessage(item)
    }
    parentPort.postMessage({ tStart })
  })
  parentPort.postMessage('ready')
} else if (workerData.role === 'consumer') {
  const { port, payload, window } = workerData
  const ackEvery = Math.max(1, window >> 2)
  let expected = 0
  let count = 0
  port.on('message', (item) => {
    count++
    if (count % ackEvery === 0) port.postMessage(count)
    if (count === expected) {
      const tEnd = now()
      parentPort.postMessage({ tEnd, count, ok: isPayload(payload, item) })
    }
  })
  parentPort.on('message', ({ n }) => {
    expected = n
    count = 0
    parentPort.postMessage('armed')
  })
  parentPort.postMessage('ready')
}
