// Listener and Client with { codec: 'pickle' } against real python3 peers on 127.0.0.1:
// CPython's own multiprocessing.connection (3.11: HMAC-MD5) and, for 3.12+'s negotiated
// digests, the handshake written out in fixtures/python_peer.py.
import { connect, type Socket } from 'node:net'
import { hasPython, type SpawnedChild, spawnPython } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Client } from '../src/client.js'
import type { Connection } from '../src/connection.js'
import { AuthenticationError, DataCloneError, MessageTooLongError, TimeoutError } from '../src/errors.js'
import { frame } from '../src/framing.js'
import { Listener } from '../src/listener.js'
import { pickle } from '../src/pickle-writer.js'

const peer = new URL('./fixtures/python_peer.py', import.meta.url)

function portOf(listener: Listener): string {
  return listener.address.split(':').at(-1) as string
}

/** Our half of python_peer.py's talk(). */
/** A Python-wire listener and a raw socket to it (a peer that writes frames by hand), all closed after the test. */
async function rawPythonPeer(): Promise<{ socket: Socket; server: Connection }> {
  const listener = new Listener('tcp://127.0.0.1:0', { protocol: 'python' })
  onTestFinished(() => listener.close())
  const socket = connect({ host: '127.0.0.1', port: Number(portOf(listener)) })
  onTestFinished(() => {
    socket.destroy()
  })
  socket.on('error', () => {})
  const server = await listener.accept({ timeout: 5000 })
  onTestFinished(() => server.close())
  return { socket, server }
}

async function talk(conn: Connection, python: SpawnedChild): Promise<void> {
  await conn.send(await conn.recv())
  await python.waitFor('echo ok')
  await conn.sendBytes(await conn.recvBytes())
  await python.waitFor('bytes ok')
  // A pickled class instance is refused, and the next message still arrives.
  await expect(conn.recv()).rejects.toThrow(DataCloneError)
  expect(await conn.recv()).toBe('after the instance')
  await conn.send({
    from: 'node',
    big: 2n ** 64n,
    tags: new Set(['a']),
    pairs: new Map([[[1, 2], 'x']]),
    raw: new Uint8Array([1]),
  })
  await python.waitFor('node value ok')
  await conn.sendBytes(Buffer.from('cafe', 'hex'))
  await python.waitFor('node bytes cafe')
  conn.close()
  expect(await python.exited).toBe(0)
}

async function pythonListener(key: string, scheme: 'stdlib' | 'modern', digest?: string) {
  const python = spawnPython(peer, ['listener', key, scheme, ...(digest === undefined ? [] : [digest])])
  await python.waitFor('port ')
  const port = /port (\d+)/.exec(python.stdout())?.[1]
  return { python, address: `tcp://127.0.0.1:${port}` }
}

describe.skipIf(!hasPython())("CPython's multiprocessing.connection on tcp://", () => {
  it('a Python Client with the right key talks to our Listener (send/recv, send_bytes/recv_bytes)', async () => {
    const listener = new Listener('tcp://127.0.0.1:0', { codec: 'pickle', authkey: 'secret' })
    onTestFinished(() => listener.close())
    const python = spawnPython(peer, ['client', portOf(listener), 'secret', 'stdlib'])
    const conn = await listener.accept({ timeout: 10_000 })
    await python.waitFor('authenticated')
    await talk(conn, python)
  })

  it('our Client with the right key talks to a Python Listener', async () => {
    const { python, address } = await pythonListener('secret', 'stdlib')
    const conn = await Client(address, { codec: 'pickle', authkey: 'secret' })
    await python.waitFor('authenticated')
    await talk(conn, python)
  })

  it('without keys on either side, nothing is exchanged before the first message', async () => {
    const listener = new Listener('tcp://127.0.0.1:0', { protocol: 'python' })
    onTestFinished(() => listener.close())
    const python = spawnPython(peer, ['client', portOf(listener), '-', 'stdlib'])
    const conn = await listener.accept({ timeout: 10_000 })
    await talk(conn, python)
  })

  it('a Python Client with a wrong key is dropped: AuthenticationError on both sides, nothing accepted', async () => {
    const dropped: Error[] = []
    const listener = new Listener('tcp://127.0.0.1:0', {
      codec: 'pickle',
      authkey: 'secret',
      onHandshakeError: (error) => dropped.push(error),
    })
    onTestFinished(() => listener.close())
    const python = spawnPython(peer, ['client', portOf(listener), 'wrong', 'stdlib'])
    await python.waitFor('auth failed AuthenticationError')
    expect(python.stdout()).not.toContain('authenticated')
    await expect(listener.accept({ timeout: 300 })).rejects.toThrow(TimeoutError)
    expect(dropped.length).toBe(1)
    expect(dropped[0]).toBeInstanceOf(AuthenticationError)
  })

  it('our Client with a wrong key gets AuthenticationError from a Python Listener, which accepts nothing', async () => {
    const { python } = await pythonListener('secret', 'stdlib').then(async (p) => {
      await expect(Client(p.address, { codec: 'pickle', authkey: 'wrong' })).rejects.toThrow(AuthenticationError)
      return p
    })
    await python.waitFor('auth failed AuthenticationError')
    expect(python.stdout()).not.toContain('authenticated')
  })

  it("speaks 3.12+'s negotiated digests: {sha256} and {sha3_384} challenges, both directions", async () => {
    for (const digest of ['sha256', 'sha3_384']) {
      const { python, address } = await pythonListener('secret', 'modern', digest)
      const conn = await Client(address, { codec: 'pickle', authkey: 'secret' })
      await python.waitFor('authenticated')
      await talk(conn, python)
    }
    const listener = new Listener('tcp://127.0.0.1:0', { codec: 'pickle', authkey: 'secret' })
    onTestFinished(() => listener.close())
    const python = spawnPython(peer, ['client', portOf(listener), 'secret', 'modern'])
    const conn = await listener.accept({ timeout: 10_000 })
    await python.waitFor('authenticated')
    await talk(conn, python)
  })

  it('refuses a wrong key in the 3.12+ scheme too, both directions', async () => {
    const { python, address } = await pythonListener('secret', 'modern')
    await expect(Client(address, { codec: 'pickle', authkey: 'wrong' })).rejects.toThrow(AuthenticationError)
    await python.waitFor('auth failed AuthenticationError')
    const dropped: Error[] = []
    const listener = new Listener('tcp://127.0.0.1:0', {
      codec: 'pickle',
      authkey: 'secret',
      onHandshakeError: (error) => dropped.push(error),
    })
    onTestFinished(() => listener.close())
    const client = spawnPython(peer, ['client', portOf(listener), 'wrong', 'modern'])
    await client.waitFor('auth failed AuthenticationError')
    expect(dropped[0]).toBeInstanceOf(AuthenticationError)
  })
})

describe("limits on CPython's wire", () => {
  it('refuses a message over maxMessageSize at its header, with no tag byte counted', async () => {
    const listener = new Listener('tcp://127.0.0.1:0', { protocol: 'python', maxMessageSize: 16 })
    onTestFinished(() => listener.close())
    const conn = await Client(listener.address, { protocol: 'python', maxMessageSize: 16 })
    const server = await listener.accept({ timeout: 5000 })
    onTestFinished(() => {
      conn.close()
      server.close()
    })
    await conn.sendBytes(new Uint8Array(16))
    expect((await server.recvBytes()).byteLength).toBe(16)
    await expect(conn.sendBytes(new Uint8Array(17))).rejects.toThrow(MessageTooLongError)
    // A raw frame of 17 bytes from a peer that ignores the limit.
    const socket = connect({ host: '127.0.0.1', port: Number(portOf(listener)) })
    onTestFinished(() => {
      socket.destroy()
    })
    socket.on('error', () => {})
    const raw = await listener.accept({ timeout: 5000 })
    socket.write(frame(new Uint8Array(17)))
    await expect(raw.recvBytes()).rejects.toThrow(MessageTooLongError)
  })

  it('drops a stranger sending a large frame during the handshake; the accept loop goes on', async () => {
    const dropped: Error[] = []
    const listener = new Listener('tcp://127.0.0.1:0', {
      codec: 'pickle',
      authkey: 'secret',
      handshakeTimeout: 2000,
      onHandshakeError: (error) => dropped.push(error),
    })
    onTestFinished(() => listener.close())
    const socket = connect({ host: '127.0.0.1', port: Number(portOf(listener)) })
    onTestFinished(() => {
      socket.destroy()
    })
    socket.on('error', () => {})
    socket.resume()
    socket.write(frame(new Uint8Array(100_000)))
    const silent = connect({ host: '127.0.0.1', port: Number(portOf(listener)) })
    onTestFinished(() => {
      silent.destroy()
    })
    silent.on('error', () => {})
    silent.resume()
    const conn = await Client(listener.address, { codec: 'pickle', authkey: 'secret' })
    const accepted = await listener.accept({ timeout: 5000 })
    await conn.send([1, 'two'])
    expect(await accepted.recv()).toEqual([1, 'two'])
    conn.close()
    accepted.close()
    await expect
      .poll(() => dropped.map((e) => e.name).sort(), { timeout: 5000 })
      .toEqual(['MessageTooLongError', 'TimeoutError'])
  })

  it.skipIf(!hasPython())('silent strangers cannot lock a Python client out (maxPendingHandshakes)', async () => {
    const dropped: Error[] = []
    const listener = new Listener('tcp://127.0.0.1:0', {
      codec: 'pickle',
      authkey: 'secret',
      maxPendingHandshakes: 2,
      onHandshakeError: (error) => dropped.push(error),
    })
    onTestFinished(() => listener.close())
    for (let i = 0; i < 3; i++) {
      const silent = connect({ host: '127.0.0.1', port: Number(portOf(listener)) })
      onTestFinished(() => {
        silent.destroy()
      })
      silent.on('error', () => {})
      silent.resume()
      await new Promise((resolve) => silent.once('connect', resolve))
    }
    const python = spawnPython(peer, ['client', portOf(listener), 'secret', 'stdlib'])
    const conn = await listener.accept({ timeout: 10_000 })
    await python.waitFor('authenticated')
    await talk(conn, python)
    expect(dropped.length).toBeGreaterThanOrEqual(2)
    expect(dropped.every((e) => /maxPendingHandshakes/.test(e.message))).toBe(true)
  })

  it('refuses pickles whose builtin calls copy a memoised value again and again; the next message arrives', async () => {
    const { socket, server } = await rawPythonPeer()
    const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]
    // builtins.bytearray as memo 0, 256 KiB of bytes as memo 1 (both popped), then 400 copies of
    // 6 bytes each (BINGET 0, BINGET 1, TUPLE1, REDUCE): 100 MiB unchecked, from a 265 KB message.
    const head = [0x80, 4, 0x8c, 8, ...Buffer.from('builtins'), 0x8c, 9, ...Buffer.from('bytearray'), 0x93, 0x94, 0x30]
    const bytes = Buffer.concat([
      Buffer.from([0x42, ...u32(256 * 1024)]),
      Buffer.alloc(256 * 1024),
      Buffer.from([0x94, 0x30]),
    ])
    const copies = Buffer.from(Array.from({ length: 400 }, () => [0x68, 0, 0x68, 1, 0x85, 0x52]).flat())
    // set(list) of a memoised 20,000-int list, 200 times: 4M Set entries unchecked, from 100 KB.
    const list = [0x28, ...Array.from({ length: 20_000 }, (_, i) => [0x4a, ...u32(i)]).flat(), 0x6c, 0x94, 0x30]
    const sets = Buffer.from(Array.from({ length: 200 }, () => [0x68, 0, 0x68, 1, 0x85, 0x52]).flat())
    const setHead = [0x80, 4, 0x8c, 8, ...Buffer.from('builtins'), 0x8c, 3, ...Buffer.from('set'), 0x93, 0x94, 0x30]
    const attacks = [
      Buffer.concat([Buffer.from(head), bytes, copies, Buffer.from([0x2e])]),
      Buffer.concat([Buffer.from(setHead), Buffer.from(list), sets, Buffer.from([0x2e])]),
    ]
    for (const attack of attacks) {
      socket.write(frame(attack))
      socket.write(frame(pickle('after the attack')))
      const before = process.memoryUsage()
      const started = performance.now()
      await expect(server.recv()).rejects.toThrow(DataCloneError)
      const after = process.memoryUsage()
      expect(performance.now() - started).toBeLessThan(2000)
      expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(16 * 1024 * 1024)
      expect(after.heapUsed - before.heapUsed).toBeLessThan(64 * 1024 * 1024)
      expect(await server.recv()).toBe('after the attack')
    }
  })

  it('refuses a pickle of millions of empty sets, dicts or lists within its bounded heap; the next message arrives', async () => {
    const { socket, server } = await rawPythonPeer()
    // PROTO 4, MARK, 2,000,000 × EMPTY_SET (or EMPTY_DICT, EMPTY_LIST), LIST, STOP: 2 MB that
    // would take 190 MB of heap (96 bytes per byte; 45 MB of them exhaust a 4 GB heap).
    for (const op of [0x8f, 0x7d, 0x5d]) {
      const bomb = Buffer.alloc(2_000_005, op)
      bomb.set([0x80, 4, 0x28], 0)
      bomb.set([0x6c, 0x2e], 2_000_003)
      socket.write(frame(bomb))
      socket.write(frame(pickle('after the bomb')))
      const before = process.memoryUsage().heapUsed
      const started = performance.now()
      const error = await server.recv().then(
        () => undefined,
        (reason: unknown) => reason,
      )
      const after = process.memoryUsage().heapUsed
      expect(performance.now() - started).toBeLessThan(3000)
      // The budget, 32 bytes per byte plus 1 MiB (65 MB), then the parse stack and its garbage.
      expect(after - before).toBeLessThan(160 * 1024 * 1024)
      expect(error).toBeInstanceOf(DataCloneError)
      expect((error as Error).message).toMatch(/value would take more memory than its 2000005 bytes allow/)
      expect(await server.recv()).toBe('after the bomb')
    }
  })

  it('refuses a pickle of dicts whose index keys V8 would store in 31 KB each, within its budget; the next message arrives', async () => {
    const { socket, server } = await rawPythonPeer()
    // '1023' and '2574' memoised, then 20,000 × {'1023': None, '2574': None}: 200 KB whose dicts
    // V8 would give 3,878 slots of elements each (620 MB in all), against a budget of 7.4 MB.
    const key = (text: string) => Buffer.concat([Buffer.from([0x8c, text.length]), Buffer.from(text)])
    const one = Buffer.from([0x7d, 0x68, 0, 0x4e, 0x73, 0x68, 1, 0x4e, 0x73, 0x61])
    const input = Buffer.concat([
      Buffer.from([0x80, 4]),
      key('1023'),
      Buffer.from([0x94, 0x30]),
      key('2574'),
      Buffer.from([0x94, 0x30, 0x5d]),
      Buffer.alloc(one.byteLength * 20_000, one),
      Buffer.from([0x2e]),
    ])
    socket.write(frame(input))
    socket.write(frame(pickle('after the dicts')))
    const before = process.memoryUsage().heapUsed
    const error = await server.recv().then(
      () => undefined,
      (reason: unknown) => reason,
    )
    // The budget, 32 bytes per byte plus 1 MiB (7.4 MB), then the parse stack.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * 1024 * 1024)
    expect(error).toBeInstanceOf(DataCloneError)
    expect((error as Error).message).toMatch(/value would take more memory than its 200020 bytes allow/)
    expect(await server.recv()).toBe('after the dicts')
  })

  it('refuses codec pickle on a local name and with protocol ipc', () => {
    expect(() => new Listener('jobs', { codec: 'pickle' })).toThrow(/tcp:\/\/host:port/)
    expect(() => new Listener('tcp://127.0.0.1:0', { protocol: 'ipc', codec: 'pickle' })).toThrow(TypeError)
    expect(() => new Listener('tcp://127.0.0.1:0', { protocol: 'pyhton' as never })).toThrow(TypeError)
  })
})
