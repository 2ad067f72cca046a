import { inspect } from 'node:util'
import { Segment } from '@ipc/core/internal'
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import {
  ClosedError,
  CorruptError,
  ExistsError,
  IncompatibleError,
  NotFoundError,
  TimeoutError,
  ValueError,
} from './errors.js'
import { Lock, RLock } from './lock.js'

const open: { close(): void }[] = []
function track<T extends { close(): void }>(object: T): T {
  open.push(object)
  return object
}
afterEach(() => {
  for (const object of open.splice(0)) object.close()
})

describe('Lock#acquire() and Lock#release()', () => {
  it('is not reentrant: acquireSync by the holder throws ValueError at once, tryAcquire returns false', () => {
    const lock = track(new Lock())
    expect(lock.acquireSync()).toBe(true)
    const started = performance.now()
    expect(() => lock.acquireSync({ timeout: 5000 })).toThrow(ValueError)
    expect(() => lock.acquireSync()).toThrow(`Cannot acquire lock "${lock.name}": this thread holds it already`)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(lock.tryAcquire()).toBe(false)
    expect(lock.owned).toBe(true)
    lock.release()
    expect(lock.locked).toBe(false)
  })

  it('makes an async acquire by the holder wait until another task of this thread releases it', async () => {
    const lock = track(new Lock())
    await lock.acquire()
    let settled = false
    const again = lock.acquire({ timeout: 5000 }).then((got) => {
      settled = true
      return got
    })
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(settled).toBe(false)
    lock.release()
    await expect(again).resolves.toBe(true)
    expect(lock.owned).toBe(true)
    lock.release()
  })

  it('resolves false when the timeout passes while another object holds it', async () => {
    const lock = track(new Lock({ name: uniqueName() }))
    const other = track(Lock.open(lock.name))
    lock.acquireSync()
    await expect(other.acquire({ timeout: 0 })).resolves.toBe(false)
    expect(other.acquireSync({ timeout: 20 })).toBe(false)
    lock.release()
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

  it('is taken over with previousOwnerDied when its holder closes holding it', () => {
    const lock = new Lock({ name: uniqueName() })
    const other = track(Lock.open(lock.name))
    lock.acquireSync()
    lock.close()
    expect(other.locked).toBe(false)
    expect(() => lock.release()).toThrow(ClosedError)
    expect(other.tryAcquire()).toBe(true)
    expect(other.previousOwnerDied).toBe(true)
    other.release()
    expect(other.previousOwnerDied).toBe(false)
    expect(other.acquireSync()).toBe(true)
    expect(other.previousOwnerDied).toBe(false)
    other.release()
  })

  it('rejects a pending acquire with ClosedError when the object closes', async () => {
    const lock = track(new Lock({ name: uniqueName() }))
    const other = Lock.open(lock.name)
    lock.acquireSync()
    const waiting = other.acquire()
    await new Promise((resolve) => setTimeout(resolve, 10))
    other.close()
    await expect(waiting).rejects.toThrow(ClosedError)
    lock.release()
  })
})

describe('RLock', () => {
  it('lets its holder acquire again and needs as many releases', async () => {
    const lock = track(new RLock({ name: uniqueName() }))
    const other = track(RLock.open(lock.name))
    expect(lock.acquireSync()).toBe(true)
    expect(lock.acquireSync()).toBe(true)
    expect(lock.tryAcquire()).toBe(true)
    expect(lock.withLockSync(() => lock.acquireSync())).toBe(true)
    for (let i = 0; i < 3; i++) {
      lock.release()
      expect(lock.locked).toBe(true)
      expect(other.tryAcquire()).toBe(false)
    }
    lock.release()
    expect(lock.locked).toBe(false)
    expect(() => lock.release()).toThrow(`Cannot release rlock "${lock.name}": it is not locked`)
    expect(other.tryAcquire()).toBe(true)
    expect(() => lock.release()).toThrow(ValueError)
    other.release()
  })

  it('nests withLock calls of the same object, and an acquire inside them enters again', async () => {
    const lock = track(new RLock())
    const inner = await lock.withLock(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1))
      expect(await lock.acquire({ timeout: 0 })).toBe(true)
      lock.release()
      return lock.withLock(() => lock.withLockSync(() => lock.owned))
    })
    expect(inner).toBe(true)
    expect(lock.locked).toBe(false)
  })

  it('counts a sync re-entry made while its own async acquire is still resolving', async () => {
    const lock = track(new RLock())
    const pending = lock.acquire()
    expect(lock.acquireSync()).toBe(true)
    await expect(pending).resolves.toBe(true)
    lock.release()
    expect(lock.locked).toBe(true)
    lock.release()
    expect(lock.locked).toBe(false)
  })

  it('is another kind than Lock', () => {
    const rlock = track(new RLock({ name: uniqueName() }))
    expect(() => Lock.open(rlock.name)).toThrow(IncompatibleError)
    expect(() => Lock.from(rlock.handle)).toThrow(TypeError)
    const lock = track(new Lock({ name: uniqueName() }))
    expect(() => RLock.open(lock.name)).toThrow(IncompatibleError)
    expect(rlock.handle).toEqual({ kind: 'rlock', name: rlock.name })
    expect(RLock.from(rlock.handle).close()).toBeUndefined()
  })
})

describe('Lock.open(name, { create })', () => {
  it('creates the lock when the name is free and attaches when it exists', () => {
    const name = uniqueName()
    expect(() => Lock.open(name)).toThrow(NotFoundError)
    const first = track(Lock.open(name, { create: true }))
    const second = track(Lock.open(name, { create: { persistent: true } }))
    expect(first.acquireSync()).toBe(true)
    expect(second.tryAcquire()).toBe(false)
    expect(() => new Lock({ name })).toThrow(ExistsError)
    expect(() => RLock.open(name, { create: true })).toThrow(IncompatibleError)
    first.release()
  })

  it('keeps a persistent lock after its last object closes, until unlink', () => {
    const name = uniqueName()
    const lock = new Lock({ name, persistent: true })
    lock.close()
    const again = Lock.open(name)
    expect(again.tryAcquire()).toBe(true)
    again.release()
    again.unlink()
    again.close()
    expect(() => Lock.open(name)).toThrow(NotFoundError)
  })

  it('rejects options of the wrong type', () => {
    expect(() => Lock.open(uniqueName(), { create: 'yes' as never })).toThrow(TypeError)
    expect(() => new RLock({ persistent: 1 as never })).toThrow(TypeError)
  })
})

describe('Lock#withLock()', () => {
  it("throws core's TimeoutError when the lock is not free in time, and does not run fn", async () => {
    const lock = track(new Lock({ name: uniqueName() }))
    const other = track(Lock.open(lock.name))
    lock.acquireSync()
    let ran = false
    const run = () => {
      ran = true
    }
    await expect(other.withLock(run, { timeout: 20 })).rejects.toBeInstanceOf(TimeoutError)
    expect(() => other.withLockSync(run, { timeout: 20 })).toThrow(TimeoutError)
    await expect(other.permit({ timeout: 0 })).rejects.toThrow(
      `Cannot acquire lock "${lock.name}": it was not free within 0 ms`,
    )
    expect(ran).toBe(false)
    lock.release()
  })

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

describe('a corrupt lock', () => {
  it('throws CorruptError when its owner word names a slot outside the table, and IncompatibleError without its magic', () => {
    const lock = track(new Lock({ name: uniqueName() }))
    const segment = Segment.open({ kind: 'lock', version: 2 }, lock.name)
    try {
      const state = segment.dataOffset / 4
      Atomics.store(segment.i32, state, (201 << 22) | 1234) // slot 200: the table has 128
      expect(() => lock.tryAcquire()).toThrow(CorruptError)
      expect(() => lock.acquireSync({ timeout: 10 })).toThrow(CorruptError)
      Atomics.store(segment.i32, state, 0)
      Atomics.store(segment.i32, state + 4, 0) // the magic
      expect(() => Lock.open(lock.name)).toThrow(IncompatibleError)
    } finally {
      segment.close()
    }
  })
})

describe('Lock inspection', () => {
  it('shows the owner pid, or null', () => {
    const lock = track(new Lock({ name: uniqueName() }))
    expect(inspect(lock)).toBe(`Lock { name: '${lock.name}', owner: null }`)
    lock.acquireSync()
    expect(inspect(lock)).toBe(`Lock { name: '${lock.name}', owner: ${process.pid} }`)
    lock.close()
    expect(inspect(lock)).toBe(`Lock { name: '${lock.name}', closed: true }`)
  })
})

describe('acquire() and release() in one synchronous step', () => {
  it.each([Lock, RLock])('%o: a release before the acquire settles leaves %o free for others', async (Class) => {
    const lock = track(new Class())
    const other = track(Class.from(lock.handle))
    // The uncontended acquire takes the word inside the call; the release comes before its promise settles.
    const acquiring = lock.acquire()
    lock.release()
    expect(await acquiring).toBe(true)
    expect(lock.locked).toBe(false)
    expect(other.tryAcquire()).toBe(true)
    other.release()
  })
})

describe('RLock#withLock() re-entry', () => {
  it('is for the hold that made the scope: a timer set inside it waits for a later holder', async () => {
    const rlock = track(new RLock())
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
    let inside = 0
    let most = 0
    const enter = () => {
      inside++
      most = Math.max(most, inside)
    }
    let late: Promise<void> | undefined
    await rlock.withLock(() => {
      // Runs after this hold ended, still inside its async scope.
      setTimeout(() => {
        late = rlock.withLock(async () => {
          enter()
          await sleep(30)
          inside--
        })
      }, 20)
    })
    await rlock.withLock(async () => {
      enter()
      await sleep(80)
      inside--
    })
    await sleep(10)
    await late
    expect(most).toBe(1)
  })
})

describe('LockBase#[RELEASE_SAVE]() and #[ACQUIRE_RESTORE]() (for a Condition)', () => {
  const RELEASE_SAVE = Symbol.for('@ipc/semaphore/release-save')
  const ACQUIRE_RESTORE = Symbol.for('@ipc/semaphore/acquire-restore')
  interface Restorable {
    [RELEASE_SAVE](): object
    [ACQUIRE_RESTORE](saved: object, sync: boolean): void | Promise<void>
  }

  it('releases every level of an RLock at once and restores the depth, sync and async', async () => {
    const lock = track(new RLock({ name: uniqueName() }))
    const other = track(RLock.open(lock.name))
    const restorable = lock as unknown as Restorable
    lock.acquireSync()
    lock.acquireSync()
    lock.acquireSync()
    let saved = restorable[RELEASE_SAVE]()
    expect(lock.locked).toBe(false)
    expect(other.tryAcquire()).toBe(true)
    other.release()
    restorable[ACQUIRE_RESTORE](saved, true)
    lock.release()
    lock.release()
    expect(lock.owned).toBe(true)
    saved = restorable[RELEASE_SAVE]()
    await restorable[ACQUIRE_RESTORE](saved, false)
    expect(lock.owned).toBe(true)
    lock.release()
    expect(lock.locked).toBe(false)
  })

  it('throws ValueError when the object does not hold the lock', () => {
    const lock = track(new Lock())
    expect(() => (lock as unknown as Restorable)[RELEASE_SAVE]()).toThrow(ValueError)
  })
})
