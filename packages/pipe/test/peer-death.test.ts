import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { BrokenPipeError, EOFError } from '../src/errors.js'
import { Pipe } from '../src/pipe.js'
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
})
