// Sync sends over TCP to a peer that stops reading: they end within their timeout, and the
// socket's queue stays bounded. The sender is a child process (its thread blocks in the call);
// this test is its watchdog. Real sockets on 127.0.0.1.
import { createServer, type Socket } from 'node:net'
import { type SpawnedChild, sleep, spawnChild } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { frame } from '../src/framing.js'

const senderFixture = new URL('./fixtures/sync-sender.mjs', import.meta.url)

/** The hello frame of a peer without an authkey (auth.ts). */
const KEYLESS_HELLO = frame(Buffer.from('#IPC-HELLO#{"v":1,"auth":false}'))

type Protocol = 'python' | 'ipc'

/**
 * A TCP server whose one connection reads nothing (until `resume()`): the
 * kernel's buffers fill, then the sender's writes wait. For `ipc` it sends
 * its hello, so the client's handshake completes.
 */
async function silentPeer(protocol: Protocol): Promise<{ port: number; accepted: Promise<Socket> }> {
  const sockets = new Set<Socket>()
  const server = createServer({ pauseOnConnect: true })
  const accepted = new Promise<Socket>((resolve) =>
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.on('error', () => {})
      if (protocol === 'ipc') socket.write(KEYLESS_HELLO)
      resolve(socket)
    }),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return { port: (server.address() as { port: number }).port, accepted }
}

/** Splits what a socket receives into frames (4-byte headers: every frame here is under 2 GiB). */
class Frames {
  /** Payload length of each whole frame. */
  readonly lengths: number[] = []
  /** The payload of each whole frame of at most 16 bytes, by index. */
  readonly small = new Map<number, Buffer>()
  #header = Buffer.alloc(0)
  /** Payload bytes the current frame still needs; -1 while its header is incomplete. */
  #left = -1
  #length = 0
  #body: Buffer[] = []

  constructor(socket: Socket) {
    socket.on('data', (data: Buffer) => this.#push(data))
  }

  /** Bytes of a frame begun and not finished (header included). */
  get partial(): number {
    return this.#left < 0 ? this.#header.byteLength : 4 + this.#length - this.#left
  }

  #push(data: Buffer): void {
    let at = 0
    while (at < data.byteLength) {
      if (this.#left < 0) {
        const n = Math.min(4 - this.#header.byteLength, data.byteLength - at)
        this.#header = Buffer.concat([this.#header, data.subarray(at, at + n)])
        at += n
        if (this.#header.byteLength < 4) continue
        this.#length = this.#header.readInt32BE(0)
        this.#left = this.#length
        this.#header = Buffer.alloc(0)
      } else {
        const n = Math.min(this.#left, data.byteLength - at)
        if (this.#length <= 16) this.#body.push(data.subarray(at, at + n))
        this.#left -= n
        at += n
      }
      if (this.#left === 0) {
        if (this.#length <= 16) this.small.set(this.lengths.length, Buffer.concat(this.#body))
        this.lengths.push(this.#length)
        this.#body = []
        this.#left = -1
      }
    }
  }
}

/** What the fixture reports of one call: `{ ok: true }`, or what it threw. */
interface Outcome {
  ok?: boolean
  name?: string
  code?: string
  message?: string
}

/** The JSON after `word ` on a whole line of the child's stdout; fails after `timeoutMs` (the watchdog). */
async function line<T>(child: SpawnedChild, word: string, timeoutMs: number): Promise<T> {
  const pattern = new RegExp(`^${word} (.*)\\n`, 'm')
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const m = pattern.exec(child.stdout())
    if (m !== null) return JSON.parse(m[1] as string)
    if (performance.now() > deadline)
      throw new Error(`no "${word}" within ${timeoutMs} ms; stdout: ${child.stdout()}; stderr: ${child.stderr()}`)
    await sleep(20)
  }
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve()
    else socket.once('close', () => resolve())
  })
}

describe('sendSync over TCP to a peer that does not read', () => {
  for (const protocol of ['python', 'ipc'] as const) {
    it(`${protocol}: a timeout that passes part-way through a message throws TimeoutError by then, and closes the connection`, {
      timeout: 60_000,
    }, async () => {
      const peer = await silentPeer(protocol)
      const child = spawnChild(senderFixture, [String(peer.port), protocol, 'cut'])
      const socket = await peer.accepted
      const r = await line<{ send: Outcome; ms: number; sendSync: Outcome; sendAsync: Outcome; recv: Outcome }>(
        child,
        'result',
        15_000,
      )
      expect(r.send).toMatchObject({ name: 'TimeoutError', code: 'IPC_TIMEOUT' })
      expect(r.send.message).toMatch(/part-way through the message/)
      expect(r.send.message).toMatch(/the connection .* was closed/)
      // The thread was blocked for the timeout, not longer (slack for a loaded machine).
      expect(r.ms).toBeGreaterThanOrEqual(490)
      expect(r.ms).toBeLessThan(1500)
      // Later calls: the connection is broken, as when the peer closes it.
      expect(r.sendSync).toMatchObject({ name: 'BrokenPipeError', code: 'IPC_BROKEN_PIPE' })
      expect(r.sendAsync).toMatchObject({ name: 'BrokenPipeError', code: 'IPC_BROKEN_PIPE' })
      expect(r.recv).toMatchObject({ name: 'EOFError', code: 'IPC_EOF' })
      // The peer gets the frames before, part of the cut one, then the end: never a whole wrong message.
      const frames = new Frames(socket)
      socket.resume()
      await closed(socket)
      expect(frames.lengths).toEqual(protocol === 'ipc' ? [KEYLESS_HELLO.byteLength - 4] : [])
      expect(frames.partial).toBeGreaterThan(0)
      expect(frames.partial).toBeLessThan(4 + (24 << 20))
    })

    it(`${protocol}: behind a queue the socket has not sent, throws TimeoutError and queues nothing; the connection goes on`, {
      timeout: 60_000,
    }, async () => {
      const peer = await silentPeer(protocol)
      const child = spawnChild(senderFixture, [String(peer.port), protocol, 'queued'])
      const socket = await peer.accepted
      const r = await line<{
        sent: number
        errors: Record<string, number>
        first: Outcome
        ms: number
        grownMiB: number
      }>(child, 'result', 15_000)
      expect(r.sent).toBe(0)
      expect(r.errors).toEqual({ TimeoutError: 100 })
      expect(r.first.message).toMatch(/nothing was sent/)
      // 100 MiB would have been queued; each call ends within its 100 ms timeout. A refused
      // message is not even copied: framing each one first grew RSS by 30 to 34 MiB; now about 0.
      expect(r.grownMiB).toBeLessThan(8)
      expect(r.ms).toBeLessThan(100 * 100)
      // Once the peer reads, the async 8 MiB message arrives, then the later ones, in order.
      const frames = new Frames(socket)
      socket.resume()
      child.child.send('go')
      expect(await line(child, 'after', 15_000)).toEqual({ asyncSend: { ok: true }, syncSend: { ok: true } })
      await closed(socket)
      const tag = protocol === 'ipc' ? 1 : 0
      const hello = protocol === 'ipc' ? [KEYLESS_HELLO.byteLength - 4] : []
      expect(frames.lengths).toEqual([...hello, (8 << 20) + tag, 1 + tag, 1 + tag])
      expect(frames.small.get(hello.length + 1)?.at(-1)).toBe(7)
      expect(frames.small.get(hello.length + 2)?.at(-1)).toBe(8)
      expect(frames.partial).toBe(0)
    })
    it(`${protocol}: to a peer that reads, sends bytes without copying them into a frame`, {
      timeout: 60_000,
    }, async () => {
      const peer = await silentPeer(protocol)
      const child = spawnChild(senderFixture, [String(peer.port), protocol, 'reading'])
      const socket = await peer.accepted
      const frames = new Frames(socket)
      socket.resume()
      const r = await line<{ sent: number; first?: Outcome; grownMiB: number }>(child, 'result', 30_000)
      expect(r.first).toBeUndefined()
      expect(r.sent).toBe(100)
      // The header and tag go in a buffer of their own, the payload straight from the caller's
      // array (writev). Framing each 1 MiB message into a new buffer grew RSS by 30 MiB or more.
      expect(r.grownMiB).toBeLessThan(8)
      await closed(socket)
      const tag = protocol === 'ipc' ? 1 : 0
      const hello = protocol === 'ipc' ? [KEYLESS_HELLO.byteLength - 4] : []
      expect(frames.lengths).toEqual([...hello, ...Array.from({ length: 100 }, () => (1 << 20) + tag)])
      expect(frames.partial).toBe(0)
    })
  }

  it('without a timeout, waits while the peer is there, and throws BrokenPipeError when it goes', {
    timeout: 60_000,
  }, async () => {
    const peer = await silentPeer('python')
    const child = spawnChild(senderFixture, [String(peer.port), 'python', 'forever'])
    const socket = await peer.accepted
    await child.waitFor('sending', 15_000)
    await sleep(1000)
    expect(child.stdout()).not.toContain('result')
    // Unread bytes: the kernel answers the close with a reset.
    socket.destroy()
    const r = await line<{ send: Outcome }>(child, 'result', 15_000)
    expect(r.send).toMatchObject({ name: 'BrokenPipeError', code: 'IPC_BROKEN_PIPE' })
  })
})
