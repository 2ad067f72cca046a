/**
 * Lock and RLock across processes and threads: only the holder releases, and
 * a holder that is killed or whose worker thread is terminated is taken over,
 * with previousOwnerDied, by the next acquirer.
 */
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { HEADER_BYTES, ownerCode, SLOT_COUNT, threadId } from '@ipc/core/internal'
import { rewriteOwnerWord, spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { ValueError } from '../src/errors.js'
import { Lock, RLock } from '../src/lock.js'

const CHILD = new URL('./fixtures/lock-child.mjs', import.meta.url)
const WORKER = new URL('./fixtures/lock-worker.mjs', import.meta.url)

for (const Class of [Lock, RLock]) {
  const kind = Class === Lock ? 'lock' : 'rlock'

  describe(`${Class.name} held by another process`, () => {
    it('refuses a release by a process that does not hold it (ValueError), and stays locked', {
      timeout: 30_000,
    }, async () => {
      const lock = new Class({ name: uniqueName() })
      try {
        expect(lock.acquireSync()).toBe(true)
        const child = spawnChild(CHILD, ['release', kind, lock.name])
        expect(await child.exited, child.stderr()).toBe(0)
        const refused = JSON.parse(child.stdout()) as { name: string; message: string; locked: boolean }
        expect(refused).toEqual({
          name: 'ValueError',
          message: `Cannot release ${kind} "${lock.name}": it is held by another object (process ${process.pid}), not this one`,
          locked: true,
        })
        expect(lock.owned).toBe(true)
        lock.release()
        expect(() => lock.release()).toThrow(ValueError)
      } finally {
        lock.close()
      }
    })

    it('is taken over by a waiter already asleep when its holder is SIGKILLed (previousOwnerDied)', {
      timeout: 30_000,
    }, async () => {
      const lock = new Class({ name: uniqueName() })
      try {
        const child = spawnChild(CHILD, ['hold', kind, lock.name])
        await child.waitFor('holding')
        expect(lock.tryAcquire()).toBe(false)
        const waiting = lock.acquire({ timeout: 10_000 })
        await new Promise((resolve) => setTimeout(resolve, 50))
        child.child.kill('SIGKILL')
        expect(await child.exited).toBe(-9)
        await expect(waiting).resolves.toBe(true)
        expect(lock.previousOwnerDied).toBe(true)
        lock.release()
        expect(lock.previousOwnerDied).toBe(false)
        expect(lock.locked).toBe(false)
      } finally {
        lock.close()
      }
    })

    it("does not pass a dead holder's lock to the next attacher of its freed slot, even with the holder's thread id", {
      timeout: 30_000,
    }, async () => {
      const lock = new Class({ name: uniqueName() })
      const others: InstanceType<typeof Class>[] = []
      try {
        const child = spawnChild(CHILD, ['hold', kind, lock.name])
        await child.waitFor('holding')
        child.child.kill('SIGKILL')
        expect(await child.exited).toBe(-9)
        // White box: the owner word (the data area's first word; core's owner-word.ts) named the
        // child's slot and thread. Give it this thread's id, as a reused pid (or the same pid in
        // another PID namespace) would: the next attacher of that slot, in this thread, then has
        // the very code the word holds.
        expect(rewriteOwnerWord(lock.name, HEADER_BYTES, (slot) => ownerCode(slot, threadId()))).toBeGreaterThan(0)
        // Fill the other slots: the next open takes the dead child's slot over and frees it (reap).
        for (let i = 2; i < SLOT_COUNT; i++) others.push(Class.open(lock.name))
        const heir = Class.open(lock.name)
        others.push(heir)
        // The dead hold was abandoned when its slot was freed: nobody holds it, the heir acquires it
        // and learns the previous owner died (before: it "held" it without an acquire).
        expect(heir.held).toBe(false)
        expect(lock.locked).toBe(false)
        expect(heir.tryAcquire()).toBe(true)
        expect(heir.previousOwnerDied).toBe(true)
        heir.release()
        expect(lock.tryAcquire()).toBe(true)
        lock.release()
      } finally {
        for (const other of others) other.close()
        lock.close()
      }
    })

    it('wakes a thread blocked in acquireSync when the holder kills itself', { timeout: 30_000 }, async () => {
      const lock = new Class({ name: uniqueName() })
      try {
        const child = spawnChild(CHILD, ['hold', kind, lock.name, 'die:300'])
        await child.waitFor('holding')
        expect(lock.acquireSync({ timeout: 10_000 })).toBe(true)
        expect(lock.previousOwnerDied).toBe(true)
        expect(await child.exited).toBe(-9)
        lock.release()
      } finally {
        lock.close()
      }
    })
  })

  describe(`${Class.name} held by a worker thread`, () => {
    it('is taken over after worker.terminate() (previousOwnerDied)', { timeout: 30_000 }, async () => {
      const lock = new Class({ name: uniqueName() })
      try {
        const worker = new Worker(WORKER, { workerData: { kind, name: lock.name } })
        const [message] = (await once(worker, 'message')) as [string]
        expect(message).toBe('holding')
        expect(lock.tryAcquire()).toBe(false)
        await worker.terminate()
        expect(await lock.acquire({ timeout: 10_000 })).toBe(true)
        expect(lock.previousOwnerDied).toBe(true)
        lock.release()
      } finally {
        lock.close()
      }
    })
  })
}
