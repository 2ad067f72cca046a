import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, vi } from 'vitest'
import { Client } from '../src/client.js'
import { AuthenticationError, TimeoutError } from '../src/errors.js'
import { Listener } from '../src/listener.js'

const clientFixture = new URL('./fixtures/client.mjs', import.meta.url)
const listenerFixture = new URL('./fixtures/listener.mjs', import.meta.url)

describe('Listener and Client in unrelated processes', () => {
  it('receives 64 MiB from a TCP client process with the blocking calls', { timeout: 60_000 }, async () => {
    const size = 64 * 1024 * 1024 + 3
    const listener = new Listener('tcp://127.0.0.1:0', { maxMessageSize: size })
    try {
      const child = spawnChild(clientFixture, [listener.address, '-', `big:${size}`])
      const conn = await listener.accept({ timeout: 30_000 })
      try {
        const got = conn.recvBytesSync({ timeout: 30_000 })
        const expected = new Uint8Array(size)
        for (let i = 0; i < size; i += 4093) expected[i] = i % 251
        expect(got.byteLength).toBe(size)
        expect(Buffer.compare(got, expected)).toBe(0)
        conn.sendSync('got it')
        expect(await child.exited).toBe(0)
        expect(child.stdout()).toContain('reply got it')
      } finally {
        conn.close()
      }
    } finally {
      listener.close()
    }
  })

  for (const kind of ['local', 'tcp'] as const) {
    it(`serves 4 concurrent client processes with the right authkey (${kind})`, { timeout: 60_000 }, async () => {
      const listener = new Listener(kind === 'local' ? uniqueName('l') : 'tcp://127.0.0.1:0', { authkey: 'k3y' })
      try {
        const children = [0, 1, 2, 3].map((i) => spawnChild(clientFixture, [listener.address, 'k3y', `hi ${i}`]))
        for (let i = 0; i < 4; i++) {
          const conn = await listener.accept({ timeout: 30_000 })
          const msg = await conn.recv({ timeout: 20_000 })
          await conn.send(`echo ${msg}`)
          // Closing at once is fine: the client reads what was sent before EOF.
          conn.close()
        }
        for (const [i, child] of children.entries()) {
          expect(await child.exited).toBe(0)
          expect(child.stdout()).toContain(`reply echo hi ${i}`)
        }
      } finally {
        listener.close()
      }
    })

    it(`refuses a client process with a wrong authkey on both sides, before any message (${kind})`, {
      timeout: 30_000,
    }, async () => {
      const dropped: Error[] = []
      const listener = new Listener(kind === 'local' ? uniqueName('l') : 'tcp://127.0.0.1:0', {
        authkey: 'right',
        onHandshakeError: (e) => dropped.push(e),
      })
      try {
        const child = spawnChild(clientFixture, [listener.address, 'wrong', 'never delivered'])
        expect(await child.exited).toBe(0)
        expect(child.stdout()).toContain('error AuthenticationError')
        const none = spawnChild(clientFixture, [listener.address, '-', 'never delivered'])
        expect(await none.exited).toBe(0)
        expect(none.stdout()).toContain('error AuthenticationError')
        // Both were dropped at the handshake; accept() never saw them.
        await vi.waitFor(() => expect(dropped).toHaveLength(2))
        expect(dropped[0]).toBeInstanceOf(AuthenticationError)
        expect(dropped[1]?.message).toMatch(/requires an authkey|no authkey/)
        await expect(listener.accept({ timeout: 0 })).rejects.toThrow(TimeoutError)
      } finally {
        listener.close()
      }
    })

    it(`connects to a listener in a child process (${kind})`, { timeout: 30_000 }, async () => {
      const child = spawnChild(listenerFixture, [kind === 'local' ? uniqueName('l') : 'tcp://127.0.0.1:0', 's', '1'])
      await child.waitFor('address ')
      const address = (child.stdout().match(/address (\S+)/) as RegExpMatchArray)[1] as string
      await expect(Client(address, { authkey: 'not s' })).rejects.toThrow(AuthenticationError)
      const conn = await Client(address, { authkey: 's', timeout: 20_000 })
      await conn.send('from parent')
      expect(await conn.recv({ timeout: 20_000 })).toBe('echo from parent')
      conn.close()
      expect(await child.exited).toBe(0)
      expect(child.stdout()).toContain('dropped AuthenticationError')
      expect(child.stdout()).not.toContain('error')
      expect(child.stdout()).toContain('closed')
    })
  }
})
