/**
 * Barrier holds its internal lock only inside synchronous sections: no other
 * task of its thread (a close(), an abort of the call's signal) ever runs
 * while the object holds it. Each test lets an outside owner (a second
 * mapping of the segment) keep the lock, so the call under test sleeps for
 * it, and runs the other task in the first microtask after the call takes
 * the lock: the earliest moment it can run.
 */
import { OWNER_WAITERS, ownerCode, RobustLock, Segment } from '@ipc/core/internal'
import { expectNoSegment } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Barrier } from '../src/barrier.js'
import { BrokenBarrierError, ClosedError } from '../src/errors.js'
import {
  B_BROKEN,
  B_CAPACITY,
  B_COUNT,
  B_ENTRIES,
  B_ENTRY_WORDS,
  B_LOCK,
  BARRIER_KIND,
  BE_SLOT,
  BE_STATE,
  BE_TID,
  PENDING,
} from '../src/layout.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A second mapping of the barrier's segment: its data words, and a RobustLock on the barrier's lock word (an outside owner). */
function raw(barrier: Barrier) {
  const segment = Segment.open(BARRIER_KIND, barrier.name)
  const base = segment.dataOffset / 4
  const peek = (word: number) => Atomics.load(segment.i32, base + word)
  const entry = (index: number, word: number) => peek(B_ENTRIES + index * B_ENTRY_WORDS + word)
  return {
    segment,
    lockIndex: base + B_LOCK,
    peek,
    lock: new RobustLock(segment, segment.dataOffset + B_LOCK * 4),
    /** The indexes of the PENDING entries. */
    pending: () => Array.from({ length: peek(B_CAPACITY) }, (_, i) => i).filter((i) => entry(i, BE_STATE) === PENDING),
    /** The owner code of the object that made entry `index` (owner-word.ts). */
    codeOf: (index: number) => ownerCode(entry(index, BE_SLOT), entry(index, BE_TID)),
  }
}

/** The owner code `barrier` writes into its lock word: read from the entry of a wait it makes and reset() ends. */
async function ownCodeOf(barrier: Barrier, memory: ReturnType<typeof raw>): Promise<number> {
  const probe = barrier.wait().catch((error: unknown) => error)
  const [entry] = memory.pending()
  const code = memory.codeOf(entry as number)
  barrier.reset()
  expect(await probe).toBeInstanceOf(BrokenBarrierError)
  return code
}

type Cas = (array: Int32Array, index: number, expected: number, value: number) => number

/**
 * Runs `then` once, in the first microtask after a compare-and-swap of this
 * thread writes `code` into the lock word at `lockIndex` of any mapping (the
 * owner word's take). Undone when the test ends.
 */
function afterTake(lockIndex: number, code: number, then: () => void): void {
  const atomics = Atomics as unknown as { compareExchange: Cas }
  const cas = atomics.compareExchange
  let armed = true
  atomics.compareExchange = (array, index, expected, value) => {
    const seen = cas(array, index, expected, value)
    if (armed && index === lockIndex && seen === expected && (value & ~OWNER_WAITERS) === code) {
      armed = false
      queueMicrotask(then)
    }
    return seen
  }
  onTestFinished(() => {
    atomics.compareExchange = cas
  })
}

/** A Barrier(3), a second object on it, and a raw mapping of it; all closed when the test ends (or by `cleanUp`). */
function scene() {
  const barrier = new Barrier(3)
  const other = Barrier.open(barrier.name)
  const memory = raw(barrier)
  const cleanUp = () => {
    if (memory.lock.held) memory.lock.release()
    memory.segment.close()
    other.close()
    barrier.close()
  }
  onTestFinished(cleanUp)
  return { barrier, other, memory, cleanUp }
}

/** Closes `barrier` in the first microtask after it takes its lock (afterTake); returns what close() threw. */
function closeAfterTake(barrier: Barrier, memory: ReturnType<typeof raw>, code: number): () => unknown {
  let closeError: unknown
  afterTake(memory.lockIndex, code, () => {
    try {
      barrier.close()
    } catch (error) {
      closeError = error
    }
  })
  return () => closeError
}

describe('Barrier: no task of its thread runs while the object holds its lock', () => {
  it('close() right after a timed-out wait takes the lock to give up does not throw, and leaves no entry or lock behind', async () => {
    const { barrier, other, memory, cleanUp } = scene()
    const name = barrier.name
    const code = await ownCodeOf(barrier, memory)
    const waiting = other.wait().catch((error: unknown) => error)
    // The wait arrives, times out at 40 ms, sleeps for the lock the outside owner holds, and takes it at 80 ms.
    const mine = barrier.wait({ timeout: 40 }).catch((error: unknown) => error)
    await sleep(10)
    expect(memory.lock.tryAcquire()).toBe(true)
    const closeError = closeAfterTake(barrier, memory, code)
    setTimeout(() => memory.lock.release(), 70)
    const error = await mine
    expect(closeError()).toBeUndefined()
    expect(barrier.closed).toBe(true)
    expect(error instanceof BrokenBarrierError || error instanceof ClosedError).toBe(true)
    // The give-up ran whole: the barrier broke, no entry is left PENDING, the lock is free.
    expect(await waiting).toBeInstanceOf(BrokenBarrierError)
    expect(memory.pending()).toEqual([])
    expect(memory.peek(B_LOCK) & ~OWNER_WAITERS).toBe(0)
    expect(memory.peek(B_BROKEN)).toBe(1)
    cleanUp()
    expectNoSegment(name)
  })

  it('an abort right after a wait behind the lock takes it lands after its arrival and breaks the barrier, never in between', async () => {
    const { barrier, other, memory } = scene()
    const code = await ownCodeOf(barrier, memory)
    const waiting = other.wait().catch((error: unknown) => error)
    expect(memory.lock.tryAcquire()).toBe(true)
    const controller = new AbortController()
    const reason = new Error('stop')
    let arrivedAtAbort: boolean | undefined
    afterTake(memory.lockIndex, code, () => {
      arrivedAtAbort = memory.peek(B_COUNT) === 2
      controller.abort(reason)
    })
    const mine = barrier.wait({ signal: controller.signal }).catch((error: unknown) => error)
    setTimeout(() => memory.lock.release(), 30)
    expect(await mine).toBe(reason)
    // The take and the arrival are one step: the abort finds the call arrived, and breaks the barrier
    // as any abort of a waiting call does. (An abort that found it not arrived must change nothing.)
    expect(arrivedAtAbort).toBe(true)
    expect(barrier.broken).toBe(arrivedAtAbort)
    expect(await waiting).toBeInstanceOf(BrokenBarrierError)
    expect(memory.pending()).toEqual([])
    expect(memory.peek(B_LOCK) & ~OWNER_WAITERS).toBe(0)
  })

  it('an abort while a wait sleeps for the lock rejects with its reason and changes nothing', async () => {
    const { barrier, other, memory } = scene()
    const waiting = other.wait()
    expect(memory.lock.tryAcquire()).toBe(true)
    const controller = new AbortController()
    const reason = new Error('stop')
    const mine = barrier.wait({ signal: controller.signal }).catch((error: unknown) => error)
    await sleep(20)
    controller.abort(reason)
    expect(await mine).toBe(reason)
    memory.lock.release()
    expect(barrier.broken).toBe(false)
    expect(barrier.nWaiting).toBe(1)
    await expect(Promise.all([waiting, barrier.wait(), barrier.wait()])).resolves.toEqual([0, 1, 2])
  })

  it('close() right after a wait behind the lock takes it does not throw, and breaks the barrier as a party that left', async () => {
    const { barrier, other, memory } = scene()
    const code = await ownCodeOf(barrier, memory)
    const waiting = other.wait().catch((error: unknown) => error)
    expect(memory.lock.tryAcquire()).toBe(true)
    const closeError = closeAfterTake(barrier, memory, code)
    const mine = barrier.wait().catch((error: unknown) => error)
    setTimeout(() => memory.lock.release(), 30)
    expect(await mine).toBeInstanceOf(ClosedError)
    expect(closeError()).toBeUndefined()
    expect(await waiting).toBeInstanceOf(BrokenBarrierError)
    expect(memory.pending()).toEqual([])
    expect(memory.peek(B_LOCK) & ~OWNER_WAITERS).toBe(0)
  })
})
