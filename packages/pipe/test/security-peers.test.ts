// Peers past the handshake (or a keyless loopback listener's): what their bytes can make a
// Listener hold or spend. Real sockets on 127.0.0.1; each peer is a raw node:net socket.
import { connect, type Socket } from 'node:net'
import { sleep } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Listener } from '../src/listener.js'

function portOf(listener: Listener): number {
  return Number(listener.address.split(':').at(-1))
}

/** A raw TCP socket to the listener, destroyed when the test finishes. */
async function rawSocket(listener: Listener): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port: portOf(listener) })
  socket.on('error', () => {})
  socket.resume()
  onTestFinished(() => {
    socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return socket
}

/** A keyless listener of CPython's wire on loopback: no handshake, a raw socket is a client at once. */
function pickleListener(): Listener {
  const listener = new Listener('tcp://127.0.0.1:0', { codec: 'pickle' })
  onTestFinished(() => listener.close())
  return listener
}

/** Writes `frame` `count` times as fast as the socket takes it, in the background. */
function writeRepeatedly(socket: Socket, frame: Buffer, count: number): void {
  let sent = 0
  const pump = () => {
    while (sent < count && !socket.destroyed) {
      sent++
      if (!socket.write(frame)) return
    }
  }
  socket.on('drain', pump)
  pump()
}

describe('clients waiting for accept()', () => {
  it('read no message before accept(): 4 queued clients sending 20 MiB each cost the listener almost nothing', async () => {
    const listener = pickleListener()
    const mib = Buffer.alloc(4 + 2 ** 20, 7)
    mib.writeInt32BE(2 ** 20, 0)
    const before = process.memoryUsage().arrayBuffers
    const peers = await Promise.all([0, 1, 2, 3].map(() => rawSocket(listener)))
    for (const peer of peers) writeRepeatedly(peer, mib, 20)
    await sleep(1500)
    const grown = (process.memoryUsage().arrayBuffers - before) / 2 ** 20
    // Reading ahead, each would hold 16 MiB of frames (HIGH_WATER) plus the one being filled.
    expect(grown).toBeLessThan(8)
    // Accepted, a client's messages all arrive, whole and in order.
    const conn = await listener.accept({ timeout: 1000 })
    onTestFinished(() => conn.close())
    for (let i = 0; i < 20; i++) {
      const got = await conn.recvBytes({ timeout: 5000 })
      expect(got.byteLength).toBe(2 ** 20)
      expect(got[0]).toBe(7)
    }
  })
})
