// Peer: worker_threads `postMessage` over a MessageChannel (structured clone, copies
// like every other implementation here; the sender keeps its buffer).
//
// The benchmark forks this file as a host process. Its main thread only coordinates:
//   channel  `pairs` producer threads each post n/pairs messages to their own consumer
//            thread. postMessage never pushes back, so producers keep at most `window`
//            messages in flight: the consumer acknowledges every window/4 (credit flow
//            control, as any user must add to bound memory).
//   fan      `producers` threads and `consumers` threads (one side has 1), a MessageChannel
//            between every producer and every consumer: 4→1 is 4 producers posting to one
//            consumer over 4 channels, 1→4 is one producer posting item i to consumer
//            i mod 4. Each channel has its own window.
//   rtt      the host thread pings an echo thread and times each round trip.
//   idle     the host thread holds `count` MessagePorts, each with a pending
//            once('message'), while it measures its idle cost; a waker thread holds the
//            other ends and posts one item on each when asked.
import { isMainThread, MessageChannel, parentPort, Worker, workerData } from 'node:worker_threads'
import { echoRoundTrips, idleWindow, isPayload, makePayload, now, serve } from './lib.mjs'

if (isMainThread) {
  let producers = []
  let consumers = []
  let echo
  let waker
  let idlePorts = []
  let pendingMessages = []
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
    async setup({ mode, pairs = 1, producers: fanProducers = 1, consumers: fanConsumers = 1, payload, count }) {
      const url = new URL(import.meta.url)
      if (mode === 'rtt') {
        echo = new Worker(url, { workerData: { role: 'echo' } })
        await once(echo)
        return {}
      }
      if (mode === 'idle') {
        const channels = Array.from({ length: count }, () => new MessageChannel())
        idlePorts = channels.map((channel) => channel.port1)
        const far = channels.map((channel) => channel.port2)
        waker = new Worker(url, { workerData: { role: 'waker', ports: far }, transferList: far })
        await once(waker)
        return {}
      }
      const bytes = payload === 'buffer64k' ? 65536 : 64
      const window = Math.max(64, Math.min(8192, Math.floor((4 * 1024 * 1024) / bytes)))
      // channel: `pairs` independent producer → consumer channels; fan: every producer to every consumer.
      const links =
        mode === 'fan'
          ? Array.from({ length: fanProducers * fanConsumers }, (_, i) => [
              Math.floor(i / fanConsumers),
              i % fanConsumers,
            ])
          : Array.from({ length: pairs }, (_, i) => [i, i])
      const producerCount = mode === 'fan' ? fanProducers : pairs
      const consumerCount = mode === 'fan' ? fanConsumers : pairs
      const producerPorts = Array.from({ length: producerCount }, () => [])
      const consumerPorts = Array.from({ length: consumerCount }, () => [])
      for (const [from, to] of links) {
        const { port1, port2 } = new MessageChannel()
        producerPorts[from].push(port1)
        consumerPorts[to].push(port2)
      }
      for (const ports of consumerPorts) {
        consumers.push(
          new Worker(url, { workerData: { role: 'consumer', ports, payload, window }, transferList: ports }),
        )
      }
      for (const ports of producerPorts) {
        producers.push(
          new Worker(url, { workerData: { role: 'producer', ports, payload, window }, transferList: ports }),
        )
      }
      await Promise.all([...consumers, ...producers].map(once))
      return {}
    },
    async idle({ ms }) {
      pendingMessages = idlePorts.map((port) => new Promise((resolve) => port.once('message', resolve)))
      return await idleWindow(ms)
    },
    wake() {
      waker.postMessage('wake')
      return {}
    },
    async collect() {
      const items = await Promise.all(pendingMessages)
      pendingMessages = []
      return { count: items.length, ok: items.every((item) => isPayload('string', item)) }
    },
    async run({ n }) {
      if (echo) return echoRoundTrips(echo, 'postMessage', n)
      // Every producer sends n/P, every consumer receives n/C.
      await Promise.all(
        consumers.map((consumer) => {
          const armed = once(consumer)
          consumer.postMessage({ cmd: 'arm', n: n / consumers.length })
          return armed
        }),
      )
      const done = consumers.map(once)
      const started = producers.map((producer) => {
        const report = once(producer)
        producer.postMessage({ cmd: 'go', n: n / producers.length })
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
      for (const port of idlePorts) port.close()
      await Promise.all([...producers, ...consumers, echo, waker].filter(Boolean).map((w) => w.terminate()))
      producers = []
      consumers = []
      echo = undefined
      waker = undefined
      idlePorts = []
    },
  })
} else if (workerData.role === 'echo') {
  parentPort.on('message', (message) => parentPort.postMessage(message))
  parentPort.postMessage('ready')
} else if (workerData.role === 'waker') {
  const { ports } = workerData
  const item = makePayload('string')
  parentPort.on('message', () => {
    for (const port of ports) port.postMessage(item)
  })
  parentPort.postMessage('ready')
} else if (workerData.role === 'producer') {
  // Item i goes to port i mod k; each port has its own window of unacknowledged items.
  const { ports, payload, window } = workerData
  const k = ports.length
  const item = makePayload(payload)
  const sent = new Float64Array(k)
  const acked = new Float64Array(k)
  let wake
  for (const [j, port] of ports.entries()) {
    port.on('message', (count) => {
      acked[j] = count
      wake?.()
    })
  }
  parentPort.on('message', async ({ n }) => {
    sent.fill(0)
    acked.fill(0)
    const tStart = now()
    for (let i = 0; i < n; i++) {
      const j = i % k
      while (sent[j] - acked[j] >= window) await new Promise((resolve) => (wake = resolve))
      ports[j].postMessage(item)
      sent[j]++
    }
    parentPort.postMessage({ tStart })
  })
  parentPort.postMessage('ready')
} else if (workerData.role === 'consumer') {
  // Counts what arrives on all its ports; acknowledges every window/4 on each port.
  const { ports, payload, window } = workerData
  const ackEvery = Math.max(1, window >> 2)
  const counts = new Float64Array(ports.length)
  let expected = 0
  let count = 0
  for (const [j, port] of ports.entries()) {
    port.on('message', (item) => {
      count++
      const onPort = ++counts[j]
      if (onPort % ackEvery === 0) port.postMessage(onPort)
      if (count === expected) {
        const tEnd = now()
        parentPort.postMessage({ tEnd, count, ok: isPayload(payload, item) })
      }
    })
  }
  parentPort.on('message', ({ n }) => {
    expected = n
    count = 0
    counts.fill(0)
    parentPort.postMessage('armed')
  })
  parentPort.postMessage('ready')
}
