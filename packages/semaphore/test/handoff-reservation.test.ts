import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { HANDOFF, headerIndex, ONE, S_TICKET, slotIndex, W_NEXT_TICKET, W_STATE } from '../src/layout.js'
import { HANDOFF_GRACE_MS } from '../src/permit-counter.js'
import { Semaphore } from '../src/semaphore.js'
import type { SemaphoreBase } from '../src/semaphore-base.js'
import { counterOf } from '../src/semaphore-base.js'
import { closeAfterEach } from './tracked.js'

// Real shared memory: a child waiter stopped by SIGSTOP, scribbled tickets,
// and objects attached in this process.
const WAITER = new URL('./fixtures/stoppable-waiter.mjs', import.meta.url)

const track = closeAfterEach()

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function words(sem: SemaphoreBase) {
  const counter = counterOf(sem)
  return { i32: counter.i32, base: counter.segment.dataOffset, segment: counter.segment, counter }
}

function slotOfPid(sem: SemaphoreBase, pid: number): number {
  const { segment } = words(sem)
  for (let s = 0; s < 128; s++) if (segment.slotOwner(s)?.pid === pid) return s
  throw new Error(`no slot of process ${pid}`)
}

async function until(condition: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms
  while (!condition()) {
    if (performance.now() > end) throw new Error('condition not met in time')
    await sleep(2)
  }
}

describe('a ticket that keeps a free permit reserved under HANDOFF', () => {
  it('a waiter stopped by SIGSTOP with the oldest ticket delays others about HANDOFF_GRACE_MS, not forever', {
    timeout: 30_000,
  }, async () => {
    const sem = track(new Semaphore(1))
    const other = track(Semaphore.from(sem.handle))
    const third = track(Semaphore.from(sem.handle))
    const { i32, base, counter } = words(sem)
    sem.acquireSync()
    const child = spawnChild(WAITER, [JSON.stringify(sem.handle)])
    const pid = child.child.pid as number
    let stopped = false
    try {
      await child.waitFor('WAITING', 10_000)
      const slot = slotOfPid(sem, pid)
      // Its ticket is in shared memory: it waits, and it is the oldest.
      await until(() => Atomics.load(i32, slotIndex(base, slot, S_TICKET)) !== 0, 10_000)
      process.kill(pid, 'SIGSTOP')
      stopped = true
      const started = performance.now()
      const got = other.acquire({ timeout: 5_000 })
      await until(() => counter.handoff, 2_000) // `other` waited past STARVE_MS
      const released = performance.now()
      sem.release()
      expect(await got).toBe(true)
      const ms = performance.now() - released
      console.log(
        `stopped waiter: the free permit waited ${ms.toFixed(0)} ms (started ${(released - started).toFixed(0)} ms before)`,
      )
      // One look interval to notice plus the grace (before the fix: false after 5 s).
      expect(ms).toBeLessThan(2 * HANDOFF_GRACE_MS + 400)
      other.release()
      // Only the stopped waiter keeps a ticket, and `other` skipped it: its
      // leave (right after the acquire resolved) takes HANDOFF down.
      await until(() => !counter.handoff, 1_000)
      expect(third.tryAcquire()).toBe(true)
      third.release()
      process.kill(pid, 'SIGCONT')
      stopped = false
      // Running again, it still gets its permit.
      await child.waitFor('GOT', 10_000)
      expect(child.stdout()).toMatch(/GOT true/)
      expect(await child.exited).toBe(0)
      expect(sem.value).toBe(1)
    } finally {
      if (stopped) process.kill(pid, 'SIGCONT')
    }
  })

  it('a TICKET scribbled into a live idle object’s slot: the waiter takes the free permit', {
    timeout: 20_000,
  }, async () => {
    const sem = track(new Semaphore(1))
    const idle = track(Semaphore.from(sem.handle))
    const waiter = track(Semaphore.from(sem.handle))
    const { i32, base, counter } = words(sem)
    const next = Atomics.load(i32, headerIndex(base, W_NEXT_TICKET))
    // Older than any real ticket; its slot is alive, so reap() never calls it corrupt.
    Atomics.store(i32, slotIndex(base, counterOf(idle).slot, S_TICKET), (next - 100) | 0 || 1)
    sem.acquireSync()
    const got = waiter.acquire({ timeout: 3_000 })
    await until(() => counter.handoff, 2_000) // the waiter waited past STARVE_MS
    const released = performance.now()
    sem.release()
    expect(await got).toBe(true) // before the fix: false after 3 s
    expect(performance.now() - released).toBeLessThan(2 * HANDOFF_GRACE_MS + 400)
    waiter.release()
    Atomics.store(i32, slotIndex(base, counterOf(idle).slot, S_TICKET), 0)
  })

  it('a free permit under HANDOFF with the stale ticket set at once: acquire takes it', {
    timeout: 20_000,
  }, async () => {
    const sem = track(new Semaphore(1))
    const idle = track(Semaphore.from(sem.handle))
    const { i32, base } = words(sem)
    const next = Atomics.load(i32, headerIndex(base, W_NEXT_TICKET))
    Atomics.store(i32, slotIndex(base, counterOf(idle).slot, S_TICKET), (next - 100) | 0 || 1)
    Atomics.store(i32, headerIndex(base, W_STATE), ONE | HANDOFF)
    const started = performance.now()
    expect(await sem.acquire({ timeout: 3_000 })).toBe(true)
    expect(performance.now() - started).toBeLessThan(2 * HANDOFF_GRACE_MS + 400)
    sem.release()
    Atomics.store(i32, slotIndex(base, counterOf(idle).slot, S_TICKET), 0)
  })
})

describe('tickets made cyclic by a scribbled NEXT_TICKET', () => {
  // Tickets 1000, 1000 + 0x55555555, 1000 + 0xaaaaaaaa: under a wrapping
  // comparison each is older than the next one round, so none is oldest.
  const TICKETS = [1000, (1000 + 0x55555555) | 0, (1000 + 0xaaaaaaaa) | 0]

  it('exactly one waiter is the oldest (age from NEXT_TICKET, a total order)', () => {
    const sems = [track(new Semaphore(0))]
    sems.push(track(Semaphore.from(sems[0]!.handle)), track(Semaphore.from(sems[0]!.handle)))
    const { i32, base } = words(sems[0]!)
    const counters = sems.map((sem) => counterOf(sem))
    counters.forEach((counter, k) => {
      Atomics.store(i32, slotIndex(base, counter.slot, S_TICKET), TICKETS[k]!)
      counter.ticket = TICKETS[k]!
    })
    Atomics.store(i32, headerIndex(base, W_NEXT_TICKET), TICKETS[2]!)
    try {
      // The last drawn is the youngest; the first, oldest.
      expect(counters.map((counter) => counter.isOldest())).toEqual([true, false, false])
    } finally {
      for (const counter of counters) {
        Atomics.store(i32, slotIndex(base, counter.slot, S_TICKET), 0)
        counter.ticket = 0
      }
    }
  })

  it('three real waiters: a released permit is taken at once', { timeout: 20_000 }, async () => {
    const sem = track(new Semaphore(1))
    const waiters = [0, 1, 2].map(() => track(Semaphore.from(sem.handle)))
    const { i32, base, counter } = words(sem)
    sem.acquireSync()
    const got: Promise<boolean>[] = []
    for (let k = 0; k < 3; k++) {
      Atomics.store(i32, headerIndex(base, W_NEXT_TICKET), (TICKETS[k]! - 1) | 0)
      got.push(waiters[k]!.acquire({ timeout: 3_000 }))
      await until(() => counterOf(waiters[k]!).ticket !== 0, 2_000)
    }
    await until(() => counter.handoff, 2_000)
    const released = performance.now()
    sem.release()
    // The oldest (first) waiter is woken and takes it; no grace period involved.
    expect(await got[0]).toBe(true)
    expect(performance.now() - released).toBeLessThan(HANDOFF_GRACE_MS)
    waiters[0]!.release()
    expect(await got[1]).toBe(true)
    waiters[1]!.release()
    expect(await got[2]).toBe(true)
    waiters[2]!.release()
  })
})
