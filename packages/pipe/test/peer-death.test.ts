import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it, vi } from 'vitest'
import type { Connection } from '../src/connection.js'
import { BrokenPipeError, EOFError } from '../src/errors.js'
import { Pipe } from '../src/pipe.js'
import { PipeEnd } from '../src/pipe-end.js'
import { wait } from '../src/wait.js'

const crasher = new URL('./fixtures/crasher.mjs', import.meta.url)

describe('a peer that dies', () => {
  it('SIGKILLed while we wait in recv(): EOFError, no hang', { timeout: 30_000 }, async () => {
    const [mine, theirs] = Pipe()
    try {
      const child = spawnChild(crasher, [JSON.stringify(theirs.handle), 'sigkill', '100'])
      await child.waitFor('ready')
      theirs.close()
      await expect(mine.recv({ timeout: 20_000 })).rejects.toThrow(EOFError)
      expect(await child.exited).toBe(-9)
      await expect(mine.send('x')).rejects.toThrow(BrokenPipeError)
    } finally {
      mine.close()
      theirs.close()
    }
  })

  it('SIGKILLed while we block in recvSync(): EOFError, no hang', { timeout: 30_000 }, async () => {
    const [mine, theirs] = Pipe()
    try {
      const child = spawnChild(crasher, [JSON.stringify(theirs.handle), 'sigkill', '100'])
      await child.waitFor('ready')
      theirs.close()
      expect(() => mine.recvSync({ timeout: 20_000 })).toThrow(EOFError)
      expect(await child.exited).toBe(-9)
    } finally {
      mine.close()
      theirs.close()
    }
  })

  it('SIGKILLed while we wait to send on a full pipe: BrokenPipeError', { timeout: 30_000 }, async () => {
    const [mine, theirs] = Pipe({ capacity: 4096 })
    try {
      const child = spawnChild(crasher, [JSON.stringify(theirs.handle), 'hang'])
      await child.waitFor('ready')
      theirs.close()
      const sending = mine.send(new Uint8Array(1_000_000))
      setTimeout(() => child.child.kill('SIGKILL'), 50)
      await expect(sending).rejects.toThrow(BrokenPipeError)
      expect(() => mine.sendSync('x')).toThrow(BrokenPipeError)
    } finally {
      mine.close()
      theirs.close()
    }
  })

  it('exiting without close(): what it sent arrives, then EOFError', { timeout: 30_000 }, async () => {
    const [mine, theirs] = Pipe()
    try {
      const child = spawnChild(crasher, [JSON.stringify(theirs.handle), 'exit', '0'])
      await child.waitFor('ready')
      theirs.close()
      expect(await mine.recv({ timeout: 20_000 })).toBe('bye')
      await expect(mine.recv({ timeout: 20_000 })).rejects.toThrow(EOFError)
      expect(await child.exited).toBe(0)
    } finally {
      mine.close()
      theirs.close()
    }
  })

  it('wait() wakes when the peer of one of several pipes is SIGKILLed', { timeout: 30_000 }, async () => {
    const pipes = [Pipe(), Pipe(), Pipe()]
    try {
      const [, theirs] = pipes[1] as ReturnType<typeof Pipe>
      const child = spawnChild(crasher, [JSON.stringify(theirs.handle), 'sigkill', '100'])
      await child.waitFor('ready')
      theirs.close()
      const ready = await wait(
        pipes.map(([mine]) => mine),
        { timeout: 20_000 },
      )
      expect(ready).toEqual([pipes[1]?.[0]])
    } finally {
      for (const [a, b] of pipes) {
        a.close()
        b.close()
      }
    }
  })

  // poll() with no timeout (and wait(list, { timeout: 0 })) never sleeps, so no sleep slice looks at the peer.
  const pollers: [string, (conn: Connection<unknown>) => boolean | Promise<boolean>][] = [
    ['poll()', (conn) => conn.poll()],
    ['pollSync()', (conn) => conn.pollSync()],
    ['wait([conn], { timeout: 0 })', async (conn) => (await wait([conn], { timeout: 0 })).includes(conn)],
  ]
  for (const [name, poll] of pollers)
    it(`SIGKILLed while we only call ${name}: it turns true, then EOFError`, { timeout: 30_000 }, async () => {
      const [mine, theirs] = Pipe()
      try {
        const child = spawnChild(crasher, [JSON.stringify(theirs.handle), 'hang'])
        await child.waitFor('ready')
        theirs.close()
        expect(await poll(mine)).toBe(false)
        child.child.kill('SIGKILL')
        expect(await child.exited).toBe(-9)
        const killedAt = performance.now()
        while (!(await poll(mine)) && performance.now() - killedAt < 3000)
          await new Promise((resolve) => setTimeout(resolve, 5))
        expect(performance.now() - killedAt).toBeLessThan(1000)
        await expect(mine.recv()).rejects.toThrow(EOFError)
      } finally {
        mine.close()
        theirs.close()
      }
    })

  it('a tight poll() loop looks at the peer at most every 100 ms', { timeout: 30_000 }, async () => {
    const [mine, theirs] = Pipe()
    const check = vi.spyOn(PipeEnd.prototype, 'checkPeer')
    try {
      const started = performance.now()
      let calls = 0
      while (performance.now() - started < 300) {
        for (let i = 0; i < 100; i++) mine.pollSync()
        await mine.poll()
        calls += 101
      }
      const elapsed = performance.now() - started
      expect(calls).toBeGreaterThan(1000)
      expect(check.mock.calls.length).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1)
    } finally {
      check.mockRestore()
      mine.close()
      theirs.close()
    }
  })
})
