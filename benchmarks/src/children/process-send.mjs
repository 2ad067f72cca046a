// Peer: Node's child_process IPC (`process.send` / `subprocess.send`), with
// serialization 'json' (the default) or 'advanced' (the structured clone algorithm).
//
// Roles (argv[2]):
//   sink    forked by the benchmark; forks its own `source` (or `sources` of them: fan-in)
//           and counts what they send.
//   hub     forked by the benchmark; forks `leaves` children and sends item i to leaf
//           i mod k (fan-out), with the same flow control per leaf; each leaf counts.
//   source  sends n messages to its parent with flow control: when send() returns false
//           (the backlog passed Node's threshold), it waits for the next send's callback.
//   pinger  forked by the benchmark; forks an `echo` and times round trips.
//   echo    sends back every message it gets.
//
// In 'json' mode a 64 KiB Buffer travels as base64 (the competent way: JSON would turn
// it into an array of numbers) and the sink decodes it back into a Buffer.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { echoRoundTrips, isPayload, makePayload, now, serve } from './lib.mjs'

const self = fileURLToPath(import.meta.url)
const role = process.argv[2]

function forkPeer(childRole, serialization) {
  const child = fork(self, [childRole], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const ready = new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code, signal) => reject(new Error(`${childRole} exited (${signal ?? code})`)))
  })
  return { child, ready }
}

if (role === 'sink') {
  let sources = []
  let kind
  let decode = false
  let expected = 0
  let each = 0
  let counts = []
  let count = 0
  let tEnd = 0
  let ok = true
  const onReports = []
  serve({
    async setup({ payload, serialization, sources: k = 1 }) {
      kind = payload
      decode = serialization === 'json' && payload === 'buffer64k'
      const peers = Array.from({ length: k }, () => forkPeer('source', serialization))
      sources = peers.map((peer) => peer.child)
      counts = sources.map(() => 0)
      await Promise.all(peers.map((peer) => peer.ready))
      const reports = sources.map((source, j) => {
        // Items come first, then the source's report: each source sends `each` items.
        source.on('message', (message) => {
          if (counts[j] < each) {
            const item = decode ? Buffer.from(message, 'base64') : message
            counts[j]++
            count++
            if (count === expected) {
              tEnd = now()
              ok = isPayload(kind, item)
            }
            return
          }
          onReports[j]?.(message)
        })
        const set = new Promise((resolve) => {
          onReports[j] = resolve
        })
        source.send({ cmd: 'setup', payload, serialization })
        return set
      })
      await Promise.all(reports)
      return {}
    },
    async run({ n }) {
      expected = n
      each = n / sources.length
      count = 0
      counts.fill(0)
      ok = true
      const reports = await Promise.all(
        sources.map(
          (source, j) =>
            new Promise((resolve) => {
              onReports[j] = resolve
              source.send({ cmd: 'go', n: each })
            }),
        ),
      )
      return { tStart: Math.min(...reports.map((report) => report.tStart)), tEnd, count, ok }
    },
    close() {
      for (const source of sources) source.kill('SIGKILL')
    },
  })
} else if (role === 'hub') {
  let leaves = []
  let sendItem
  serve({
    async setup({ payload, serialization, leaves: k }) {
      const peers = Array.from({ length: k }, () => forkPeer('leaf', serialization))
      leaves = peers.map((peer) => peer.child)
      await Promise.all(peers.map((peer) => peer.ready))
      const item = makePayload(payload)
      const base64 = serialization === 'json' && payload === 'buffer64k'
      sendItem = base64 ? () => item.toString('base64') : () => item
      await Promise.all(
        leaves.map((leaf) => {
          const set = new Promise((resolve) => leaf.once('message', resolve))
          leaf.send({ cmd: 'setup', payload, serialization })
          return set
        }),
      )
      return {}
    },
    async run({ n }) {
      const k = leaves.length
      // Arm every leaf (the channel keeps order: the arm arrives before the items).
      const reports = leaves.map((leaf) => {
        const report = new Promise((resolve) => leaf.once('message', resolve))
        leaf.send({ cmd: 'arm', n: n / k })
        return report
      })
      // A leaf whose send() returned false gets its next item with a callback, awaited.
      const backlogged = leaves.map(() => false)
      const tStart = now()
      for (let i = 0; i < n; i++) {
        const j = i % k
        const leaf = leaves[j]
        if (backlogged[j]) {
          backlogged[j] = false
          await new Promise((resolve, reject) => leaf.send(sendItem(), (error) => (error ? reject(error) : resolve())))
        } else if (!leaf.send(sendItem())) backlogged[j] = true
      }
      const ends = await Promise.all(reports)
      return {
        tStart,
        tEnd: Math.max(...ends.map((end) => end.tEnd)),
        count: ends.reduce((sum, end) => sum + end.count, 0),
        ok: ends.every((end) => end.ok),
      }
    },
    close() {
      for (const leaf of leaves) leaf.kill('SIGKILL')
    },
  })
} else if (role === 'leaf') {
  let kind
  let decode = false
  let expected = 0
  let count = 0
  process.on('disconnect', () => process.exit(0))
  process.on('message', (message) => {
    if (count < expected) {
      const item = decode ? Buffer.from(message, 'base64') : message
      count++
      if (count === expected) process.send({ tEnd: now(), count, ok: isPayload(kind, item) })
      return
    }
    if (message.cmd === 'setup') {
      kind = message.payload
      decode = message.serialization === 'json' && message.payload === 'buffer64k'
      process.send({ type: 'set' })
    } else if (message.cmd === 'arm') {
      expected = message.n
      count = 0
    }
  })
  process.send({ type: 'ready' })
} else if (role === 'source') {
  let sendItem
  process.on('disconnect', () => process.exit(0))
  process.on('message', async (message) => {
    if (message.cmd === 'setup') {
      const payload = makePayload(message.payload)
      const base64 = message.serialization === 'json' && message.payload === 'buffer64k'
      // Encoding happens per message, as it would for fresh data.
      sendItem = base64 ? () => payload.toString('base64') : () => payload
      process.send({ type: 'set' })
      return
    }
    if (message.cmd === 'go') {
      const n = message.n
      const tStart = now()
      let i = 0
      while (i < n) {
        const fits = process.send(sendItem())
        i++
        if (!fits && i < n) {
          await new Promise((resolve, reject) =>
            process.send(sendItem(), (error) => (error ? reject(error) : resolve())),
          )
          i++
        }
      }
      process.send({ tStart })
    }
  })
  process.send({ type: 'ready' })
} else if (role === 'pinger') {
  let echo
  serve({
    async setup({ serialization }) {
      const peer = forkPeer('echo', serialization)
      echo = peer.child
      await peer.ready
      return {}
    },
    run({ n }) {
      return echoRoundTrips(echo, 'send', n)
    },
    close() {
      echo?.kill('SIGKILL')
    },
  })
} else if (role === 'echo') {
  process.on('disconnect', () => process.exit(0))
  process.on('message', (message) => process.send(message))
  process.send({ type: 'ready' })
} else {
  throw new Error(`Unknown role ${role}`)
}
