import { Process } from '@ipc/core'
// The built package: the child imports the module named in the descriptor,
// which must be JavaScript (the source's would be a .ts file).
import { Barrier, Condition, Event } from '@ipc/sync'
import { describe, expect, it } from 'vitest'

const TARGET = new URL('./fixtures/process-target.mjs', import.meta.url)

describe('passing Event, Condition and Barrier to Process', () => {
  for (const mode of ['process', 'thread'] as const) {
    it(`gives a ${mode} working objects without importing the package`, { timeout: 30_000 }, async () => {
      const event = new Event()
      const condition = new Condition()
      const barrier = new Barrier(2)
      try {
        const setter = new Process(TARGET, { exportName: 'setEvent', args: [event], mode }).start()
        expect(await setter.join({ timeout: 20_000 })).toBe(0)
        expect(event.isSet()).toBe(true)

        await condition.acquire()
        const notifier = new Process(TARGET, {
          exportName: 'notifyWhenReady',
          args: [condition, barrier],
          mode,
        }).start()
        // Meet the child at the barrier while holding the lock; its notify comes after our wait began.
        const meeting = barrier.wait({ timeout: 10_000 })
        const notified = condition.wait({ timeout: 10_000 })
        await meeting
        await expect(notified).resolves.toBe(true)
        condition.release()
        expect(await notifier.join({ timeout: 20_000 })).toBe(0)
      } finally {
        event.close()
        condition.close()
        barrier.close()
      }
    })
  }
})
