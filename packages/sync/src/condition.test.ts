import { inspect } from 'node:util'
import { BoundedSemaphore, Lock, RLock, Semaphore } from '@ipc/semaphore'
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { Condition } from './condition.js'
import { ClosedError, NotFoundError, ValueError } from './errors.js'

const open: { close(): void }[] = []
function track<T extends { close(): void }>(object: T): T {
  open.push(object)
  return object
}
afterEach(() => {
  for (const object of open.splice(0)) object.close()
})

const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms))

describe('Condition#wait() and Condition#notify()', () => {
  it('throws ValueError when waiting or notifying without the lock', async () => {
    const condition = track(new Condition())
    await expect(condition.wait()).rejects.toBeInstanceOf(ValueError)
    expect(() => condition.waitSync()).toThrow(ValueError)
    expect(() => condition.notify()).toThrow(ValueError)
    expect(() => condition.notifyAll()).toThrow(ValueError)
    await expect(condition.waitFor(() => false)).rejects.toBeInstanceOf(ValueError)
  })

  it('resolves false at the timeout, holding the lock again', async () => {
    const condition = track(new Condition())
    await condition.acquire()
    await expect(condition.wait({ timeout: 20 })).resolves.toBe(false)
    expect(condition.owned).toBe(true)
    expect(condition.waitSync({ timeout: 0 })).toBe(false)
    expect(condition.owned).toBe(true)
    condition.release()
  })

  it('wakes exactly n waiters, oldest first; notifyAll wakes the rest', async () => {
    const condition = track(new Condition({ name: uniqueName() }))
    const arrived: number[] = []
    const woken: number[] = []
    const waiters = [0, 1, 2, 3].map(async (i) => {
      const mine = track(Condition.open(condition.name))
      await mine.acquire()
      // Holding the lock: the order of these pushes is the order of the waits.
      arrived.push(i)
      const notified = await mine.wait({ timeout: 5000 })
      woken.push(i)
      mine.release()
      return notified
    })
    while (arrived.length < 4) await tick(5)
    await tick(50)
    expect(inspect(condition)).toContain('waiting: 4')
    await condition.withLock(() => condition.notify(1))
    await tick(50)
    expect(woken).toEqual([arrived[0]])
    await condition.withLock(() => condition.notify(2))
    await tick(50)
    expect([...woken].sort()).toEqual([arrived[0], arrived[1], arrived[2]].sort())
    await condition.withLock(() => condition.notifyAll())
    await expect(Promise.all(waiters)).resolves.toEqual([true, true, true, true])
    expect(woken[3]).toBe(arrived[3])
  })

  it('restores an RLock to the depth it was held at, and keeps withLock re-entrant after the wait', async () => {
    const condition = track(new Condition())
    const lock = condition.lock as RLock
    await lock.withLock(async () => {
      await lock.withLock(async () => {
        lock.acquireSync()
        setTimeout(() => condition.withLockSync(() => condition.notify()), 20)
        // Another task takes the lock while we wait: it was released fully.
        await expect(condition.wait({ timeout: 5000 })).resolves.toBe(true)
        lock.release()
        // Still twice deep: one release leaves it held.
        expect(lock.owned).toBe(true)
        await expect(lock.withLock(() => 'again')).resolves.toBe('again')
      })
      expect(lock.owned).toBe(true)
    })
    expect(lock.locked).toBe(false)
    condition.acquireSync()
    condition.acquireSync()
    condition.acquireSync()
    expect(condition.waitSync({ timeout: 5 })).toBe(false)
    condition.release()
    condition.release()
    expect(condition.owned).toBe(true)
    condition.release()
    expect(condition.owned).toBe(false)
  })

  it('uses the Lock given, and reattaches to it by name', async () => {
    const lock = track(new Lock({ name: uniqueName() }))
    const condition = track(new Condition(lock, { name: uniqueName() }))
    expect(condition.lock).toBe(lock)
    const other = track(Condition.open(condition.name))
    expect(other.lock).toBeInstanceOf(Lock)
    expect(other.lock.name).toBe(lock.name)
    lock.acquireSync()
    expect(other.tryAcquire()).toBe(false)
    lock.release()
    other.close()
    // The given lock stays open after its Condition closes.
    condition.close()
    expect(lock.closed).toBe(false)
    expect(lock.tryAcquire()).toBe(true)
    lock.release()
  })

  it('waitFor returns the predicate value, or its last value at the timeout', async () => {
    const condition = track(new Condition())
    let value = 0
    setTimeout(() => {
      condition.withLockSync(() => {
        value = 7
        condition.notifyAll()
      })
    }, 20)
    await expect(condition.withLock(() => condition.waitFor(() => value, { timeout: 5000 }))).resolves.toBe(7)
    await expect(condition.withLock(() => condition.waitFor(() => 0, { timeout: 30 }))).resolves.toBe(0)
    expect(condition.withLockSync(() => condition.waitForSync(() => '', { timeout: 10 }))).toBe('')
    expect(condition.withLockSync(() => condition.waitForSync(() => 'now'))).toBe('now')
  })

  it('on abort takes the lock back, rejects with signal.reason, and hands a notification on', async () => {
    const condition = track(new Condition({ name: uniqueName() }))
    const other = track(Condition.open(condition.name))
    await other.acquire()
    const second = other.wait({ timeout: 5000 })
    await tick()
    const controller = new AbortController()
    await condition.acquire()
    const first = condition.wait({ signal: controller.signal })
    await tick()
    // Notify the oldest (other's), then abort ours: nothing is lost.
    await other.withLock(() => other.notify(1)).catch(() => {})
    controller.abort()
    await expect(first).rejects.toBe(controller.signal.reason)
    expect(condition.owned).toBe(true)
    condition.release()
    await expect(second).resolves.toBe(true)
    other.release()
  })

  it('validates n', () => {
    const condition = track(new Condition())
    condition.acquireSync()
    expect(() => condition.notify(-1)).toThrow(RangeError)
    expect(() => condition.notify(1.5)).toThrow(RangeError)
    expect(() => condition.notify('1' as unknown as number)).toThrow(TypeError)
    condition.notify(0)
    condition.release()
    expect(() => new Condition(42 as unknown as Lock)).toThrow(TypeError)
  })

  it('refuses a Semaphore, a BoundedSemaphore or another non-lock object as the lock with TypeError (not as options)', () => {
    for (const make of [() => new Semaphore(1), () => new BoundedSemaphore(1)]) {
      const semaphore = make()
      try {
        expect(() => new Condition(semaphore as unknown as Lock)).toThrow(
          'The "lock" argument must be a Lock or an RLock',
        )
      } finally {
        semaphore.close()
      }
    }
    expect(() => new Condition(new Map() as unknown as Lock)).toThrow(TypeError)
    // A plain object is still the options.
    const condition = track(new Condition({ name: uniqueName() }))
    expect(condition.lock).toBeInstanceOf(RLock)
  })
})

describe('Condition: names, handles and lifetime', () => {
  it('opens by name (with its lock) and by handle; unlink removes the lock made for it', () => {
    const name = uniqueName()
    const condition = track(Condition.open(name, { create: true }))
    expect(condition.created).toBe(true)
    expect(condition.handle).toEqual({ kind: 'condition', name })
    const other = track(Condition.from(condition.handle))
    expect(other.lock.name).toBe(condition.lock.name)
    const lockName = condition.lock.name
    condition.unlink()
    expect(() => Condition.open(name)).toThrow(NotFoundError)
    expect(() => RLock.open(lockName)).toThrow(NotFoundError)
  })

  it('keeps a persistent condition and its own RLock until unlink()', () => {
    const name = uniqueName()
    const condition = Condition.open(name, { create: { persistent: true } })
    const lockName = condition.lock.name
    expect(condition.lock.persistent).toBe(true)
    condition.close()
    const again = Condition.open(name)
    expect(again.lock.name).toBe(lockName)
    again.unlink()
    again.close()
    expect(() => Condition.open(name)).toThrow(NotFoundError)
    expect(() => RLock.open(lockName)).toThrow(NotFoundError)
  })

  it('rejects a pending wait with ClosedError when closed', async () => {
    const condition = new Condition()
    await condition.acquire()
    const waiting = condition.wait()
    condition.close()
    await expect(waiting).rejects.toBeInstanceOf(ClosedError)
  })

  it('rejects with ClosedError a wait closed while it takes the lock back, and leaves the lock not held', async () => {
    for (const given of [undefined, new Lock()]) {
      const condition = given === undefined ? new Condition() : new Condition(given)
      // Another object of the same condition: its own lock object, the same lock.
      const other = track(Condition.from(condition.handle))
      await condition.acquire()
      const waiting = condition.wait({ timeout: 20 })
      const refused = expect(waiting).rejects.toBeInstanceOf(ClosedError)
      await tick(5)
      other.acquireSync()
      await tick(100) // the wait timed out and now waits to take the lock back
      condition.close()
      await tick(20)
      other.release()
      await refused
      if (given !== undefined) {
        // Taken back after the close, then given up: the lock the user gave is free again.
        expect(given.owned).toBe(false)
        expect(given.tryAcquire()).toBe(true)
        given.release()
        given.close()
      }
      expect(other.tryAcquire()).toBe(true)
      other.release()
    }
  })

  it('prints its lock and waiters', () => {
    const condition = track(new Condition({ name: uniqueName('inspect') }))
    expect(inspect(condition, { breakLength: Number.POSITIVE_INFINITY })).toBe(
      `Condition { name: '${condition.name}', lock: 'RLock "${condition.lock.name}"', waiting: 0 }`,
    )
  })
})
