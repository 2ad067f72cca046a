import { inspect } from 'node:util'
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { ClosedError, ValueError } from './errors.js'
import { Lock } from './lock.js'

const open: { close(): void }[] = []
function track<T extends { close(): void }>(object: T): T {
  open.push(object)
  return object
}
afterEach(() => {
  for (const object of open.splice(0)) object.close()
})

describe('Lock#acquire() and Lock#release()', () => {
  it('lets one holder in at a time', async () => {
    const lock = track(new Lock({ name: uniqueName() }))
    const other = track(Lock.open(lock.name))
    expect(lock.locked).toBe(false)
    await expect(lock.acquire()).resolves.toBe(true)
    expect(lock.locked).toBe(true)
    expect(lock.owned).toBe(true)
    expect(other.owned).toBe(false)
    expect(other.tryAcquire()).toBe(false)
    await expect(other.acquire({ timeout: 20 })).resolves.toBe(false)
    const waiting = other.acquire()
    lock.release()
    await expect(waiting).resolves.toBe(true)
    expect(other.owned).toBe(true)
  })

  it('is not reentrant: the holder waits for itself (as in Python)', () => {
    const lock = track(new Lock())
    expect(lock.acquireSync()).toBe(true)
    expect(lock.acquireSync({ timeout: 10 })).toBe(false)
  })

  it('throws ValueError when released unlocked', () => {
    const lock = track(new Lock())
    expect(() => lock.release()).toThrow(ValueError)
    expect(() => lock.release()).toThrow(`Cannot release lock "${lock.name}": it is not locked`)
  })

  it('throws ValueError when released by an object that does not hold it, and stays locked', () => {
    const lock = track(new Lock({ name: uniqueName() }))
    const other = track(Lock.open(lock.name))
    lock.acquireSync()
    expect(() => other.release()).toThrow(ValueError)
    expect(() => other.release()).toThrow(`it is held by another object (process ${process.pid}), not this one`)
    expect(lock.locked).toBe(true)
    lock.release()
    expect(lock.locked).toBe(false)
  })

  it('is released when its holder closes', () => {
    const lock = new Lock({ name: uniqueName() })
    const other = track(Lock.open(lock.name))
    lock.acquireSync()
    lock.close()
    expect(other.locked).toBe(false)
    expect(() => lock.release()).toThrow(ClosedError)
  })
})

describe('Lock#withLock()', () => {
  it('holds the lock while the function runs and releases it after a throw', async () => {
    const lock = track(new Lock())
    await expect(lock.withLock(async () => (lock.owned ? 'held' : 'free'))).resolves.toBe('held')
    await expect(
      lock.withLock(() => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(lock.locked).toBe(false)
  })
})

describe('Lock#permit()', () => {
  it('releases the lock at the end of the scope', async () => {
    const lock = track(new Lock())
    {
      await using _held = await lock.permit()
      expect(lock.owned).toBe(true)
    }
    expect(lock.locked).toBe(false)
  })
})

describe('Lock inspection', () => {
  it('shows the owner pid, or null', () => {
    const lock = track(new Lock({ name: uniqueName() }))
    expect(inspect(lock)).toBe(`Lock { name: '${lock.name}', owner: null }`)
    lock.acquireSync()
    expect(inspect(lock)).toBe(`Lock { name: '${lock.name}', owner: ${process.pid} }`)
  })
})
