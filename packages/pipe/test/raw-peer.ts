// A raw TCP peer for the security tests: a node:net socket to a Listener on loopback, speaking
// whatever bytes a test writes.
import { connect, type Socket } from 'node:net'
import { onTestFinished } from 'vitest'
import type { Listener } from '../src/listener.js'

/** The port of a `tcp://127.0.0.1:<port>` listener. */
export function portOf(listener: Listener): number {
  return Number(listener.address.split(':').at(-1))
}

/**
 * A raw TCP socket to the listener, destroyed when the test finishes. It
 * reads and discards what the listener says, so a close by the listener
 * reaches 'close'. `localAddress` (another loopback address, 127.0.0.2)
 * makes it come from elsewhere.
 */
export async function rawSocket(listener: Listener, localAddress?: string): Promise<Socket> {
  const socket = connect({
    host: '127.0.0.1',
    port: portOf(listener),
    ...(localAddress === undefined ? {} : { localAddress }),
  })
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
