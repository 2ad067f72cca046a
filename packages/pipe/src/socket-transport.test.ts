import { connect, createServer, type Socket } from 'node:net'
import { type Encoded, TAG_BYTES } from '@ipc/core/internal'
import { sleep } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TimeoutError } from './errors.js'
import { FRAME_COST } from './framing.js'
import { HIGH_WATER, SocketTransport } from './socket-transport.js'

/** A socket pair on 127.0.0.1: the server side wrapped in a SocketTransport past its handshake, and the raw peer. */
async function transportAndPeer(): Promise<{ transport: SocketTransport; peer: Socket }> {
  const server = createServer()
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const peer = connect({ host: '127.0.0.1', port })
  peer.on('error', () => {})
  const socket = await accepted
  server.close()
  const transport = new SocketTransport(socket, 'peer', 1024, true)
  transport.beginMessages()
  onTestFinished(() => {
    transport.destroy()
    peer.destroy()
  })
  return { transport, peer }
}

/** Writes `total` bytes of `frames` (repeated) as fast as the socket takes them, in the background. */
function flood(peer: Socket, frames: Buffer, total: number): void {
  let sent = 0
  const pump = () => {
    while (sent < total && !peer.destroyed) {
      sent += frames.byteLength
      if (!peer.write(frames)) return
    }
  }
  peer.on('drain', pump)
  pump()
}

/** Resolves once the transport has read nothing more from its socket for `quietMs`. */
async function settled(transport: SocketTransport, quietMs = 300): Promise<void> {
  let last = -1
  while (transport.socket.bytesRead !== last) {
    last = transport.socket.bytesRead
    await sleep(quietMs)
  }
}

describe('SocketTransport read-ahead', () => {
  // 2 MiB of 4- and 5-byte frames: 524,288 empty or 419,430 one-byte frames. Queued
  // as they arrived, they would cost ~100 MB of heap; the bound is HIGH_WATER's worth.
  for (const size of [0, 1]) {
    it(`stops reading a flood of ${size}-byte frames that nobody receives, and resumes as they are taken`, async () => {
      const { transport, peer } = await transportAndPeer()
      const one = Buffer.alloc(4 + size)
      one.writeInt32BE(size, 0)
      const chunk = Buffer.concat(Array.from({ length: 65536 }, () => one))
      const total = 2 * 1024 * 1024
      const sentFrames = Math.ceil(total / chunk.byteLength) * 65536
      flood(peer, chunk, total)
      await settled(transport)
      // One socket chunk (at most 64 KiB) may be parsed past the mark.
      const slack = 64 * 1024
      expect(transport.reader.bufferedBytes).toBeLessThanOrEqual(HIGH_WATER + (slack / 4) * FRAME_COST)
      expect(transport.reader.length).toBeLessThanOrEqual(HIGH_WATER / FRAME_COST + slack / 4)
      expect(transport.socket.bytesRead).toBeLessThan(total / 2)
      // Taking frames reads on; every frame arrives.
      let taken = 0
      let wrong = 0
      const signal = new AbortController().signal
      while (taken < sentFrames) {
        expect(await transport.waitReadable(5000, signal)).toBe('ready')
        while (transport.nextLength() >= 0) {
          if (transport.reader.first()?.byteLength !== size) wrong++
          transport.drop()
          taken++
        }
      }
      expect(taken).toBe(sentFrames)
      expect(wrong).toBe(0)
    })
  }
})

describe('SocketTransport sendSync behind frames the stream holds', () => {
  it('queues while the stream is under its high-water mark, as send does; over it, throws TimeoutError at once and queues nothing', async () => {
    const { transport } = await transportAndPeer()
    const socket = transport.socket
    // Corked, the stream keeps what is written, as it keeps frames the kernel could not take yet.
    socket.cork()
    const message: Encoded = { tag: TAG_BYTES, size: 1000, bytes: new Uint8Array(1000), text: undefined }
    expect(transport.trySend(message)).toBe(true)
    let queued = 1
    while (!socket.writableNeedDrain) {
      transport.sendSync(message, performance.now() + 1000)
      queued++
    }
    // Each frame is 1,004 bytes: the last one queued took the stream to its mark.
    expect(queued).toBe(Math.ceil(socket.writableHighWaterMark / 1004))
    const before = socket.writableLength
    // That queue empties only while the event loop runs: a sync call cannot wait for it, even without a timeout.
    const start = performance.now()
    expect(() => transport.sendSync(message, Number.POSITIVE_INFINITY)).toThrow(TimeoutError)
    expect(performance.now() - start).toBeLessThan(1000)
    expect(socket.writableLength).toBe(before)
  })
})
