/**
 * A notify() leaves its wake-ups with the lock: the waiter's EVENT word moves
 * only when the notifier gives the lock up (its last release, a wait, or a
 * close), so the waiter wakes to a free lock instead of waking to find the
 * notifier still holding it and sleeping once more. Each test reads the word
 * through a second mapping of the segment, as another process would.
 */
import { Segment } from '@ipc/core/internal'
import { Condition } from '@ipc/sync'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { C_ENTRIES, C_ENTRY_WORDS, CE_EVENT, CE_STATE, CONDITION_KIND, WAITING } from '../src/layout.js'

const WAITER = new URL('./fixtures/condition-waiter.mjs', import.meta.url)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts a waiter process and returns it once it sleeps, with a reader of its entry's EVENT word. */
async function sleepingWaiter(condition: Condition, mode: 'sync' | 'async') {
  const child = spawnChild(WAITER, [JSON.stringify(condition.handle), mode])
  await child.waitFor('waiting')
  // Taking the lock proves the waiter released it: it is in its wait.
  await condition.withLock(() => undefined)
  const segment = Segment.open(CONDITION_KIND, condition.name)
  const word = (entry: number, field: number) =>
    Atomics.load(segment.i32, segment.dataOffset / 4 + C_ENTRIES + entry * C_ENTRY_WORDS + field)
  let entry = 0
  while (word(entry, CE_STATE) !== WAITING) entry++
  return { child, event: () => word(entry, CE_EVENT), close: () => segment.close() }
}

describe('Condition#notify() wakes when the lock is given up', () => {
  it.each(['sync', 'async'] as const)(
    'at the last release of an RLock held twice (%s waiter)',
    {
      timeout: 30_000,
    },
    async (mode) => {
      const condition = new Condition()
      const waiter = await sleepingWaiter(condition, mode)
      try {
        const before = waiter.event()
        condition.acquireSync()
        condition.acquireSync()
        condition.notify()
        expect(waiter.event()).toBe(before)
        condition.release()
        await sleep(100)
        expect(waiter.event()).toBe(before)
        expect(waiter.child.stdout()).not.toContain('notified')
        condition.release()
        expect(waiter.event()).not.toBe(before)
        await waiter.child.waitFor('notified true owned true')
        waiter.child.child.send('exit')
        expect(await waiter.child.exited).toBe(0)
      } finally {
        waiter.close()
        condition.close()
      }
    },
  )

  it('when the notifier waits itself (the wait releases the lock)', { timeout: 30_000 }, async () => {
    const condition = new Condition()
    const waiter = await sleepingWaiter(condition, 'sync')
    try {
      const before = waiter.event()
      condition.acquireSync()
      condition.notifyAll()
      expect(waiter.event()).toBe(before)
      // Nobody notifies this wait: it times out, and meanwhile the waiter ran.
      expect(condition.waitSync({ timeout: 200 })).toBe(false)
      expect(waiter.event()).not.toBe(before)
      condition.release()
      await waiter.child.waitFor('notified true owned true')
      waiter.child.child.send('exit')
      expect(await waiter.child.exited).toBe(0)
    } finally {
      waiter.close()
      condition.close()
    }
  })

  it('when the notifying object is closed holding the lock', { timeout: 30_000 }, async () => {
    const condition = new Condition()
    const waiter = await sleepingWaiter(condition, 'async')
    try {
      const before = waiter.event()
      // A second object, which opened the lock itself: its close gives the lock up.
      const notifier = Condition.from(condition.handle)
      notifier.acquireSync()
      notifier.notify()
      expect(waiter.event()).toBe(before)
      notifier.close()
      expect(waiter.event()).not.toBe(before)
      await waiter.child.waitFor('notified true owned true')
      waiter.child.child.send('exit')
      expect(await waiter.child.exited).toBe(0)
    } finally {
      waiter.close()
      condition.close()
    }
  })
})
