/**
 * An end handed between a slot and a reservation (a claim by the process it
 * was given to; a transfer onward) is held throughout: a peer that looks at
 * that moment must not take it for closed.
 */
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { W_CLOSED_ENDS } from '../src/layout.js'
import { PipeEnd } from '../src/pipe-end.js'

const handover = new URL('./fixtures/handover.mjs', import.meta.url)

describe('an end handed over between a slot and a reservation', () => {
  it('is never taken for closed by a peer looking meanwhile', { timeout: 30_000 }, async () => {
    const [mine, theirs] = PipeEnd.create({})
    const child = spawnChild(handover, [mine.name, '1500'])
    try {
      await child.waitFor('READY')
      theirs.close()
      // Look at the peer as fast as this process can while the child hands end 1 over.
      const closedEnds = () => Atomics.load(mine.segment.i32, mine.segment.dataOffset / 4 + W_CLOSED_ENDS)
      let looks = 0
      while (!child.stdout().includes('DONE') && (closedEnds() & 2) === 0) {
        for (let i = 0; i < 200; i++) mine.checkPeer()
        looks += 200
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(closedEnds() & 2).toBe(0)
      expect(looks).toBeGreaterThan(10_000)
      expect(Number(/DONE (\d+)/.exec(child.stdout())?.[1])).toBeGreaterThan(200)
    } finally {
      // The child first: the last close then finds no live holder and removes the pipe.
      child.child.kill('SIGKILL')
      await child.exited
      theirs.close()
      mine.close()
    }
  })
})
