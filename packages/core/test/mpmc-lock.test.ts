/**
 * Waiting for an MpmcRing lock that a live attachment holds (a stopped
 * process, or a lock word scribbled to name a live one): async calls await
 * it without blocking the event loop and end at their timeout or abort;
 * sync calls wait until their own deadline; calls that do not wait give up
 * at once; calls without a timeout wait until the lock is released; a dead
 * holder is still taken over. Each waiter runs in a child that the test
 * kills after a hard deadline, so a regression fails instead of hanging.
 */
import {
  MPMC_EMPTY,
  MPMC_PUT_FULL,
  MPMC_PUT_OK,
  MpmcRing,
  mpmcRingBytes,
  notifyWord,
  Segment,
  threadId,
} from '@ipc/core/internal'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const KIND = { kind: 'mpmc-lock', version: 1 }
const waiter = new URL('./fixtures/mpmc-lock-waiter.mjs', import.meta.url)
const holder = new URL('./fixtures/mpmc-holder.mjs', import.meta.url)
// Word indexes from the layout table in src/rings/mpmc-ring.ts (white box).
const P_LOCK = 0
const C_LOCK = 16
/** An owner word (src/ownership/owner-word.ts): the attachment at `slot`, used by this thread. */
const ownerCode = (slot: number) => ((slot + 1) << 22) | (threadId() & 0x3fffff)
/** A child that has not reported by then is killed and the test fails. */
const HARD_DEADLINE_MS = 5000

/** A ring holding one item, 'kept', and the lock word naming this (live) attachment. */
function ringWithItem(kind = KIND): { segment: Segment; ring: MpmcRing; i32: Int32Array; me: number } {
  const box: { ring?: MpmcRing } = {}
  const segment = Segment.create(kind, mpmcRingBytes(1024), {
    name: uniqueName('mpmc-lock'),
    init: (s) => MpmcRing.init(s, s.dataOffset, { capacity: 1024, maxItems: 0 }),
    onReap: (slot) => box.ring?.reclaimSlot(slot),
  })
  const ring = new MpmcRing(segment, segment.dataOffset, 'queue')
  box.ring = ring
  onTestFinished(() => {
    ring.detach()
    segment.close()
  })
  expect(ring.tryPut('kept', undefined)).toBe(MPMC_PUT_OK)
  const i32 = new Int32Array(segment.buffer, segment.dataOffset)
  return { segment, ring, i32, me: ownerCode(segment.slot) }
}

interface Result {
  outcome: string
  elapsed: number
  ticks: number
}

/** Runs `call` in a child against `name`; kills it at the hard deadline. */
function runWaiter(name: string, call: string): { result: Promise<Result>; waiting: () => Promise<void> } {
  const child = spawnChild(waiter, [name, call])
  const kill = setTimeout(() => child.child.kill('SIGKILL'), HARD_DEADLINE_MS)
  onTestFinished(() => clearTimeout(kill))
  const result = child.exited.then((code) => {
    clearTimeout(kill)
    const line = child.stdout().match(/RESULT (.*)/)
    if (code !== 0 || line === null)
      throw new Error(`The waiter "${call}" ended with ${code} and no result: ${child.stderr()}`)
    return JSON.parse(line[1] as string) as Result
  })
  return { result, waiting: () => child.waitFor('waiting', HARD_DEADLINE_MS) }
}

describe('MpmcRing lock held by a live attachment in another process', () => {
  it('get(50) resolves empty at ~50 ms while the event loop ticks, taking nothing', { timeout: 10_000 }, async () => {
    const { segment, ring, i32, me } = ringWithItem()
    i32[C_LOCK] = me
    const { outcome, elapsed, ticks } = await runWaiter(segment.name, 'get-timeout').result
    expect(outcome).toBe('empty')
    expect(elapsed).toBeGreaterThanOrEqual(45)
    expect(elapsed).toBeLessThan(1000)
    // A wait that blocked the loop throughout would report 0 (the result is printed in the
    // microtask after it, before any timer): one tick proves it did not. More are usual, but a
    // loaded machine can deschedule the child for most of the 50 ms.
    expect(ticks).toBeGreaterThanOrEqual(1)
    i32[C_LOCK] = 0
    expect(ring.tryGet()).toBe('kept')
  })

  it('get() with a signal aborted at 20 ms rejects with signal.reason while the event loop ticks', {
    timeout: 10_000,
  }, async () => {
    const { segment, ring, i32, me } = ringWithItem()
    i32[C_LOCK] = me
    const { outcome, elapsed, ticks } = await runWaiter(segment.name, 'get-abort').result
    // AbortSignal.timeout's reason is a DOMException named TimeoutError.
    expect(outcome).toBe('threw TimeoutError')
    expect(elapsed).toBeGreaterThanOrEqual(15)
    expect(elapsed).toBeLessThan(1000)
    expect(ticks).toBeGreaterThanOrEqual(1)
    i32[C_LOCK] = 0
    expect(ring.tryGet()).toBe('kept')
  })

  it('getSync(50) returns empty at its deadline, ~50 ms', { timeout: 10_000 }, async () => {
    const { segment, ring, i32, me } = ringWithItem()
    i32[C_LOCK] = me
    const { outcome, elapsed } = await runWaiter(segment.name, 'get-sync').result
    expect(outcome).toBe('empty')
    expect(elapsed).toBeGreaterThanOrEqual(45)
    expect(elapsed).toBeLessThan(1000)
    i32[C_LOCK] = 0
    expect(ring.tryGet()).toBe('kept')
  })

  it('tryGet() (getNowait) returns empty at once', { timeout: 10_000 }, async () => {
    const { segment, ring, i32, me } = ringWithItem()
    i32[C_LOCK] = me
    const { outcome, elapsed } = await runWaiter(segment.name, 'try-get').result
    expect(outcome).toBe('empty')
    expect(elapsed).toBeLessThan(20)
    i32[C_LOCK] = 0
    expect(ring.tryGet()).toBe('kept')
  })

  it('get() without a timeout waits, event loop ticking, and takes the item once the holder releases', {
    timeout: 10_000,
  }, async () => {
    const { segment, i32, me } = ringWithItem()
    i32[C_LOCK] = me
    const { result, waiting } = runWaiter(segment.name, 'get-forever')
    await waiting()
    await new Promise((resolve) => setTimeout(resolve, 300))
    // Release as the owner's unlock does: clear the word, wake a sleeper.
    Atomics.store(i32, C_LOCK, 0)
    notifyWord(segment.i32, segment.dataOffset / 4 + C_LOCK, 1)
    const { outcome, elapsed, ticks } = await result
    expect(outcome).toBe('value kept')
    expect(elapsed).toBeGreaterThanOrEqual(250)
    expect(ticks).toBeGreaterThanOrEqual(15)
  })

  it('put(50), putSync(50) and tryPut() report full at their deadlines, putting nothing', {
    timeout: 15_000,
  }, async () => {
    const { segment, ring, i32, me } = ringWithItem()
    i32[P_LOCK] = me
    const async = await runWaiter(segment.name, 'put-timeout').result
    expect(async.outcome).toBe('full')
    expect(async.elapsed).toBeGreaterThanOrEqual(45)
    expect(async.elapsed).toBeLessThan(1000)
    expect(async.ticks).toBeGreaterThanOrEqual(1) // as get(50)
    const sync = await runWaiter(segment.name, 'put-sync').result
    expect(sync.outcome).toBe('full')
    expect(sync.elapsed).toBeGreaterThanOrEqual(45)
    expect(sync.elapsed).toBeLessThan(1000)
    const now = await runWaiter(segment.name, 'try-put').result
    expect(now.outcome).toBe('full')
    expect(now.elapsed).toBeLessThan(20)
    i32[P_LOCK] = 0
    expect(ring.count()).toBe(1)
    expect(ring.tryGet()).toBe('kept')
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
  })
})

describe('MpmcRing puts queued behind a put that waits for the lock', () => {
  /** The lock word naming a second, live attachment of the ring in this process. */
  function heldBySecond(ring: { segment: Segment; i32: Int32Array }): void {
    const other = Segment.open(KIND, ring.segment.name)
    const otherRing = new MpmcRing(other, other.dataOffset, 'queue')
    onTestFinished(() => {
      otherRing.detach()
      other.close()
    })
    ring.i32[P_LOCK] = ownerCode(other.slot)
  }

  it('a later put of the same object does not overtake it, even when the lock frees in between', async () => {
    const fixture = ringWithItem()
    const { ring, i32 } = fixture
    heldBySecond(fixture)
    const first = ring.put('a', undefined, Number.POSITIVE_INFINITY)
    expect(first).toBeInstanceOf(Promise)
    // Free the lock without a wake-up: a put that tried now would get it at once.
    Atomics.store(i32, P_LOCK, 0)
    const second = ring.put('b', undefined, Number.POSITIVE_INFINITY)
    expect(second).toBeInstanceOf(Promise)
    expect(await Promise.all([first, second])).toEqual([MPMC_PUT_OK, MPMC_PUT_OK])
    expect([ring.tryGet(), ring.tryGet(), ring.tryGet()]).toEqual(['kept', 'a', 'b'])
  })

  it('a queued put still ends at its own timeout or abort while the one ahead waits on', async () => {
    const fixture = ringWithItem()
    const { ring, segment, i32 } = fixture
    heldBySecond(fixture)
    const first = ring.put('a', undefined, Number.POSITIVE_INFINITY)
    const started = performance.now()
    expect(await ring.put('b', undefined, 30)).toBe(MPMC_PUT_FULL)
    expect(performance.now() - started).toBeGreaterThanOrEqual(25)
    expect(performance.now() - started).toBeLessThan(1000)
    const aborted = ring.put('c', undefined, Number.POSITIVE_INFINITY, AbortSignal.timeout(20))
    await expect(aborted).rejects.toMatchObject({ name: 'TimeoutError' })
    Atomics.store(i32, P_LOCK, 0)
    notifyWord(segment.i32, segment.dataOffset / 4 + P_LOCK, 1)
    expect(await first).toBe(MPMC_PUT_OK)
    expect([ring.tryGet(), ring.tryGet(), ring.tryGet()]).toEqual(['kept', 'a', MPMC_EMPTY])
  })
})

describe('MpmcRing pending puts at exit', () => {
  it('a put still waiting for the lock when its process exits is finished by the exit hook', {
    timeout: 10_000,
  }, async () => {
    const { segment, ring, i32, me } = ringWithItem()
    i32[P_LOCK] = me
    const child = spawnChild(waiter, [segment.name, 'put-exit'])
    const kill = setTimeout(() => child.child.kill('SIGKILL'), HARD_DEADLINE_MS)
    onTestFinished(() => clearTimeout(kill))
    // The child called process.exit() right after put(): its exit hook now waits for the lock.
    await child.waitFor('waiting')
    await new Promise((resolve) => setTimeout(resolve, 100))
    Atomics.store(i32, P_LOCK, 0)
    notifyWord(segment.i32, segment.dataOffset / 4 + P_LOCK, 1)
    expect(await child.exited).toBe(0)
    expect(ring.tryGet()).toBe('kept')
    expect(ring.tryGet()).toBe('flushed')
  })
})

describe('MpmcRing lock held by a SIGSTOPped process', () => {
  it('a get(50) ends at its timeout; a get() without one waits, then takes over once the holder is killed', {
    timeout: 15_000,
  }, async () => {
    const { segment, ring } = ringWithItem({ kind: 'mpmc-xproc', version: 1 })
    // The holder takes the consumer lock as its own attachment, journals a get it never commits, and is stopped.
    const child = spawnChild(holder, [segment.name, 'consumer-uncommitted'])
    await child.waitFor('holding')
    child.child.kill('SIGSTOP')
    let ticks = 0
    const timer = setInterval(() => ticks++, 10)
    onTestFinished(() => clearInterval(timer))
    let started = performance.now()
    expect(await ring.get(50)).toBe(MPMC_EMPTY)
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(ring.tryGet()).toBe(MPMC_EMPTY)
    const pending = ring.get(Number.POSITIVE_INFINITY)
    expect(pending).toBeInstanceOf(Promise)
    let settled = false
    void (pending as Promise<unknown>).finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(settled).toBe(false)
    ticks = 0
    started = performance.now()
    child.child.kill('SIGKILL')
    await child.exited
    expect(await pending).toBe('kept')
    // Found dead within a peer check or so (PEER_CHECK_MS, 100 ms), not after a stall.
    expect(performance.now() - started).toBeLessThan(1000)
  })
})
