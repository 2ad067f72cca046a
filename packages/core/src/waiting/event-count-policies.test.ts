import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { EventCount, NOT_YET, TIMED_OUT, type WaitRules } from './event-count.js'

// Word indexes: one event word per slot (the semaphore's WAKE), the total of
// waiters, and the per-slot flags 4 words apart (stride).
const WAITERS = 0
const EVENT = [8, 9]
const SHARE_BASE = 16
const STRIDE = 4
const share = (slot: number) => SHARE_BASE + slot * STRIDE

function claimed(i32: Int32Array, slot: number): EventCount {
  return new EventCount({ closed: false }, i32, EVENT[slot] as number, WAITERS, {
    shares: { base: SHARE_BASE, slot, stride: STRIDE, claim: true },
  })
}

function rules(overrides: Partial<WaitRules> = {}): WaitRules {
  return { deadline: performance.now() + 2_000, sliceMs: 100, label: 'the test word', ...overrides }
}

describe('EventCount with claimed shares', () => {
  it('registers a flag at base + slot × stride and counts it once in waiters', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128))
    const events = claimed(i32, 1)
    const seen: number[][] = []
    const result = events.waitSync(() => {
      seen.push([Atomics.load(i32, share(1)), Atomics.load(i32, WAITERS), Atomics.load(i32, share(0))])
      return 'done'
    }, rules())
    expect(result).toBe('done')
    expect(seen).toEqual([[1, 1, 0]])
    // Left: flag and total back to 0.
    expect([Atomics.load(i32, share(1)), Atomics.load(i32, WAITERS)]).toEqual([0, 0])
  })

  it('lets only the notifier that flips the flag bump the event; later notifies skip it', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128))
    const events = claimed(i32, 0)
    let tries = 0
    const result = events.waitSync(() => {
      tries++
      if (tries === 1) {
        // A notifier comes between the re-check and the sleep: the flag is set, so it wakes.
        events.notify()
        expect([
          Atomics.load(i32, share(0)),
          Atomics.load(i32, WAITERS),
          Atomics.load(i32, EVENT[0] as number),
        ]).toEqual([0, 0, 1])
        // A second notifier finds the flag cleared: no bump, no syscall.
        expect(events.notify()).toBe(0)
        expect(Atomics.load(i32, EVENT[0] as number)).toBe(1)
        return NOT_YET
      }
      return tries
    }, rules())
    // The sleep saw the event moved and returned at once; the leave did not count the flag twice.
    expect(result).toBe(2)
    expect(Atomics.load(i32, WAITERS)).toBe(0)
  })

  it('tries once unregistered after a wake-up: a take there leaves the flag and waiters alone', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128))
    const events = claimed(i32, 0)
    const seen: number[][] = []
    const result = events.waitSync(() => {
      seen.push([Atomics.load(i32, share(0)), Atomics.load(i32, WAITERS)])
      if (seen.length === 1) {
        // The giver's wake-up before the sleep: it claims the flag, the sleep returns at once.
        events.notify()
        return NOT_YET
      }
      return 'taken'
    }, rules())
    expect(result).toBe('taken')
    expect(seen).toEqual([
      [1, 1],
      [0, 0],
    ])
    expect([Atomics.load(i32, share(0)), Atomics.load(i32, WAITERS)]).toEqual([0, 0])
  })

  it('registers again after a failed unregistered try, before it sleeps (no lost wake-up)', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128))
    const events = claimed(i32, 0)
    const seen: number[] = []
    let state = 0
    let slices = 0
    const started = performance.now()
    const result = events.waitSync(
      () => {
        seen.push(Atomics.load(i32, share(0)))
        if (seen.length === 1) events.notify()
        // The third try is the registered re-check: a change made now is published with a
        // notify that finds the flag set, so the sleep that follows returns at once.
        if (seen.length === 3) {
          state = 1
          expect(events.notify()).toBe(0)
          return NOT_YET
        }
        return state === 1 ? 'seen' : NOT_YET
      },
      rules({ deadline: performance.now() + 5_000, onSlice: () => slices++ }),
    )
    expect(result).toBe('seen')
    expect(seen).toEqual([1, 0, 1, 0])
    // Not a slice's end (100 ms): the notify of the third try ended the sleep.
    expect(slices).toBe(0)
    expect(performance.now() - started).toBeLessThan(50)
  })

  it('withdraw() takes the registration off once; the loop leaves without going below 0', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128))
    const events = claimed(i32, 1)
    const result = events.waitSync(() => {
      expect(events.withdraw()).toBe(true)
      expect(events.withdraw()).toBe(false)
      return true
    }, rules())
    expect(result).toBe(true)
    expect([Atomics.load(i32, share(1)), Atomics.load(i32, WAITERS)]).toEqual([0, 0])
  })

  it('wakes a thread blocked in waitSync', { timeout: 10_000 }, async () => {
    const sab = new SharedArrayBuffer(128)
    const i32 = new Int32Array(sab)
    const url = new URL('../../dist/internal.js', import.meta.url).href
    const worker = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads')
      import(workerData.url).then(({ EventCount, NOT_YET }) => {
        const i32 = new Int32Array(workerData.sab)
        const events = new EventCount({ closed: false }, i32, 8, 0, { shares: { base: 16, slot: 0, stride: 4, claim: true } })
        parentPort.postMessage('waiting')
        const started = performance.now()
        const result = events.waitSync(() => (Atomics.load(i32, 30) === 1 ? 'woken' : NOT_YET), {
          deadline: Number.POSITIVE_INFINITY, sliceMs: 5000, label: 'x',
        })
        parentPort.postMessage({ result, ms: performance.now() - started })
      })
      `,
      { eval: true, workerData: { sab, url } },
    )
    try {
      const messages: unknown[] = []
      const done = new Promise<{ result: string; ms: number }>((resolve, reject) => {
        worker.on('message', (message) => {
          messages.push(message)
          if (message !== 'waiting') resolve(message)
        })
        worker.on('error', reject)
      })
      while (Atomics.load(i32, share(0)) !== 1) await new Promise((resolve) => setTimeout(resolve, 5))
      Atomics.store(i32, 30, 1)
      // Woken (1) or not asleep yet (0, its futex wait then returns at once): either way it returns.
      claimed(i32, 0).notify()
      expect(Atomics.load(i32, share(0))).toBe(0)
      const { result, ms } = await done
      expect(result).toBe('woken')
      expect(ms).toBeLessThan(2_000)
    } finally {
      await worker.terminate()
    }
  })
})

describe('EventCount back-off (rules.backOff)', () => {
  it('naps unregistered after a wasted wake-up, doubling up to maxMs, and never runs onSlice for a nap', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128))
    const events = claimed(i32, 0)
    const registered: number[] = []
    let slices = 0
    let tries = 0
    const started = performance.now()
    const result = events.waitSync(
      () => {
        registered.push(Atomics.load(i32, share(0)))
        tries++
        // Every registered try is "woken in vain": a notify before the sleep.
        if (Atomics.load(i32, share(0)) === 1) events.notify()
        return tries === 7 ? 'taken' : NOT_YET
      },
      rules({ backOff: { firstMs: 1, maxMs: 2 }, onSlice: () => slices++ }),
    )
    expect(result).toBe('taken')
    // Registered, nap, registered, nap, …: after each wasted wake-up the next sleep is a nap.
    expect(registered).toEqual([1, 0, 1, 0, 1, 0, 1])
    expect(slices).toBe(0)
    // Naps of 1, 2, 2 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(5)
  })

  it('skips the nap while when() is false', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128))
    const events = claimed(i32, 0)
    const registered: number[] = []
    let tries = 0
    const started = performance.now()
    events.waitSync(
      () => {
        registered.push(Atomics.load(i32, share(0)))
        events.notify()
        return ++tries === 4 ? true : NOT_YET
      },
      rules({ backOff: { firstMs: 50, maxMs: 50, when: () => false } }),
    )
    // After each wake-up: one try unregistered, then registered again (no nap in between).
    expect(registered).toEqual([1, 0, 1, 0])
    expect(performance.now() - started).toBeLessThan(50)
  })
})

describe('EventCount rules.sliceMs', () => {
  it('is read before every sleep, so an attempt can shorten the next one', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128))
    const events = new EventCount({ closed: false }, i32, 8, WAITERS)
    let slices = 0
    const options = rules({ sliceMs: 10_000, deadline: performance.now() + 5_000, onSlice: () => slices++ })
    const started = performance.now()
    const result = events.waitSync(() => {
      options.sliceMs = 1
      return slices === 3 ? 'after three short slices' : NOT_YET
    }, options)
    expect(result).toBe('after three short slices')
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('returns TIMED_OUT at the deadline', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(128))
    const events = new EventCount({ closed: false }, i32, 8, WAITERS)
    expect(events.waitSync(() => NOT_YET, rules({ deadline: performance.now() + 5 }))).toBe(TIMED_OUT)
  })
})
