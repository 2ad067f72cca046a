// Peer: a raw Unix-domain stream socket with length-prefixed frames, written the way a
// competent user would: frames are packed into 64 KiB batches (one write per batch, not
// per message), writes respect backpressure ('drain'), and the reader decodes frames in
// place (zero-copy for frames inside one chunk, a single copy for frames that span chunks).
//
// Frame: u32 little-endian length, then the bytes: UTF-8 for strings, JSON for objects,
// raw for buffers. Every message is encoded by the sender and decoded by the receiver.
//
// Roles (argv[2]): sink (server, counts), source (client, sends), echo (server), pinger (client),
// idle (client: one pending read on each of many connections) and idle-waker (its server).
//
// Fan-in (4→1): one sink accepts a connection from each of 4 sources and counts them all.
// Fan-out (1→4): one source connects to 4 sinks and writes item i to connection i mod 4,
// each connection with its own 64 KiB batch.

import { once } from 'node:events'
import { createConnection, createServer } from 'node:net'
import { idleWindow, isPayload, latencySummary, makePayload, now, serve } from './lib.mjs'

const BATCH = 64 * 1024

/** Turns a byte stream into frames; `onFrame(bytes, start, end)`. */
function frameReader(onFrame) {
  const header = Buffer.alloc(4)
  let headerHave = 0
  let current = null // the frame being assembled across chunks
  let have = 0
  return (chunk) => {
    let offset = 0
    const length = chunk.length
    while (offset < length) {
      if (current) {
        const take = Math.min(current.length - have, length - offset)
        chunk.copy(current, have, offset, offset + take)
        have += take
        offset += take
        if (have === current.length) {
          const frame = current
          current = null
          onFrame(frame, 0, frame.length)
        }
        continue
      }
      if (headerHave === 0 && offset + 4 <= length) {
        const size = chunk.readUInt32LE(offset)
        if (offset + 4 + size <= length) {
          onFrame(chunk, offset + 4, offset + 4 + size)
          offset += 4 + size
          continue
        }
        offset += 4
        current = Buffer.allocUnsafe(size)
        have = 0
        continue
      }
      // A header split across chunks.
      while (headerHave < 4 && offset < length) header[headerHave++] = chunk[offset++]
      if (headerHave === 4) {
        headerHave = 0
        current = Buffer.allocUnsafe(header.readUInt32LE(0))
        have = 0
        if (current.length === 0) {
          current = null
          onFrame(header, 0, 0)
        }
      }
    }
  }
}

function decoder(kind) {
  switch (kind) {
    case 'string':
      return (bytes, start, end) => bytes.toString('utf8', start, end)
    case 'object':
      return (bytes, start, end) => JSON.parse(bytes.toString('utf8', start, end))
    case 'buffer64k':
      return (bytes, start, end) => bytes.subarray(start, end)
    default:
      throw new Error(`Unknown payload kind ${kind}`)
  }
}

/** Writes frames in 64 KiB batches; `write(item)` may return a promise (backpressure). */
function frameWriter(socket, kind) {
  let batch = Buffer.allocUnsafe(BATCH)
  let used = 0
  const flush = () => {
    if (used === 0) return true
    const fits = socket.write(batch.subarray(0, used))
    batch = Buffer.allocUnsafe(BATCH)
    used = 0
    return fits
  }
  const drain = () => once(socket, 'drain')
  const writeBytes = (bytes) => {
    if (used + 4 + bytes.length > BATCH) {
      if (!flush()) return drain().then(() => writeBytes(bytes))
      if (4 + bytes.length > BATCH) {
        const header = Buffer.allocUnsafe(4)
        header.writeUInt32LE(bytes.length, 0)
        socket.cork()
        socket.write(header)
        const fits = socket.write(bytes)
        socket.uncork()
        return fits ? undefined : drain()
      }
    }
    batch.writeUInt32LE(bytes.length, used)
    bytes.copy(batch, used + 4)
    used += 4 + bytes.length
    return undefined
  }
  const writeString = (text) => {
    // Worst case 3 bytes per UTF-16 unit; flush first if it might not fit.
    if (used + 4 + text.length * 3 > BATCH && !flush()) return drain().then(() => writeString(text))
    const written = batch.write(text, used + 4)
    batch.writeUInt32LE(written, used)
    used += 4 + written
    return undefined
  }
  const write =
    kind === 'string'
      ? writeString
      : kind === 'object'
        ? (item) => writeString(JSON.stringify(item))
        : (item) => writeBytes(item)
  return { write, flush: () => (flush() ? undefined : drain()) }
}

const role = process.argv[2]

if (role === 'sink' || role === 'echo') {
  let server
  const sockets = []
  let expected = 0
  let count = 0
  let last
  let finished
  let onConnection
  let done
  serve({
    async setup({ path, payload }) {
      const decode = decoder(payload ?? 'string')
      server = createServer((s) => {
        sockets.push(s)
        if (role === 'echo') {
          // Echo each frame back as it was framed.
          const read = frameReader((bytes, start, end) => {
            const header = Buffer.allocUnsafe(4)
            header.writeUInt32LE(end - start, 0)
            s.cork()
            s.write(header)
            s.write(bytes.subarray(start, end))
            s.uncork()
          })
          s.on('data', read)
        } else {
          const read = frameReader((bytes, start, end) => {
            last = decode(bytes, start, end)
            count++
            if (count === expected) finished?.({ tEnd: now(), count, ok: isPayload(payload, last) })
          })
          s.on('data', read)
        }
        onConnection?.()
      })
      server.listen(path)
      await once(server, 'listening')
      return {}
    },
    /** Resolves once `connections` clients (default 1) have connected. */
    async accepted({ connections = 1 }) {
      while (sockets.length < connections) await new Promise((resolve) => (onConnection = resolve))
      return {}
    },
    arm({ n }) {
      count = 0
      expected = n
      done = new Promise((resolve) => {
        finished = resolve
      })
      return {}
    },
    async wait() {
      return await done
    },
    close() {
      for (const s of sockets) s.destroy()
      server?.close()
    },
  })
} else if (role === 'source' || role === 'pinger') {
  let socket
  let sockets = []
  let kind
  serve({
    /** Connects to `path`, or to each of `paths` (fan-out: items go round-robin). */
    async setup({ path, paths = [path], payload }) {
      kind = payload ?? 'string'
      sockets = paths.map((p) => createConnection(p))
      await Promise.all(sockets.map((s) => once(s, 'connect')))
      socket = sockets[0]
      return {}
    },
    async run({ n }) {
      if (role === 'pinger') {
        const frame = Buffer.allocUnsafe(4 + 9)
        frame.writeUInt32LE(9, 0)
        let resolve
        const read = frameReader((bytes, start, end) => resolve(bytes.toString('utf8', start, end)))
        socket.on('data', read)
        const latencies = new Float64Array(n)
        const t0 = now()
        for (let i = 0; i < n; i++) {
          const start = now()
          await new Promise((r) => {
            resolve = r
            frame.write(makePayload('string'), 4)
            socket.write(frame)
          })
          latencies[i] = now() - start
        }
        const elapsedNs = now() - t0
        socket.off('data', read)
        return { elapsedNs, ...latencySummary(latencies) }
      }
      const item = makePayload(kind)
      if (sockets.length > 1) {
        // Fan-out: item i goes to connection i mod k, each with its own batch.
        const writers = sockets.map((s) => frameWriter(s, kind))
        const k = writers.length
        const tStart = now()
        for (let i = 0; i < n; i++) {
          const pending = writers[i % k].write(item)
          if (pending) await pending
        }
        for (const writer of writers) {
          const pending = writer.flush()
          if (pending) await pending
        }
        return { tStart }
      }
      const writer = frameWriter(socket, kind)
      const tStart = now()
      for (let i = 0; i < n; i++) {
        const pending = writer.write(item)
        if (pending) await pending
      }
      const pending = writer.flush()
      if (pending) await pending
      return { tStart }
    },
    close() {
      for (const s of sockets) s.destroy()
    },
  })
} else if (role === 'idle') {
  // Idle cost: one pending read on each of `count` connections to the idle-waker.
  let sockets = []
  let pending = []
  serve({
    async setup({ path, count }) {
      sockets = Array.from({ length: count }, () => createConnection(path))
      await Promise.all(sockets.map((s) => once(s, 'connect')))
      return {}
    },
    async idle({ ms }) {
      // Each read resolves with the first frame that arrives on its connection.
      pending = sockets.map(
        (s) =>
          new Promise((resolve) => {
            const read = frameReader((bytes, start, end) => {
              s.off('data', read)
              resolve(bytes.toString('utf8', start, end))
            })
            s.on('data', read)
          }),
      )
      return await idleWindow(ms)
    },
    async collect() {
      const items = await Promise.all(pending)
      pending = []
      return { count: items.length, ok: items.every((item) => isPayload('string', item)) }
    },
    close() {
      for (const s of sockets) s.destroy()
    },
  })
} else if (role === 'idle-waker') {
  let server
  const sockets = []
  let onConnection
  serve({
    async setup({ path }) {
      server = createServer((s) => {
        sockets.push(s)
        onConnection?.()
      })
      server.listen(path)
      await once(server, 'listening')
      return {}
    },
    async accepted({ connections }) {
      while (sockets.length < connections) await new Promise((resolve) => (onConnection = resolve))
      return {}
    },
    /** Writes one framed string payload to every connection. */
    wake() {
      const text = makePayload('string')
      const frame = Buffer.allocUnsafe(4 + Buffer.byteLength(text))
      frame.writeUInt32LE(frame.length - 4, 0)
      frame.write(text, 4)
      for (const s of sockets) s.write(frame)
      return {}
    },
    close() {
      for (const s of sockets) s.destroy()
      server?.close()
    },
  })
} else {
  throw new Error(`Unknown role ${role}`)
}
