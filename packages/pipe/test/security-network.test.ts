// Strangers on the network: what they can make a Listener allocate, wait for, or end.
// Real sockets on 127.0.0.1 only; nothing is ever sent to a non-loopback address.
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { TAG_BYTES } from '@ipc/core/internal'
import { sleep, spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { answerChallenge } from '../src/auth.js'
import { Client } from '../src/client.js'
import { AuthenticationError, IpcError, MessageTooLongError, TimeoutError } from '../src/errors.js'
import { frame } from '../src/framing.js'
import { Listener } from '../src/listener.js'
import { SocketTransport } from '../src/socket-transport.js'
import { portOf, rawSocket } from './raw-peer.js'

const floodFixture = new URL('./fixtures/flood.mjs', import.meta.url)

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve()
    else socket.once('close', () => resolve())
  })
}

/** The hello frame of a client without an authkey (auth.ts). */
const KEYLESS_HELLO = frame(Buffer.from('#IPC-HELLO#{"v":1,"auth":false}'))

describe('frames announced before authentication', () => {
  it('refuses a 2 GiB frame at its header: the listener allocates nothing and closes the socket', {
    timeout: 60_000,
  }, async () => {
    const dropped: Error[] = []
    const listener = new Listener('tcp://127.0.0.1:0', { authkey: 'k', onHandshakeError: (e) => dropped.push(e) })
    onTestFinished(() => listener.close())
    const before = process.memoryUsage().rss
    // 6 strangers announce 2^31-1 bytes (int32 header) and 3 more 2^40 (the -1 + uint64 form), each
    // then pushing up to 32 MiB of body (more than the kernel's socket buffers hold): a reader
    // that allocated or buffered what was announced would grow by that much here.
    const int32 = spawnChild(floodFixture, [String(portOf(listener)), '6', '32', 'int32'])
    const uint64 = spawnChild(floodFixture, [String(portOf(listener)), '3', '32', 'uint64'])
    await int32.waitFor('done', 30_000)
    await uint64.waitFor('done', 30_000)
    const grown = (process.memoryUsage().rss - before) / 2 ** 20
    console.log(`RSS grew by ${grown.toFixed(1)} MiB while 9 strangers announced 2 GiB / 1 TiB frames`)
    expect(grown).toBeLessThan(8)
    // Every socket was closed by the listener; none could deliver its 32 MiB.
    const written = [...int32.stdout().matchAll(/closed \d+ (\d+)/g), ...uint64.stdout().matchAll(/closed \d+ (\d+)/g)]
    expect(written).toHaveLength(9)
    for (const m of written) expect(Number(m[1])).toBeLessThan(32 * 2 ** 20)
    await expect.poll(() => dropped.length).toBe(9)
    for (const e of dropped) {
      expect(e).toBeInstanceOf(MessageTooLongError)
      expect((e as MessageTooLongError).maxLength).toBe(256)
      expect((e as MessageTooLongError).length).toBeGreaterThanOrEqual(2 ** 31 - 1)
    }
    await expect(listener.accept({ timeout: 0 })).rejects.toThrow(TimeoutError)
  })

  it('refuses a handshake frame over 256 bytes even when the whole frame is sent', async () => {
    const dropped: Error[] = []
    const listener = new Listener('tcp://127.0.0.1:0', { onHandshakeError: (e) => dropped.push(e) })
    onTestFinished(() => listener.close())
    const socket = await rawSocket(listener)
    socket.write(frame(Buffer.alloc(257, 0x23)))
    await closed(socket)
    await expect.poll(() => dropped.length).toBe(1)
    expect(dropped[0]).toBeInstanceOf(MessageTooLongError)
    expect(dropped[0]).toMatchObject({ length: 257, maxLength: 256 })
  })
})

describe('maxMessageSize after authentication', () => {
  it('refuses a frame over maxMessageSize at its header: recv throws MessageTooLongError and the connection closes', async () => {
    const listener = new Listener('tcp://127.0.0.1:0', { maxMessageSize: 1024 })
    onTestFinished(() => listener.close())
    const socket = await rawSocket(listener)
    // A message right behind the hello is parsed with the message limit, not the handshake's.
    socket.write(
      Buffer.concat([
        KEYLESS_HELLO,
        frame(Buffer.from([TAG_BYTES, ...Buffer.from('fits')])),
        Buffer.from([0x7f, 0xff, 0xff, 0xff]),
      ]),
    )
    const conn = await listener.accept({ timeout: 10_000 })
    onTestFinished(() => conn.close())
    expect(await conn.recvBytes({ timeout: 10_000 })).toEqual(new Uint8Array(Buffer.from('fits')))
    const error = await conn.recv({ timeout: 10_000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MessageTooLongError)
    expect(error).toMatchObject({ length: 2 ** 31 - 2, maxLength: 1024 })
    expect((error as Error).message).toMatch(/more than maxMessageSize 1024; the connection was closed/)
    await closed(socket)
  })

  it('applies each side its own limit: a longer message is refused on receipt, and not sent at all by a sender with a lower limit', async () => {
    const listener = new Listener('tcp://127.0.0.1:0', { authkey: 'k', maxMessageSize: 1000 })
    onTestFinished(() => listener.close())
    const [server, client] = await Promise.all([
      listener.accept({ timeout: 10_000 }),
      Client(listener.address, { authkey: 'k', maxMessageSize: 100 }),
    ])
    onTestFinished(() => {
      server.close()
      client.close()
    })
    // The server's own limit: nothing sent.
    await expect(server.sendBytes(new Uint8Array(1001))).rejects.toThrow(
      /more than maxMessageSize 1000; nothing was sent/,
    )
    // Under the server's limit, over the client's: the client refuses it at the header.
    await server.sendBytes(new Uint8Array(500))
    await expect(client.recvBytes({ timeout: 10_000 })).rejects.toMatchObject({
      name: 'MessageTooLongError',
      length: 500,
      maxLength: 100,
    })
    expect(await server.recv({ timeout: 10_000 }).catch((e: unknown) => e)).toMatchObject({ name: 'EOFError' })
  })
})

describe('silent strangers', () => {
  for (const maxPendingHandshakes of [64, 1000]) {
    it(`200 silent sockets do not lock a real client out, and are dropped (maxPendingHandshakes ${maxPendingHandshakes})`, {
      timeout: 60_000,
    }, async () => {
      const handshakeTimeout = 1500
      const dropped: Error[] = []
      const listener = new Listener('tcp://127.0.0.1:0', {
        authkey: 'k',
        handshakeTimeout,
        maxPendingHandshakes,
        onHandshakeError: (e) => dropped.push(e),
      })
      onTestFinished(() => listener.close())
      const opened = performance.now()
      const silent = await Promise.all(Array.from({ length: 200 }, () => rawSocket(listener)))
      const silentClosed = silent.map((s) => closed(s).then(() => performance.now() - opened))
      // Let the listener see all of them before the real client comes.
      await sleep(50)

      const started = performance.now()
      const [server, client] = await Promise.all([
        listener.accept({ timeout: 10_000 }),
        Client(listener.address, { authkey: 'k', timeout: 10_000 }),
      ])
      onTestFinished(() => {
        server.close()
        client.close()
      })
      await client.send('through')
      expect(await server.recv({ timeout: 10_000 })).toBe('through')
      const took = performance.now() - started
      console.log(`real client served in ${took.toFixed(0)} ms behind 200 silent sockets`)
      expect(took).toBeLessThan(handshakeTimeout)

      const closedAfter = await Promise.all(silentClosed)
      expect(Math.max(...closedAfter)).toBeLessThan(handshakeTimeout + 5_000)
      await expect.poll(() => dropped.length).toBe(200)
      const timedOut = dropped.filter((e) => e instanceof TimeoutError)
      if (maxPendingHandshakes === 1000) {
        expect(timedOut).toHaveLength(200)
        // Dropped at the timeout, not before.
        expect(Math.min(...closedAfter)).toBeGreaterThan(handshakeTimeout - 200)
      } else {
        // The oldest were dropped to make room; the last 63 ran out of time.
        expect(timedOut.length).toBe(63)
        expect(dropped.filter((e) => !(e instanceof TimeoutError)).every((e) => e instanceof IpcError)).toBe(true)
        expect(dropped[0]?.message).toMatch(/maxPendingHandshakes/)
      }
    })
  }

  it('a flood from one address drops its own pending handshakes, not the one of another address', async () => {
    const dropped: Error[] = []
    const listener = new Listener('tcp://127.0.0.1:0', {
      authkey: 'k',
      maxPendingHandshakes: 4,
      onHandshakeError: (e) => dropped.push(e),
    })
    onTestFinished(() => listener.close())
    // A client from 127.0.0.1 still in its handshake (slow, or far away), then 40 silent sockets
    // from 127.0.0.2 (all of loopback is local). Before, each newcomer dropped the oldest: the
    // client first.
    const slow = await rawSocket(listener)
    let slowClosed = false
    slow.once('close', () => {
      slowClosed = true
    })
    await sleep(20)
    for (let i = 0; i < 40; i++) await rawSocket(listener, '127.0.0.2')
    await expect.poll(() => dropped.length).toBe(37)
    await sleep(50)
    expect(slowClosed).toBe(false)
    for (const e of dropped) expect(e.message).toMatch(/from tcp:\/\/127\.0\.0\.2:\d+: dropped unauthenticated/)
  })

  it('a client that proved its authkey is never dropped for a newcomer; when all pending did, the newcomer is', async () => {
    const dropped: Error[] = []
    const key = Buffer.from('k')
    const listener = new Listener('tcp://127.0.0.1:0', {
      authkey: key,
      maxPendingHandshakes: 2,
      onHandshakeError: (e) => dropped.push(e),
    })
    onTestFinished(() => listener.close())
    // Two clients answer the listener's challenge (proving the key), then stall before their own.
    const proven: SocketTransport[] = []
    for (let i = 0; i < 2; i++) {
      // Not rawSocket: that one reads and discards what the listener says.
      const socket = connect({ host: '127.0.0.1', port: portOf(listener) })
      const ch = new SocketTransport(socket, 'test', 1024, false)
      onTestFinished(() => ch.destroy())
      await once(socket, 'connect')
      ch.writeFrame(Buffer.from('#IPC-HELLO#{"v":1,"auth":true}'))
      await ch.readFrame(256, 5_000, undefined, 'hello')
      await answerChallenge(ch, key, 'test', new AbortController().signal)
      proven.push(ch)
    }
    // Newcomers from the same address find no stranger to drop: they are refused, the two stay.
    const late = await Promise.all([rawSocket(listener), rawSocket(listener)])
    await Promise.all(late.map(closed))
    await expect.poll(() => dropped.length).toBe(2)
    for (const e of dropped) expect(e.message).toMatch(/each client proved its authkey already/)
    // The first proven client finishes (the listener answers its challenge) and is accepted.
    const [server] = await Promise.all([
      listener.accept({ timeout: 5_000 }),
      (async () => {
        const ch = proven[0] as SocketTransport
        const challenge = Buffer.concat([Buffer.from('#CHALLENGE#{sha256}'), Buffer.alloc(40, 7)])
        ch.writeFrame(challenge)
        const answer = await ch.readFrame(256, 5_000, undefined, 'answer')
        expect(answer.subarray(0, 8).toString()).toBe('{sha256}')
        ch.writeFrame(Buffer.from('#WELCOME#'))
      })(),
    ])
    server.close()
  })

  it('a Client gives up on a listener that never completes the handshake after handshakeTimeout', async () => {
    const { createServer } = await import('node:net')
    const mute = createServer(() => {})
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r))
    onTestFinished(() => {
      mute.close()
    })
    const port = (mute.address() as { port: number }).port
    const started = performance.now()
    await expect(Client(`tcp://127.0.0.1:${port}`, { handshakeTimeout: 200 })).rejects.toThrow(
      /did not complete the handshake within 200 ms/,
    )
    expect(performance.now() - started).toBeLessThan(5_000)
  })
})

describe('failed handshakes inside for await', () => {
  it('garbage, a wrong key and a good client: the stranger is dropped, the good client served, the loop goes on', {
    timeout: 30_000,
  }, async () => {
    const dropped: Error[] = []
    const listener = new Listener('tcp://127.0.0.1:0', { authkey: 'right', onHandshakeError: (e) => dropped.push(e) })
    onTestFinished(() => listener.close())
    let loopEnded = false
    let loopError: unknown
    const served: string[] = []
    const loop = (async () => {
      try {
        for await (const conn of listener) {
          const message = await conn.recv({ timeout: 10_000 })
          served.push(String(message))
          await conn.send(`echo ${message}`)
          await conn.recv().catch(() => {})
          conn.close()
        }
      } catch (error) {
        loopError = error
      } finally {
        loopEnded = true
      }
    })()

    // Garbage: an HTTP request (its first 4 bytes read as a 1.2 GB length), then a small frame that is no hello.
    const http = await rawSocket(listener)
    http.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await closed(http)
    const junk = await rawSocket(listener)
    junk.write(frame(Buffer.from('hello?')))
    await closed(junk)
    // A client with the wrong key is refused, on its side too.
    await expect(Client(listener.address, { authkey: 'wrong', timeout: 10_000 })).rejects.toThrow(AuthenticationError)
    await expect.poll(() => dropped.length).toBe(3)
    expect(loopEnded).toBe(false)

    const good = await Client(listener.address, { authkey: 'right', timeout: 10_000 })
    await good.send('hi')
    expect(await good.recv({ timeout: 10_000 })).toBe('echo hi')
    good.close()
    expect(served).toEqual(['hi'])
    expect(loopEnded).toBe(false)
    expect(dropped.map((e) => e.name)).toEqual(['MessageTooLongError', 'AuthenticationError', 'AuthenticationError'])
    expect(dropped[1]?.message).toMatch(/does not speak the @ipc connection protocol/)
    expect(dropped[2]?.message).toMatch(/authkey is wrong/)

    listener.close()
    await loop
    expect(loopEnded).toBe(true)
    expect(loopError).toBeUndefined()
  })
})

describe('keys and addresses', () => {
  it('refuses a keyless listener on a non-loopback address unless insecure, and allows loopback', async () => {
    for (const address of ['tcp://0.0.0.0:0', 'tcp://[::]:0', 'tcp://example.org:0', 'tcp://10.1.2.3:0'])
      expect(() => new Listener(address), address).toThrow(/without an authkey: it is not a loopback address/)
    // Bound and closed at once: no traffic goes to a non-loopback address.
    const insecure = new Listener('tcp://0.0.0.0:0', { insecure: true })
    expect(insecure.address).toMatch(/^tcp:\/\/0\.0\.0\.0:[1-9]\d*$/)
    insecure.close()
    const keyed = new Listener('tcp://0.0.0.0:0', { authkey: 'k' })
    keyed.close()
    for (const address of ['tcp://127.0.0.1:0', 'tcp://127.8.9.10:0', 'tcp://localhost:0'])
      new Listener(address).close()
  })

  it('refuses an empty authkey on both sides, before connecting', async () => {
    expect(() => new Listener('tcp://127.0.0.1:0', { authkey: '' })).toThrow(TypeError)
    expect(() => new Listener(uniqueName('l'), { authkey: new Uint8Array(0) })).toThrow(/must not be empty/)
    const dropped: Error[] = []
    const listener = new Listener('tcp://127.0.0.1:0', { authkey: 'k', onHandshakeError: (e) => dropped.push(e) })
    onTestFinished(() => listener.close())
    await expect(Client(listener.address, { authkey: '' })).rejects.toThrow(TypeError)
    await expect(Client(listener.address, { authkey: new Uint8Array(0) })).rejects.toThrow(/must not be empty/)
    await sleep(50)
    expect(dropped).toEqual([])
    await expect(listener.accept({ timeout: 0 })).rejects.toThrow(TimeoutError)
  })
})
