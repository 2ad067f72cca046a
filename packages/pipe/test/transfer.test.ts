import { inspect } from 'node:util'
import { Process } from '@ipc/core'
import { TRANSFER } from '@ipc/core/internal'
// By name: Process revives the end in the child from the module that made it,
// which must be the built package, not this test's TypeScript source.
import { Pipe } from '@ipc/pipe'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'

const echo = new URL('./fixtures/echo.mjs', import.meta.url)
const double = new URL('./fixtures/double.mjs', import.meta.url)

describe('passing an end to another process', () => {
  it('[TRANSFER]() keeps the end open while it travels, so the sender may close its copy at once', {
    timeout: 30_000,
  }, async () => {
    const [mine, theirs] = Pipe()
    try {
      const { handle } = theirs[TRANSFER]()
      expect(typeof handle.token).toBe('number')
      theirs.close()
      // The end is still open: a send is not refused.
      await mine.send('queued before the child came')
      const child = spawnChild(echo, [JSON.stringify(handle), 'async'])
      expect(await mine.recv({ timeout: 20_000 })).toBe('queued before the child came')
      mine.close()
      expect(await child.exited).toBe(0)
    } finally {
      mine.close()
      theirs.close()
    }
  })

  it('an end given to Process arrives attached in the child', { timeout: 30_000 }, async () => {
    const [mine, theirs] = Pipe<number>()
    try {
      const child = new Process(double, { args: [theirs] }).start()
      theirs.close()
      // If the child fails, stop waiting on it at once.
      child.join().catch(() => mine.close())
      try {
        await mine.send(21)
        expect(await mine.recv({ timeout: 20_000 })).toBe(42)
        await mine.send(new Uint8Array(3 * 1024 * 1024) as never)
        expect(await mine.recv({ timeout: 20_000 })).toBe(3 * 1024 * 1024)
      } catch (error) {
        // Say how the child ended (its exit code, or the error its function threw).
        const ended = await child.join({ timeout: 5000 }).catch((thrown: unknown) => thrown)
        throw new Error(`Talking to the child failed; the child ended with ${inspect(ended)}`, { cause: error })
      }
      expect(await child.join({ timeout: 20_000 })).toBe(0)
      // The child closed its end when its function returned.
      await expect(mine.recv({ timeout: 20_000 })).rejects.toMatchObject({ name: 'EOFError' })
    } finally {
      mine.close()
      theirs.close()
    }
  })
})
