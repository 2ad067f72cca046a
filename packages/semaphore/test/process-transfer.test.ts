import { Process } from '@ipc/core'
// The built package: the child imports the module named in the descriptor,
// which must be JavaScript (the source's would be a .ts file).
import { Lock, Semaphore } from '@ipc/semaphore'
import { describe, expect, it } from 'vitest'

const TARGET = new URL('./fixtures/process-target.mjs', import.meta.url)

describe('passing primitives to Process', () => {
  for (const mode of ['process', 'thread'] as const) {
    it(`gives a ${mode} a working Semaphore without importing the package`, { timeout: 30_000 }, async () => {
      const sem = new Semaphore(0)
      try {
        const child = new Process(TARGET, { exportName: 'releaseTwice', args: [sem], mode }).start()
        expect(await child.join({ timeout: 20_000 })).toBe(0)
        expect(sem.value).toBe(2)
      } finally {
        sem.close()
      }
    })

    it(`releases a Lock the ${mode} still held when its function returned`, { timeout: 30_000 }, async () => {
      const lock = new Lock()
      try {
        const child = new Process(TARGET, { exportName: 'holdLock', args: [lock], mode }).start()
        expect(await child.join({ timeout: 20_000 })).toBe(0)
        expect(lock.locked).toBe(false)
        expect(lock.tryAcquire()).toBe(true)
        lock.release()
      } finally {
        lock.close()
      }
    })
  }
})
