import { inspect } from 'node:util'
import { TRANSFER } from '@ipc/core/internal'
import { expectNoSegment, sleep, uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { ClosedError, ExistsError, IncompatibleError, NotFoundError, TimeoutError, ValueError } from './errors.js'
import { headerIndex, MAX_VALUE, ONE, W_MAX_SLOT, W_SLEEPERS, W_STATE } from './layout.js'
import { Lock, RLock } from './lock.js'
import { Semaphore } from './semaphore.js'
import { counterOf } from './semaphore-base.js'

const open: { close(): void }[] = []
function track<T extends { close(): void }>(object: T): T {
  open.push(object)
  return object
}
afterEach(() => {
  for (const object of open.splice(0)) object.close()
})

describe('new Semaphore()', () => {
  it('starts with one permit by default', () => {
    const sem = track(new Semaphore())
    expect(sem.value).toBe(1)
  })

  it('rejects values that are not integers from 0 to 8388607 with RangeError', () => {
    for (const value of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_VALUE + 1]) {
      expect(() => new Semaphore(value)).toThrow(RangeError)
    }
    expect(() => new Semaphore(-1)).toThrow('The "value" argument must be an integer from 0 to 8388607, received -1')
    expect(() => new Semaphore('3' as unknown as number)).toThrow(TypeError)
  })

  it('refuses an option name it does not know, naming the one meant', () => {
    expect(() => new Semaphore(1, { reclaim: false, persistant: true } as never)).toThrow(
      /Unknown option "persistant" in the options\. Did you mean "persistent"\?/,
    )
    expect(() => new Lock({ nme: 'x' } as never)).toThrow(/Did you mean "name"/)
    const name = uniqueName('misspelled')
    expect(() => Semaphore.open(name, { create: { vaule: 4 } } as never)).toThrow(/Did you mean "value"/)
    expect(() => Semaphore.open(name)).toThrow(NotFoundError)
    const sem = track(new Semaphore(1))
    expect(() => sem.acquireSync({ timout: 10 } as never)).toThrow(/Did you mean "timeout"/)
    expect(sem.value).toBe(1)
    // An RLock this object holds is entered again without waiting: its options are checked all the same.
    const rlock = track(new RLock())
    rlock.acquireSync()
    expect(() => rlock.acquireSync({ timout: 10 } as never)).toThrow(/Did you mean "timeout"/)
    expect(() => rlock.withLockSync(() => 1, { timeOut: 10 } as never)).toThrow(/Did you mean "timeout"/)
    // Neither counted a level: one release frees it.
    rlock.release()
    expect(rlock.held).toBe(false)
  })

  it('accepts 0 and the largest value', () => {
    expect(track(new Semaphore(0)).value).toBe(0)
    expect(track(new Semaphore(MAX_VALUE)).value).toBe(MAX_VALUE)
  })

  it('throws ExistsError when the name is taken, and leaves the first one working', () => {
    const name = uniqueName()
    const sem = track(new Semaphore(2, { name }))
    expect(() => new Semaphore(1, { name })).toThrow(ExistsError)
    expect(sem.name).toBe(name)
    expect(sem.value).toBe(2)
  })

  it('removes the segment when the last object closes', () => {
    const name = uniqueName()
    const sem = new Semaphore(1, { name })
    const other = Semaphore.open(name)
    sem.close()
    expect(other.value).toBe(1)
    other.close()
    expectNoSegment(name)
  })
})

describe('Semaphore.open() and Semaphore.from()', () => {
  it('attaches to the same permits', () => {
    const name = uniqueName()
    const sem = track(new Semaphore(2, { name }))
    const other = track(Semaphore.open(name))
    expect(other.tryAcquire()).toBe(true)
    expect(sem.value).toBe(1)
    const third = track(Semaphore.from(sem.handle))
    expect(third.value).toBe(1)
  })

  it('throws NotFoundError for a missing name', () => {
    expect(() => Semaphore.open(uniqueName())).toThrow(NotFoundError)
  })

  it('throws IncompatibleError when the name belongs to a Lock', () => {
    const lock = track(new Lock({ name: uniqueName() }))
    expect(() => Semaphore.open(lock.name)).toThrow(IncompatibleError)
  })

  it('rejects the handle of another kind with TypeError', () => {
    const lock = track(new Lock())
    expect(() => Semaphore.from(lock.handle)).toThrow(TypeError)
  })

  it('describes itself for Process with a module that exports the class', async () => {
    const sem = track(new Semaphore(3))
    const descriptor = sem[TRANSFER]()
    expect(descriptor.export).toBe('Semaphore')
    expect(descriptor.handle).toEqual({ kind: 'semaphore', name: sem.name })
    const module = (await import(descriptor.module)) as { Semaphore: typeof Semaphore }
    const revived = track(module.Semaphore.from(descriptor.handle))
    expect(revived.value).toBe(3)
  })
})

describe('Semaphore#acquire()', () => {
  it("waits for a timeout above setTimeout's limit (2 ** 31 - 1 ms) instead of giving up after 1 ms", async () => {
    const sem = track(new Semaphore(0))
    const controller = new AbortController()
    let settled: unknown = 'pending'
    const pending = sem.acquire({ timeout: 2 ** 31 + 5, signal: controller.signal }).then(
      (took) => {
        settled = took
      },
      () => {},
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(settled).toBe('pending')
    sem.release()
    await pending
    expect(settled).toBe(true)
  })

  it('ignores an abort after the permit was granted', async () => {
    const sem = track(new Semaphore(1))
    const controller = new AbortController()
    const got = sem.acquire({ signal: controller.signal })
    controller.abort()
    await expect(got).resolves.toBe(true)
    expect(sem.value).toBe(0)
  })
})

describe('Semaphore fairness', () => {
  it('lets a releaser barge in at first, then hands permits to waiters oldest first', async () => {
    const sem = track(new Semaphore(0, { name: uniqueName() }))
    const [a, b, c] = [0, 1, 2].map(() => track(Semaphore.open(sem.name))) as [Semaphore, Semaphore, Semaphore]
    const order: string[] = []
    const pa = a.acquire().then(() => order.push('a'))
    await sleep(3)
    const pb = b.acquire().then(() => order.push('b'))
    await sleep(3)
    const pc = c.acquire().then(() => order.push('c'))
    await sleep(5)
    // Normal mode: a permit released now goes to whoever takes it first.
    sem.release()
    expect(sem.tryAcquire()).toBe(true)
    // The woken waiter found nothing after waiting over 2 ms: handoff mode.
    while (!counterOf(sem).handoff) await sleep(1)
    sem.release()
    expect(sem.tryAcquire()).toBe(false)
    await pa
    sem.release()
    expect(sem.tryAcquire()).toBe(false)
    await pb
    sem.release()
    await pc
    expect(order).toEqual(['a', 'b', 'c'])
    // The last waiter left: back to normal mode.
    expect(counterOf(sem).handoff).toBe(false)
    sem.release()
    expect(sem.tryAcquire()).toBe(true)
  })
})

describe('Semaphore#acquireSync()', () => {
  it('returns true with a free permit and false after the timeout', () => {
    const sem = track(new Semaphore(1))
    expect(sem.acquireSync()).toBe(true)
    expect(sem.acquireSync({ timeout: 20 })).toBe(false)
    expect(sem.acquireSync({ timeout: 0 })).toBe(false)
    expect(sem.value).toBe(0)
  })

  it('counts exactly after a wait that found no permit, whose next CAS starts from a guessed state', () => {
    const sem = track(new Semaphore(0))
    const other = track(Semaphore.from(sem.handle))
    // Its tries found 0: the next one guesses "one permit given" (permit-counter.ts, #expectGive).
    expect(sem.acquireSync({ timeout: 5 })).toBe(false)
    // Two given elsewhere: the guess is wrong, the CAS fails and the take goes on from the real value.
    other.release(2)
    expect(sem.acquireSync({ timeout: 0 })).toBe(true)
    expect(sem.value).toBe(1)
    expect(sem.acquireSync({ timeout: 0 })).toBe(true)
    expect(sem.acquireSync({ timeout: 5 })).toBe(false)
    // A release from the guess (wrong: still 0) adds exactly one.
    sem.release()
    expect(sem.value).toBe(1)
    expect(other.acquireSync({ timeout: 0 })).toBe(true)
    expect(sem.value).toBe(0)
  })

  it('throws signal.reason for an aborted signal', () => {
    const sem = track(new Semaphore(1))
    const reason = new Error('stop')
    expect(() => sem.acquireSync({ signal: AbortSignal.abort(reason) })).toThrow(reason)
    expect(sem.value).toBe(1)
  })
})

describe('Semaphore#release()', () => {
  it('returns once it gave its permit, even when the wake-up after meets a scribbled word; the next call throws', () => {
    const sem = track(new Semaphore(0))
    const counter = counterOf(sem)
    const base = counter.segment.dataOffset
    // A waiter seems asleep, and the slot scan limit is out of range: the wake-up after the give meets it.
    Atomics.store(counter.i32, headerIndex(base, W_SLEEPERS), 1)
    Atomics.store(counter.i32, headerIndex(base, W_MAX_SLOT), 1000)
    // Before: CorruptError from a release that had given its permit (a caller would release again).
    sem.release()
    expect(Math.floor(Atomics.load(counter.i32, headerIndex(base, W_STATE)) / ONE)).toBe(1)
    expect(() => sem.release()).toThrow(/MAX_SLOT is 1000/)
    Atomics.store(counter.i32, headerIndex(base, W_MAX_SLOT), 1)
    Atomics.store(counter.i32, headerIndex(base, W_SLEEPERS), 0)
  })

  it('rejects n that is not an integer from 1 with RangeError', () => {
    const sem = track(new Semaphore(0))
    for (const n of [0, -1, 1.5, Number.NaN]) expect(() => sem.release(n)).toThrow(RangeError)
    expect(() => sem.release(0)).toThrow('The "n" argument must be an integer from 1 to 8388607, received 0')
    expect(sem.value).toBe(0)
  })

  it('throws ValueError past the largest value and changes nothing', () => {
    const sem = track(new Semaphore(MAX_VALUE - 1))
    expect(() => sem.release(2)).toThrow(ValueError)
    expect(sem.value).toBe(MAX_VALUE - 1)
    sem.release()
    expect(sem.value).toBe(MAX_VALUE)
  })

  it('close() rejects pending acquires with ClosedError, the first one without a timeout or signal too, and takes no permit', async () => {
    const sem = track(new Semaphore(0))
    const other = track(Semaphore.open(sem.name))
    const first = other.acquire()
    const second = other.acquire({ timeout: 10_000 })
    await new Promise((resolve) => setTimeout(resolve, 20))
    other.close()
    await expect(first).rejects.toThrow(ClosedError)
    await expect(second).rejects.toThrow(ClosedError)
    sem.release()
    expect(sem.value).toBe(1)
  })

  it('serves a first acquire without a timeout after the one behind it timed out', async () => {
    const sem = track(new Semaphore(0))
    const other = track(Semaphore.open(sem.name))
    const first = other.acquire()
    expect(await other.acquire({ timeout: 30 })).toBe(false)
    sem.release()
    expect(await first).toBe(true)
    expect(sem.value).toBe(0)
  })

  it('throws ClosedError after close', () => {
    const sem = new Semaphore(0)
    sem.close()
    expect(() => sem.release()).toThrow(ClosedError)
    expect(() => sem.tryAcquire()).toThrow(ClosedError)
    expect(() => sem.acquireSync()).toThrow('Cannot acquire semaphore')
  })
})

describe('Semaphore#withPermit()', () => {
  it('throws TimeoutError when no permit comes in time, without running the function', async () => {
    const sem = track(new Semaphore(0))
    let ran = false
    await expect(
      sem.withPermit(
        () => {
          ran = true
        },
        { timeout: 20 },
      ),
    ).rejects.toThrow(TimeoutError)
    expect(ran).toBe(false)
  })

  it('gives the permit back once another object untags the state word, without blocking the event loop', async () => {
    const sem = track(new Semaphore(1))
    const other = track(Semaphore.open(sem.name))
    const { i32, segment } = counterOf(sem)
    const stateIndex = segment.dataOffset / 4 + W_STATE
    let ticks = 0
    const ticker = setInterval(() => ticks++, 1)
    try {
      await sem.withPermit(async () => {
        // `other` (alive, in this process) is "in the middle of an operation": its tag stays 30 ms.
        const state = Atomics.load(i32, stateIndex)
        Atomics.store(i32, stateIndex, state | (counterOf(other).slot + 1))
        setTimeout(() => Atomics.store(i32, stateIndex, state), 30)
      })
    } finally {
      clearInterval(ticker)
    }
    expect(sem.value).toBe(1)
    expect(counterOf(sem).held).toBe(0)
    expect(ticks).toBeGreaterThan(5)
  })
})

describe('Semaphore#permit()', () => {
  it('gives the permit back with using, and release() is idempotent', async () => {
    const sem = track(new Semaphore(1))
    const outer = await sem.permit()
    {
      using inner = outer
      inner.release()
      expect(sem.value).toBe(1)
    }
    outer.release()
    expect(sem.value).toBe(1)
    expect(outer.released).toBe(true)
  })

  it('works with try/finally (plain Node 20)', async () => {
    const sem = track(new Semaphore(1))
    const permit = await sem.permit()
    try {
      expect(sem.value).toBe(0)
    } finally {
      permit.release()
    }
    expect(sem.value).toBe(1)
  })

  it('does nothing when released after close (close gave it back)', async () => {
    const sem = new Semaphore(1, { name: uniqueName() })
    const other = track(Semaphore.open(sem.name))
    const permit = await sem.permit()
    expect(other.value).toBe(0)
    sem.close()
    expect(other.value).toBe(1)
    permit.release()
    expect(other.value).toBe(1)
  })
})

describe('Semaphore#close()', () => {
  it('gives back the permits the object holds, and is idempotent', () => {
    const name = uniqueName()
    const sem = new Semaphore(3, { name })
    const other = track(Semaphore.open(name))
    expect(sem.tryAcquire()).toBe(true)
    expect(sem.tryAcquire()).toBe(true)
    expect(other.value).toBe(1)
    sem.close()
    sem.close()
    sem[Symbol.dispose]()
    expect(sem.closed).toBe(true)
    expect(other.value).toBe(3)
  })

  it('leaves permits released by another object alone', () => {
    const name = uniqueName()
    const sem = new Semaphore(1, { name })
    const other = track(Semaphore.open(name))
    expect(sem.tryAcquire()).toBe(true)
    other.release()
    sem.close()
    // sem held one: it comes back; other's release added one.
    expect(other.value).toBe(2)
  })
})

describe('Semaphore inspection', () => {
  it('shows the name and the value', () => {
    const sem = track(new Semaphore(2, { name: uniqueName() }))
    expect(inspect(sem)).toBe(`Semaphore { name: '${sem.name}', value: 2 }`)
    sem.close()
    expect(inspect(sem)).toBe(`Semaphore { name: '${sem.name}', closed: true }`)
  })
})

describe('Semaphore: two waits of one object', () => {
  it('a sync acquire that times out beside a pending async acquire does not take its wake-up away', async () => {
    const sem = new Semaphore(0)
    open.push(sem)
    const giver = Semaphore.from(sem.handle)
    open.push(giver)
    const waiting = sem.acquire()
    await sleep(20)
    expect(sem.acquireSync({ timeout: 5 })).toBe(false)
    await sleep(5)
    const started = performance.now()
    giver.release()
    expect(await waiting).toBe(true)
    // Woken by the release, not found by the next 100 ms dead-peer look.
    expect(performance.now() - started).toBeLessThan(50)
  })
})
