// Peer: Node's child_process IPC (`process.send` / `subprocess.send`), with
// serialization 'json' (the default) or 'advanced' (the structured clone algorithm).
//
// Roles (argv[2]):
//   sink    forked by the benchmark; forks its own `source` and counts what it sends.
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
  let source
  let kind
  let decode = false
  let expected = 0
  let count = 0
  let tEnd = 0
  let ok = true
  let onReport
  serve({
    async setup({ payload, serialization }) {
      kind = payload
      decode = serialization === 'json' && payload === 'buffer64k'
      const peer = forkPeer('source', serialization)
      source = peer.child
      await peer.ready
      source.on('message', (message) => {
        if (count < expected) {
          const item = decode ? Buffer.from(message, 'base64') : message
          count++
          if (count === expected) {
            tEnd = now()
            ok = isPayload(kind, item)
          }
          return
        }
        onReport?.(message)
      })
      source.send({ cmd: 'setup', payload, serialization })
      await new Promise((resolve) => {
        onReport = resolve
      })
      return {}
    },
    async run({ n }) {
      expected = n
      count = 0
      ok = true
      const report = await new Promise((resolve) => {
        onReport = resolve
        source.send({ cmd: 'go', n })
      })
      return { tStart: report.tStart, tEnd, count, ok }
    },
    close() {
      source?.kill('SIGKILL')
    },
  })
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
