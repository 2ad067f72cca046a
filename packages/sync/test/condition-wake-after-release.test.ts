/**
 * A notify() leaves its wake-ups with the lock: the waiter's EVENT word moves
 * only when the notifier gives the lock up (its last release, a wait, or a
 * close), so the waiter wakes to a free lock instead of waking to find the
 * notifier still holding it and sleeping once more. Each test reads the word
 * through a second mapping of the segment, as another process would.
 */
import { Segment } from '@ipc/core/internal'
import { RLock } from '@ipc/semaphore'
import { Condition } from '@ipc/sync'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import {
  C_ENTRIES,
  C_ENTRY_WORDS,
  CE_EVENT,
  CE_STATE,
  CONDITION_CAPACITY,
  CONDITION_KIND,
  WAITING,
} from '../src/layout.js'

const WAITER = new URL('./fixtures/condition-waiter.mjs', import.meta.url)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts a waiter process and returns it once it sleeps, with a reader of its entry's EVENT word. */
async function sleepingWaiter(condition: Condition, mode: 'sync' | 'async') {
  const child = spawnChild(WAITER, [JSON.stringify(condition.handle), mode])
  await child.waitFor('waiting')
  // Taking the lock proves the waiter released it: it is in its wait.
  await condition.withLock(() => undefined)
  const segment = Segment.open(CONDITION_KIND, condition.name)
  try {
    const word = (entry: number, field: number) =>
      Atomics.load(segment.i32, segment.dataOffset / 4 + C_ENTRIES + entry * C_ENTRY_WORDS + field)
    const entry = Array.from({ length: CONDITION_CAPACITY }, (_, i) => i).find((i) => word(i, CE_STATE) === WAITING)
    if (entry === undefined) throw new Error('the waiter has no WAITING entry')
    return { child, event: () => word(entry, CE_EVENT), close: () => segment.close() }
  } catch (error) {
    segment.close()
    throw error
  }
}

/** Runs `body` with a Condition (made by `make`) and a sleeping waiter process, closing both after. */
async function withWaiter(
  mode: 'sync' | 'async',
  body: (condition: Condition, waiter: Awaited<ReturnType<typeof sleepingWaiter>>) => Promise<void>,
  make: () => Condition = () => new Condition(),
) {
  const condition = make()
  let waiter: Awaited<ReturnType<typeof sleepingWaiter>> | undefined
  try {
    waiter = await sleepingWaiter(condition, mode)
    await body(condition, waiter)
    await waiter.child.waitFor('notified true owned true')
    waiter.child.child.send('exit')
    expect(await waiter.child.exited).toBe(0)
  } finally {
    waiter?.close()
    condition.close()
  }
}

describe('Condition#notify() wakes when the lock is given up', () => {
  it.each(['sync', 'async'] as const)(
    'at the last release of an RLock held twice (%s waiter)',
    {
      timeout: 30_000,
    },
    (mode) =>
      withWaiter(mode, async (condition, waiter) => {
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
      }),
  )

  it('when the notifier waits itself (the wait releases the lock)', { timeout: 30_000 }, () =>
    withWaiter('sync', async (condition, waiter) => {
      const before = waiter.event()
      condition.acquireSync()
      condition.notifyAll()
      expect(waiter.event()).toBe(before)
      // Nobody notifies this wait: it times out, and meanwhile the waiter ran.
      expect(condition.waitSync({ timeout: 200 })).toBe(false)
      expect(waiter.event()).not.toBe(before)
      condition.release()
    }),
  )

  it('when the notifying object is closed holding the lock', { timeout: 30_000 }, () =>
    withWaiter('async', async (condition, waiter) => {
      const before = waiter.event()
      // A second object, which opened the lock itself: its close gives the lock up.
      const notifier = Condition.from(condition.handle)
      notifier.acquireSync()
      notifier.notify()
      expect(waiter.event()).toBe(before)
      notifier.close()
      expect(waiter.event()).not.toBe(before)
    }),
  )

  it('when the notifying object is closed before the lock the user gave it is released', {
    timeout: 30_000,
  }, async () => {
    const lock = new RLock()
    try {
      await withWaiter(
        'sync',
        async (condition, waiter) => {
          const before = waiter.event()
          lock.acquireSync()
          condition.notify()
          // The lock stays held and open: the close wakes the waiter, which then waits for the lock.
          condition.close()
          expect(waiter.event()).not.toBe(before)
          await sleep(50)
          expect(waiter.child.stdout()).not.toContain('notified')
          lock.release()
        },
        () => new Condition(lock),
      )
    } finally {
      lock.close()
    }
  })
})
