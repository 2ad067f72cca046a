import { createHash } from 'node:crypto'
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Client } from './client.js'
import type { Connection } from './connection.js'
import { AuthenticationError, ClosedError, ExistsError, NotFoundError, TimeoutError } from './errors.js'
import { Listener } from './listener.js'

const cleanup: { close(): void }[] = []
afterEach(() => {
  for (const c of cleanup.splice(0)) c.close()
})
function track<T extends { close(): void }>(x: T): T {
  cleanup.push(x)
  return x
}

const addresses = () => [uniqueName('l'), 'tcp://127.0.0.1:0']

describe('Listener / Client in one process', () => {
  it('refuse an option name they do not know, naming the one meant, before listening or connecting', async () => {
    // authKey for authkey would otherwise listen without authentication.
    expect(() => new Listener(uniqueName('l'), { authKey: 'secret' } as never)).toThrow(
      /Unknown option "authKey" in the options\. Did you mean "authkey"\?/,
    )
    await expect(Client(uniqueName('none'), { authKey: 'secret' } as never)).rejects.toThrow(/Did you mean "authkey"/)
    expect(() => new Listener(uniqueName('l'), null as never)).toThrow(/The options must be an object, received null/)
  })

  for (const kind of ['local', 'tcp'] as const) {
    it(`connects a client and passes messages both ways (${kind})`, async () => {
      const address = kind === 'local' ? uniqueName('l') : 'tcp://127.0.0.1:0'
      const listener = track(new Listener(address))
      if (kind === 'tcp') expect(listener.address).toMatch(/^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/)
      else expect(listener.address).toBe(address)
      const [server, client] = await Promise.all([listener.accept(), Client(listener.address)])
      track(server)
      track(client)
      await client.send({ hello: 'server' })
      expect(await server.recv()).toEqual({ hello: 'server' })
      server.sendSync('sync reply')
      expect(client.recvSync({ timeout: 5000 })).toBe('sync reply')
      await server.sendBytes(new Uint8Array([1, 2, 3]))
      expect([...(await client.recvBytes())]).toEqual([1, 2, 3])
      expect(await client.poll()).toBe(false)
      server.close()
      await expect(client.recv()).rejects.toMatchObject({ name: 'EOFError' })
      await expect(client.send('x')).rejects.toMatchObject({ name: 'BrokenPipeError' })
    })

    it(`authenticates with the right authkey and refuses a wrong or missing one on either side (${kind})`, async () => {
      const address = kind === 'local' ? uniqueName('l') : 'tcp://127.0.0.1:0'
      const dropped: Error[] = []
      const listener = track(new Listener(address, { authkey: 'secret', onHandshakeError: (e) => dropped.push(e) }))
      const [server, client] = await Promise.all([listener.accept(), Client(listener.address, { authkey: 'secret' })])
      track(server)
      track(client)
      await client.send('authenticated')
      expect(await server.recv()).toBe('authenticated')

      const wrong = Client(listener.address, { authkey: 'wrong' })
      await expect(wrong).rejects.toThrow(AuthenticationError)
      await expect(wrong).rejects.toThrow(/rejected this authkey/)
      await expect(Client(listener.address)).rejects.toThrow(/requires an authkey and none was given/)
      // The listener dropped both strangers: accept() sees neither.
      await expect(listener.accept({ timeout: 50 })).rejects.toThrow(TimeoutError)
      await vi.waitFor(() => expect(dropped).toHaveLength(2))
      expect(dropped[0]).toBeInstanceOf(AuthenticationError)
      expect(dropped[0]?.message).toMatch(/authkey is wrong/)
      expect(dropped[1]).toBeInstanceOf(AuthenticationError)

      const openDropped: Error[] = []
      const open = track(
        new Listener(kind === 'local' ? uniqueName('l') : 'tcp://127.0.0.1:0', {
          onHandshakeError: (e) => openDropped.push(e),
        }),
      )
      await expect(Client(open.address, { authkey: new TextEncoder().encode('secret') })).rejects.toThrow(
        /has no authkey, so it cannot prove it knows this one/,
      )
      await vi.waitFor(() => expect(openDropped).toHaveLength(1))
      expect(openDropped[0]).toBeInstanceOf(AuthenticationError)
      await expect(open.accept({ timeout: 0 })).rejects.toThrow(TimeoutError)
    })
  }

  it('refuses a message over 32 MiB by default on both sides, and carries one when allowed', async () => {
    for (const address of addresses()) {
      const listener = track(new Listener(address))
      const [server, client] = await Promise.all([listener.accept(), Client(listener.address)])
      track(server)
      track(client)
      const over = new Uint8Array(32 * 1024 * 1024 + 1)
      for (const end of [server, client])
        await expect(end.sendBytes(over)).rejects.toMatchObject({
          name: 'MessageTooLongError',
          maxLength: 32 * 1024 * 1024,
        })
      // At once: a local connection's sender waits for room while the receiver reads.
      const [, got] = await Promise.all([client.sendBytes(over.subarray(1)), server.recvBytes()])
      expect(got.byteLength).toBe(32 * 1024 * 1024)
    }
  })

  it('carries a 64 MiB message over TCP intact', async () => {
    const maxMessageSize = 128 * 1024 * 1024
    const listener = track(new Listener('tcp://127.0.0.1:0', { maxMessageSize }))
    const [server, client] = await Promise.all([listener.accept(), Client(listener.address, { maxMessageSize })])
    track(server)
    track(client)
    const big = new Uint8Array(64 * 1024 * 1024 + 7)
    for (let i = 0; i < big.length; i += 4093) big[i] = i % 251
    const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
    await client.sendBytes(big)
    const got = await server.recvBytes()
    expect(hash(got)).toBe(hash(big))
    // Sync calls in one thread: only what fits in the kernel's socket buffers.
    server.sendSync({ small: true })
    expect(client.recvSync({ timeout: 10_000 })).toEqual({ small: true })
    expect(client.pollSync()).toBe(false)
  })

  it('accepts concurrent clients, each with its own connection', async () => {
    for (const address of addresses()) {
      const listener = track(new Listener(address, { authkey: 'k' }))
      const clients = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const c = track(await Client(listener.address, { authkey: 'k' }))
          await c.send(i)
          return c
        }),
      )
      const seen: unknown[] = []
      for (let i = 0; i < clients.length; i++) {
        const server = track(await listener.accept({ timeout: 10_000 }))
        const n = await server.recv()
        seen.push(n)
        await server.send(`ack ${n}`)
      }
      expect(seen.sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
      for (const [i, c] of clients.entries()) expect(await c.recv()).toBe(`ack ${i}`)
    }
  })

  it('throws clear errors for bad addresses, taken names and missing listeners', async () => {
    expect(() => new Listener('tcp://127.0.0.1')).toThrow(TypeError)
    expect(() => new Listener(5 as never)).toThrow(TypeError)
    await expect(Client('ftp://x:1')).rejects.toThrow(/scheme is not supported/)
    const name = uniqueName('l')
    track(new Listener(name))
    expect(() => new Listener(name)).toThrow(ExistsError)
    await expect(Client(uniqueName('nobody'))).rejects.toThrow(NotFoundError)
    const tcp = track(new Listener('tcp://127.0.0.1:0'))
    const port = Number(tcp.address.split(':').at(-1))
    expect(() => new Listener(`tcp://127.0.0.1:${port}`)).toThrow(/Cannot listen on tcp:\/\/127\.0\.0\.1:\d+/)
    tcp.close()
    await expect(Client(`tcp://127.0.0.1:${port}`)).rejects.toThrow(NotFoundError)
    expect(() => new Listener(name, { backlog: 0 })).toThrow(RangeError)
    expect(() => new Listener(uniqueName('l'), { authkey: 5 as never })).toThrow(TypeError)
    expect(() => new Listener(uniqueName('l'), { maxMessageSize: -1 })).toThrow(RangeError)
    expect(() => new Listener(uniqueName('l'), { maxMessageSize: 1.5 })).toThrow(RangeError)
    expect(() => new Listener(uniqueName('l'), { handshakeTimeout: 0 })).toThrow(RangeError)
    expect(() => new Listener(uniqueName('l'), { handshakeTimeout: 'soon' as never })).toThrow(TypeError)
    expect(() => new Listener(uniqueName('l'), { maxPendingHandshakes: 0 })).toThrow(RangeError)
    expect(() => new Listener(uniqueName('l'), { onHandshakeError: 'log' as never })).toThrow(TypeError)
    expect(() => new Listener(uniqueName('l'), { insecure: 1 as never })).toThrow(TypeError)
    await expect(Client(name, { maxMessageSize: -1 })).rejects.toThrow(RangeError)
    await expect(Client(name, { handshakeTimeout: -5 })).rejects.toThrow(RangeError)
  })

  it('accept() times out, aborts, and rejects with ClosedError when the listener closes', async () => {
    const listener = new Listener(uniqueName('l'))
    await expect(listener.accept({ timeout: 0 })).rejects.toThrow(TimeoutError)
    await expect(listener.accept({ timeout: 20 })).rejects.toThrow(TimeoutError)
    // Above setTimeout's limit (2 ** 31 - 1 ms), which alone fires after 1 ms: still waiting.
    let long: unknown = 'pending'
    const waiting = listener.accept({ timeout: 2 ** 31 + 5 }).catch((error: unknown) => {
      long = error
    })
    await expect(listener.accept({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(long).toBe('pending')
    const pending = listener.accept()
    listener.close()
    listener.close()
    await waiting
    expect(long).toBeInstanceOf(ClosedError)
    await expect(pending).rejects.toThrow(ClosedError)
    await expect(listener.accept()).rejects.toThrow(ClosedError)
    expect(listener.closed).toBe(true)
  })

  it('frees a local name at close, and iterates accepted clients with for await', async () => {
    const name = uniqueName('l')
    const listener = track(new Listener(name))
    const got: Connection[] = []
    const loop = (async () => {
      for await (const conn of listener) {
        got.push(track(conn))
        if (got.length === 2) break
      }
    })()
    track(await Client(name))
    track(await Client(name))
    await loop
    expect(got).toHaveLength(2)
    listener.close()
    track(new Listener(name))
  })

  it('Client honours its timeout and signal', async () => {
    await expect(Client(uniqueName('nobody'), { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    })
    // A listener that is a plain socket and never answers the handshake.
    const { createServer } = await import('node:net')
    const silent = createServer(() => {})
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const port = (silent.address() as { port: number }).port
    await expect(Client(`tcp://127.0.0.1:${port}`, { timeout: 50 })).rejects.toThrow(TimeoutError)
    silent.close()
  })
})
