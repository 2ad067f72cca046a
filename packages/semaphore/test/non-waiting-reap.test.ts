import { expectNoSegment, type SpawnedChild, spawnChild } from '@ipc/test-utils'
import { afterAll, describe, expect, it } from 'vitest'
import { S_TICKET, slotIndex } from '../src/layout.js'
import { Semaphore } from '../src/semaphore.js'
import type { SemaphoreBase } from '../src/semaphore-base.js'
import { counterOf } from '../src/semaphore-base.js'
import { closeAfterEach } from './tracked.js'

// Calls that do not wait (tryAcquire, acquire with timeout 0 or shorter than a
// waiter's dead-peer look, .value) meet a real child SIGKILLed while it held a
// permit or waited in line under HANDOFF: they must find it dead themselves.
const HOLD = new URL('./fixtures/hold.mjs', import.meta.url)
const SYNC_WAITER = new URL('./fixtures/sync-waiter.mjs', import.meta.url)

const tracked = closeAfterEach()
/** Names of every semaphore made here: all gone once closed (the children are dead by then). */
const names: string[] = []
const track = <T extends SemaphoreBase>(sem: T): T => {
  names.push(sem.name)
  return tracked(sem)
}
afterAll(() => {
  for (const name of names) expectNoSegment(name)
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(condition: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms
  while (!condition()) {
    if (performance.now() > end) throw new Error('condition not met in time')
    await sleep(2)
  }
}

function slotOfPid(sem: SemaphoreBase, pid: number): number {
  const { segment } = counterOf(sem)
  for (let s = 0; s < 128; s++) if (segment.slotOwner(s)?.pid === pid) return s
  throw new Error(`no slot of process ${pid}`)
}

async function killed(child: SpawnedChild): Promise<void> {
  child.child.kill('SIGKILL')
  expect(await child.exited, child.stderr()).toBe(-9)
}

/** Each way to ask for a permit without waiting long; true when it took one. */
const TAKES: Record<string, (sem: Semaphore) => boolean | Promise<boolean>> = {
  'tryAcquire()': (sem) => sem.tryAcquire(),
  'acquire({ timeout: 0 })': (sem) => sem.acquire({ timeout: 0 }),
  'acquire({ timeout: 20 })': (sem) => sem.acquire({ timeout: 20 }),
  'acquireSync({ timeout: 0 })': (sem) => sem.acquireSync({ timeout: 0 }),
  'acquireSync({ timeout: 20 })': (sem) => sem.acquireSync({ timeout: 20 }),
}

describe('a holder SIGKILLed while it holds a permit', () => {
  it.each(Object.keys(TAKES))(
    '%s of another object gets the dead holder’s permit at once',
    {
      timeout: 20_000,
    },
    async (take) => {
      const sem = track(new Semaphore(1))
      const other = track(Semaphore.from(sem.handle))
      const child = spawnChild(HOLD, [JSON.stringify(sem.handle), '1'])
      await child.waitFor('holding', 10_000)
      await killed(child)
      // Before the fix: false (only a waiter looking every 100 ms reaped it).
      expect(await TAKES[take]!(other)).toBe(true)
      expect(sem.tryAcquire()).toBe(false)
      other.release()
      expect(sem.value).toBe(1)
    },
  )

  it('.value counts the dead holder’s permits as free', { timeout: 20_000 }, async () => {
    const sem = track(new Semaphore(3))
    const child = spawnChild(HOLD, [JSON.stringify(sem.handle), '3'])
    await child.waitFor('holding', 10_000)
    await killed(child)
    // Before the fix: 0 until some waiter reaped.
    expect(sem.value).toBe(3)
    expect(sem.tryAcquire()).toBe(true)
    sem.release()
  })
})

describe('a waiter SIGKILLed in line under HANDOFF', () => {
  /** `sem` holds its only permit; a child blocked in acquireSync set HANDOFF and was killed; `sem` released. */
  async function deadWaiterUnderHandoff(): Promise<Semaphore> {
    const sem = track(new Semaphore(1))
    const counter = counterOf(sem)
    expect(sem.tryAcquire()).toBe(true)
    const child = spawnChild(SYNC_WAITER, [JSON.stringify(sem.handle)])
    await child.waitFor('WAITING', 10_000)
    const slot = slotOfPid(sem, child.child.pid as number)
    const ticket = slotIndex(counter.segment.dataOffset, slot, S_TICKET)
    await until(() => Atomics.load(counter.i32, ticket) !== 0, 10_000)
    await until(() => counter.handoff, 10_000) // it waited past 2 ms
    await killed(child)
    sem.release()
    // What the reviewer found: a free permit reserved for a dead ticket.
    expect(sem.value).toBe(1)
    expect(counter.handoff).toBe(true)
    expect(Atomics.load(counter.i32, ticket)).not.toBe(0)
    return sem
  }

  it.each(Object.keys(TAKES))('%s of another object takes the free permit', { timeout: 20_000 }, async (take) => {
    const sem = await deadWaiterUnderHandoff()
    const other = track(Semaphore.from(sem.handle))
    // Before the fix: false, every time (only waiters dropped a dead ticket).
    expect(await TAKES[take]!(other)).toBe(true)
    expect(counterOf(sem).handoff).toBe(false)
    other.release()
    expect(sem.tryAcquire()).toBe(true)
    sem.release()
  })

  it('tryAcquire() of the object that released takes it too', { timeout: 20_000 }, async () => {
    const sem = await deadWaiterUnderHandoff()
    expect(sem.tryAcquire()).toBe(true)
    sem.release()
  })
})

describe('the cost of looking for dead objects', () => {
  it('a tryAcquire that succeeds never looks; failing ones look at most every 50 ms', () => {
    const sem = track(new Semaphore(1))
    const { segment } = counterOf(sem)
    const reap = segment.reap.bind(segment)
    let looks = 0
    segment.reap = () => {
      looks++
      return reap()
    }
    for (let i = 0; i < 1000; i++) {
      expect(sem.tryAcquire()).toBe(true)
      sem.release()
    }
    expect(looks).toBe(0)
    expect(sem.tryAcquire()).toBe(true)
    const other = track(Semaphore.from(sem.handle))
    const { segment: otherSegment } = counterOf(other)
    const otherReap = otherSegment.reap.bind(otherSegment)
    otherSegment.reap = () => {
      looks++
      return otherReap()
    }
    const start = performance.now()
    let calls = 0
    while (performance.now() - start < 300) {
      expect(other.tryAcquire()).toBe(false)
      expect(other.value).toBe(0)
      calls++
    }
    const elapsed = performance.now() - start
    expect(calls).toBeGreaterThan(100)
    expect(looks).toBeGreaterThanOrEqual(1)
    expect(looks).toBeLessThanOrEqual(Math.floor(elapsed / 50) + 1)
    sem.release()
  })
})
