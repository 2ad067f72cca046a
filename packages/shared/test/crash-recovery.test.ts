/**
 * The lock of a SharedValue survives a holder killed by SIGKILL: the others get
 * it and learn that the value may be half-updated; nothing leaks.
 */
import { existsSync } from 'node:fs'
import { SharedValue } from '@ipc/shared'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const participant = new URL('./fixtures/shared-participant.mjs', import.meta.url)

function track<V extends { close(): void }>(value: V): V {
  onTestFinished(() => value.close())
  return value
}

describe('SharedValue lock after SIGKILL of the holder', () => {
  it('two blocked processes get the lock; exactly one learns the holder died, and repairs', {
    timeout: 30_000,
  }, async () => {
    const value = track(new SharedValue('int32', 10))
    const handle = JSON.stringify(value.handle)
    const holder = spawnChild(participant, ['hold', handle])
    await holder.waitFor('HELD')
    expect(value.value).toBe(-1)
    const waiters = [spawnChild(participant, ['wait-lock', handle]), spawnChild(participant, ['wait-lock', handle])]
    await Promise.all(waiters.map((w) => w.waitFor('WAITING')))
    expect(value.getLock().tryAcquire()).toBe(false)
    holder.child.kill('SIGKILL')
    expect(await Promise.all(waiters.map((w) => w.exited))).toEqual([0, 0])
    const took = waiters.map((w) => w.stdout().match(/TOOK (\w+)/)?.[1]).sort()
    expect(took).toEqual(['false', 'true'])
    // The first repaired (-1 → 0) and added 1, the second added 1.
    expect(value.value).toBe(2)
    const lock = value.getLock()
    expect(lock.acquireSync({ timeout: 5000 })).toBe(true)
    expect(lock.previousOwnerDied).toBe(false)
    lock.release()
  })

  it('an async withLock in this process takes over from a killed holder and sees previousOwnerDied', {
    timeout: 30_000,
  }, async () => {
    const value = track(new SharedValue('int32', 10))
    const holder = spawnChild(participant, ['hold', JSON.stringify(value.handle)])
    await holder.waitFor('HELD')
    const repaired = value.withLock(
      (lock) => {
        if (lock.previousOwnerDied) value.value = 10
        return lock.previousOwnerDied
      },
      { timeout: 10_000 },
    )
    holder.child.kill('SIGKILL')
    expect(await repaired).toBe(true)
    expect(value.value).toBe(10)
  })

  it('leaves nothing in /dev/shm once the survivor closes', { timeout: 30_000 }, async () => {
    const value = new SharedValue('int32', 0)
    const holder = spawnChild(participant, ['hold', JSON.stringify(value.handle)])
    await holder.waitFor('HELD')
    holder.child.kill('SIGKILL')
    await holder.exited
    expect(existsSync(`/dev/shm/ipc-${value.name}`)).toBe(true)
    value.close()
    expect(existsSync(`/dev/shm/ipc-${value.name}`)).toBe(false)
  })
})
