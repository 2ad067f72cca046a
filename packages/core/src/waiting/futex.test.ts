import { readFile } from 'node:fs/promises'
import { Worker } from 'node:worker_threads'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ClosedError } from '../errors.js'
import { Segment } from '../memory/segment.js'
import { native } from '../native.js'
import { notify, wait, waitSync } from './futex.js'

const KIND = { kind: 'test-futex', version: 1 }

function shared(words = 4): Int32Array {
  return new Int32Array(new SharedArrayBuffer(words * 4))
}

/** A segment with `words` int32 words of data; returns the segment and its data view. */
function segmentWords(words: number): { segment: Segment; i32: Int32Array } {
  const segment = Segment.create(KIND, words * 4)
  onTestFinished(() => segment.close())
  return { segment, i32: new Int32Array(segment.buffer, segment.dataOffset, words) }
}

/** A worker thread running `source` (CommonJS) with workerData = { i32 }. */
function worker(source: string, i32: Int32Array): Worker {
  const w = new Worker(source, { eval: true, workerData: { i32 } })
  onTestFinished(async () => {
    await w.terminate()
  })
  return w
}

const FUTEX = JSON.stringify(new URL('../../dist/index.cjs', import.meta.url).pathname)

describe('waitSync()', () => {
  it("returns 'not-equal' at once when the word does not hold expected", () => {
    const i32 = shared()
    i32[0] = 1
    expect(waitSync(i32, 0, 0)).toBe('not-equal')
  })

  it("returns 'timed-out' after the timeout, and at once for timeout 0", () => {
    const i32 = shared()
    expect(waitSync(i32, 0, 0, { timeout: 0 })).toBe('timed-out')
    const start = performance.now()
    expect(waitSync(i32, 0, 0, { timeout: 30 })).toBe('timed-out')
    expect(performance.now() - start).toBeGreaterThanOrEqual(29)
  })

  it("returns 'ok' when another thread notifies", { timeout: 10_000 }, async () => {
    const i32 = shared()
    const w = worker(
      `const { workerData, parentPort } = require('node:worker_threads')
       const { waitSync } = require(${FUTEX})
       Atomics.store(workerData.i32, 1, 1)
       parentPort.postMessage(waitSync(workerData.i32, 0, 0, { timeout: 10000 }))`,
      i32,
    )
    const result = new Promise((resolve) => w.once('message', resolve))
    // Wake until the worker is woken: notify() counts the sleepers it woke.
    let woken = 0
    while (woken === 0) {
      await new Promise((r) => setTimeout(r, 5))
      if (Atomics.load(i32, 1) === 1) woken = notify(i32, 0, 1)
    }
    expect(woken).toBe(1)
    expect(await result).toBe('ok')
  })

  it('throws RangeError for an expected value that is not an int32, instead of truncating it', () => {
    const i32 = shared()
    // 2 ** 40 | 0 is 0, the word's value: a truncating check would wait here.
    for (const expected of [2 ** 40, 2 ** 31, -(2 ** 31) - 1, 2 ** 32]) {
      expect(() => waitSync(i32, 0, expected, { timeout: 0 })).toThrow(RangeError)
      expect(() => waitSync(i32, 0, expected, { timeout: 0 })).toThrow(/must be an int32.*received/)
    }
    expect(waitSync(i32, 0, 2 ** 31 - 1)).toBe('not-equal')
    expect(waitSync(i32, 0, -(2 ** 31))).toBe('not-equal')
  })

  it('refuses options it does not know (a misspelled timeout would wait forever) and options that are not an object', () => {
    const i32 = shared()
    expect(() => waitSync(i32, 0, 0, { timout: 10 } as never)).toThrow(
      /Unknown option "timout".*Did you mean "timeout"/,
    )
    expect(() => waitSync(i32, 0, 0, { timeout: 10, signal: new AbortController().signal } as never)).toThrow(
      /Unknown option "signal"/,
    )
    expect(() => waitSync(i32, 0, 0, 10 as never)).toThrow(/The options must be an object/)
  })
})

describe('wait()', () => {
  it('rejects with RangeError for an expected value that is not an int32', async () => {
    const i32 = shared()
    await expect(wait(i32, 0, 2 ** 40)).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
    await expect(wait(i32, 0, -(2 ** 31) - 1)).rejects.toBeInstanceOf(RangeError)
    expect(await wait(i32, 0, -(2 ** 31))).toBe('not-equal')
  })

  it('waits on with a timeout beyond the timer limit (2 ** 31 - 1 ms) instead of timing out at once', async () => {
    const { i32 } = segmentWords(1)
    const waiting = wait(i32, 0, 0, { timeout: 2 ** 40 })
    await new Promise((r) => setTimeout(r, 50))
    Atomics.store(i32, 0, 1)
    notify(i32, 0)
    expect(await waiting).toBe('ok')
  })

  it("resolves 'not-equal' at once, and 'timed-out' for timeout 0", async () => {
    const i32 = shared()
    i32[0] = 5
    expect(await wait(i32, 0, 4)).toBe('not-equal')
    expect(await wait(i32, 0, 5, { timeout: 0 })).toBe('timed-out')
  })

  it("resolves 'ok' when the word changes and notify runs, from this thread", async () => {
    const { i32 } = segmentWords(1)
    const waiting = wait(i32, 0, 0)
    setTimeout(() => {
      Atomics.store(i32, 0, 1)
      notify(i32, 0)
    }, 10)
    expect(await waiting).toBe('ok')
  })

  it("resolves 'ok' when a worker thread notifies a SharedArrayBuffer word", { timeout: 10_000 }, async () => {
    const i32 = shared()
    const waiting = wait(i32, 0, 0, { timeout: 10_000 })
    worker(
      `const { workerData } = require('node:worker_threads')
       const { notify } = require(${FUTEX})
       Atomics.store(workerData.i32, 0, 1)
       notify(workerData.i32, 0)`,
      i32,
    )
    expect(await waiting).toBe('ok')
  })

  it("resolves 'timed-out' after the timeout", async () => {
    const { i32 } = segmentWords(1)
    const start = performance.now()
    expect(await wait(i32, 0, 0, { timeout: 30 })).toBe('timed-out')
    expect(performance.now() - start).toBeGreaterThanOrEqual(29)
  })

  it('rejects with signal.reason when the signal aborts, and after that a notify wakes nobody', async () => {
    const { i32 } = segmentWords(1)
    const controller = new AbortController()
    const waiting = wait(i32, 0, 0, { signal: controller.signal })
    setTimeout(() => controller.abort(), 10)
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' })
    // An already-aborted signal rejects with its reason before waiting.
    const reason = new Error('custom reason')
    await expect(wait(i32, 0, 0, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    // The cancelled wait leaves the kernel's queue once its waiter thread
    // rebuilds its list: soon no sleeper is left on the word.
    let woken = notify(i32, 0)
    for (let i = 0; i < 100 && woken > 0; i++) {
      await new Promise((r) => setTimeout(r, 20))
      woken = notify(i32, 0)
    }
    expect(woken).toBe(0)
  })

  it('composes AbortSignal.timeout with signal', async () => {
    const { i32 } = segmentWords(1)
    await expect(wait(i32, 0, 0, { signal: AbortSignal.timeout(20) })).rejects.toMatchObject({ name: 'TimeoutError' })
  })

  it('rejects with ClosedError when the segment holding the word is closed', async () => {
    const segment = Segment.create(KIND, 4)
    const i32 = new Int32Array(segment.buffer, segment.dataOffset, 1)
    const waiting = wait(i32, 0, 0)
    segment.close()
    await expect(waiting).rejects.toBeInstanceOf(ClosedError)
  })

  it('resolves 1,000 pending waits on 1,000 words, each when its word is notified', { timeout: 20_000 }, async () => {
    const { i32 } = segmentWords(1000)
    const results = Array.from({ length: 1000 }, (_, i) => wait(i32, i, 0))
    for (let i = 999; i >= 0; i--) {
      Atomics.store(i32, i, 1)
      notify(i32, i)
    }
    expect(await Promise.all(results)).toEqual(Array.from({ length: 1000 }, () => 'ok'))
  })

  it('resolves 1,000 pending waits on one word with one notify', { timeout: 20_000 }, async () => {
    const { i32 } = segmentWords(1)
    const results = Array.from({ length: 1000 }, () => wait(i32, 0, 0))
    // Let the waiter threads reach the kernel, then change the word and wake everyone.
    await new Promise((r) => setTimeout(r, 50))
    Atomics.store(i32, 0, 1)
    notify(i32, 0)
    expect(new Set(await Promise.all(results))).toEqual(new Set(['ok']))
  })

  it('never blocks the event loop: timers tick and fs reads finish while 1,000 waits are pending', {
    timeout: 20_000,
  }, async () => {
    const { i32 } = segmentWords(1000)
    const results = Array.from({ length: 1000 }, (_, i) => wait(i32, i, 0))
    let ticks = 0
    const interval = setInterval(() => ticks++, 5)
    onTestFinished(() => clearInterval(interval))
    const file = new URL(import.meta.url)
    const reads = await Promise.all(Array.from({ length: 20 }, () => readFile(file, 'utf8')))
    expect(reads.every((text) => text.includes('never blocks the event loop'))).toBe(true)
    while (ticks < 10) await new Promise((r) => setTimeout(r, 5))
    expect(ticks).toBeGreaterThanOrEqual(10)
    for (let i = 0; i < 1000; i++) {
      Atomics.store(i32, i, 1)
      notify(i32, i)
    }
    expect((await Promise.all(results)).every((r) => r === 'ok')).toBe(true)
  })

  it('validates its arguments and rejects (never throws)', async () => {
    const i32 = shared(1)
    await expect(wait(new Uint32Array(1) as never, 0, 0)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' })
    await expect(wait(i32, 1, 0)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
    await expect(wait(i32, -1, 0)).rejects.toBeInstanceOf(RangeError)
    await expect(wait(i32, 0, 1.5)).rejects.toBeInstanceOf(TypeError)
    await expect(wait(i32, 0, 0, { timeout: -1 })).rejects.toBeInstanceOf(RangeError)
    await expect(wait(i32, 0, 0, { signal: 'x' as never })).rejects.toBeInstanceOf(TypeError)
    // An index that cannot become a string still gets the coded error (before: a bare TypeError).
    const unprintable = Object.create(null) as number
    await expect(wait(i32, unprintable, 0)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
    expect(() => notify(i32, unprintable)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => waitSync(i32, unprintable, 0, { timeout: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    )
  })

  it('refuses a view of a plain ArrayBuffer, which could be transferred and freed while the wait is pending', async () => {
    const plain = new Int32Array(2)
    const refused = {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: expect.stringContaining('SharedArrayBuffer'),
    }
    // Whatever the wait would do: sleep, see another value, or not wait at all.
    await expect(wait(plain, 0, 0, { timeout: 50 })).rejects.toMatchObject(refused)
    await expect(wait(plain, 1, 7)).rejects.toMatchObject(refused)
    await expect(wait(plain, 0, 0, { timeout: 0 })).rejects.toMatchObject(refused)
    // A segment's memory is accepted (closing it detaches its buffer: views then have length 0).
    const { i32 } = segmentWords(2)
    expect(await wait(i32, 0, 0, { timeout: 1 })).toBe('timed-out')
    // waitSync blocks its own thread, so nothing can free the memory under it: allowed.
    expect(waitSync(plain, 0, 0, { timeout: 1 })).toBe('timed-out')
  })
})

describe('the binding under wait()', () => {
  it('refuses a wait id that is not an integer from 0 to 2^53 - 1 (it would not come back the same)', async () => {
    // One wait first, so that this thread's completion callback is installed.
    expect(await wait(shared(), 0, 0, { timeout: 1 })).toBe('timed-out')
    const bin = native()
    const i32 = shared()
    for (const id of [-1, 1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY]) {
      expect(bin.waitAsync(i32, 0, 0, id), String(id)).toBe(-22) // -EINVAL, nothing registered
      expect(bin.cancelWait(id), String(id)).toBe(false)
    }
    // The largest id is taken, and cancelled like any other.
    expect(bin.waitAsync(i32, 0, 0, 2 ** 53 - 1)).toBe(0)
    expect(bin.cancelWait(2 ** 53 - 1)).toBe(true)
  })

  it('refuses a word in a plain ArrayBuffer (2), checked before its value', async () => {
    expect(await wait(shared(), 0, 0, { timeout: 1 })).toBe('timed-out')
    const bin = native()
    expect(bin.waitAsync(new Int32Array(1), 0, 0, 1e9)).toBe(2)
    expect(bin.waitAsync(new Int32Array(1), 0, 5, 1e9 + 1)).toBe(2)
    expect(bin.cancelWait(1e9)).toBe(false)
  })
})

describe('notify()', () => {
  it('returns 0 when nobody waits, and validates count', () => {
    const i32 = shared(1)
    expect(notify(i32, 0)).toBe(0)
    expect(notify(i32, 0, 0)).toBe(0)
    expect(() => notify(i32, 0, -1)).toThrow(RangeError)
    expect(() => notify(i32, 0, 1.5)).toThrow(RangeError)
    expect(() => notify(i32, 2)).toThrow(RangeError)
    expect(() => notify({} as never, 0)).toThrow(TypeError)
  })

  it('wakes at most count sleepers and returns how many it woke', { timeout: 10_000 }, async () => {
    const i32 = shared(2)
    const source = `const { workerData, parentPort } = require('node:worker_threads')
       const { waitSync } = require(${FUTEX})
       Atomics.add(workerData.i32, 1, 1)
       parentPort.postMessage(waitSync(workerData.i32, 0, 0, { timeout: 10000 }))`
    const workers = [1, 2, 3].map(() => worker(source, i32))
    const results = workers.map((w) => new Promise((resolve) => w.once('message', resolve)))
    while (Atomics.load(i32, 1) < 3) await new Promise((r) => setTimeout(r, 5))
    // The word never changes: each wake is counted once, and count = 1 wakes one.
    let total = 0
    while (total < 3) {
      const woken = notify(i32, 0, 1)
      expect(woken).toBeLessThanOrEqual(1)
      total += woken
      await new Promise((r) => setTimeout(r, 2))
    }
    expect(total).toBe(3)
    expect(await Promise.all(results)).toEqual(['ok', 'ok', 'ok'])
  })
})

describe('a cancelled async wait', () => {
  it('never spends a notify(1) meant for another sleeper of the word', { timeout: 20_000 }, async () => {
    const i32 = shared(2)
    // The worker sleeps on word 0 each round (its value then), after this thread's async wait queued first.
    const w = worker(
      `const { workerData, parentPort } = require('node:worker_threads')
       const { waitSync } = require(${FUTEX})
       parentPort.on('message', (expected) => {
         Atomics.store(workerData.i32, 1, 1)
         parentPort.postMessage(waitSync(workerData.i32, 0, expected, { timeout: 2000 }))
       })`,
      i32,
    )
    // A round counts when the worker was asleep by the notify; under load it may not be yet (it
    // then sees the changed word: 'not-equal'), and the round is run again.
    let counted = 0
    for (let round = 0; counted < 30; round++) {
      expect(round, 'rounds where the worker was not yet asleep').toBeLessThan(200)
      const value = Atomics.load(i32, 0)
      const controller = new AbortController()
      const mine = wait(i32, 0, value, { signal: controller.signal }).catch(() => 'aborted')
      Atomics.store(i32, 1, 0)
      const result = new Promise((resolve) => w.once('message', resolve))
      w.postMessage(value)
      while (Atomics.load(i32, 1) === 0) await new Promise((r) => setTimeout(r, 1))
      await new Promise((r) => setTimeout(r, 5))
      // Cancel, then at once change the word and wake one: the wake must reach the worker, not the cancelled wait.
      const started = performance.now()
      controller.abort()
      Atomics.add(i32, 0, 1)
      notify(i32, 0, 1)
      const woken = await result
      expect(await mine).toBe('aborted')
      if (woken === 'not-equal') continue
      expect(woken).toBe('ok')
      expect(performance.now() - started).toBeLessThan(1000)
      counted++
    }
  })
})
