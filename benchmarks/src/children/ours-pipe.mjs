// Ours: @ipc/pipe. One child creates `Pipe()` and keeps the first end; the other attaches
// the second end with `Connection.from(handle)`. Round trips use sendSync/recvSync (or
// the async send/recv with `async: true`); one-way throughput uses send/recv for
// strings and sendBytes/recvBytes for buffers (as Python's send_bytes/recv_bytes).
import { importOurs, isPayload, latencySummary, makePayload, now, serve } from './lib.mjs'

let conn
let otherEnd // the creator keeps the second end open until teardown

serve({
  async create() {
    const { Pipe } = await importOurs('@ipc/pipe')
    const [a, b] = Pipe()
    conn = a
    otherEnd = b
    return { handle: b.handle, names: [a.name, b.name] }
  },
  async attach({ handle }) {
    const { Connection } = await importOurs('@ipc/pipe')
    conn = Connection.from(handle)
    return {}
  },
  async ping({ n, async: useAsync }) {
    const message = makePayload('string')
    const latencies = new Float64Array(n)
    const t0 = now()
    if (useAsync) {
      for (let i = 0; i < n; i++) {
        const start = now()
        await conn.send(message)
        await conn.recv()
        latencies[i] = now() - start
      }
    } else {
      for (let i = 0; i < n; i++) {
        const start = now()
        conn.sendSync(message)
        conn.recvSync()
        latencies[i] = now() - start
      }
    }
    return { elapsedNs: now() - t0, ...latencySummary(latencies) }
  },
  async echo({ n, async: useAsync }) {
    if (useAsync) {
      for (let i = 0; i < n; i++) await conn.send(await conn.recv())
    } else {
      for (let i = 0; i < n; i++) conn.sendSync(conn.recvSync())
    }
    return {}
  },
  async send({ n, payload }) {
    const item = makePayload(payload)
    const tStart = now()
    if (payload === 'buffer64k') {
      // sendBytes may block or return a promise; use a Sync twin when there is one.
      const sendBytes = conn.sendBytesSync ? (bytes) => conn.sendBytesSync(bytes) : (bytes) => conn.sendBytes(bytes)
      for (let i = 0; i < n; i++) {
        const pending = sendBytes(item)
        if (typeof pending?.then === 'function') await pending
      }
    } else {
      for (let i = 0; i < n; i++) conn.sendSync(item)
    }
    return { tStart }
  },
  async recv({ n, payload }) {
    let last
    if (payload === 'buffer64k') {
      const recvBytes = conn.recvBytesSync ? () => conn.recvBytesSync() : () => conn.recvBytes()
      for (let i = 0; i < n; i++) {
        last = recvBytes()
        if (typeof last?.then === 'function') last = await last
      }
    } else {
      for (let i = 0; i < n; i++) last = conn.recvSync()
    }
    const tEnd = now()
    return { tEnd, count: n, ok: isPayload(payload, last) }
  },
  close() {
    conn?.close()
    otherEnd?.close()
    conn = undefined
    otherEnd = undefined
  },
})
