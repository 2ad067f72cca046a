import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { ClosedError } from '../errors.js'
import { Segment } from '../memory/segment.js'
import {
  closedWhileWaiting,
  EventCount,
  NOT_YET,
  PEER_CHECK_MS,
  TIMED_OUT,
  type WaitHost,
  type WaitRules,
} from './event-count.js'
import { deadlineOf } from './signal.js'

const EVENT = 0
const WAITERS = 1
const FLAG = 2
const SHARES = 3

function words(): { i32: Int32Array; host: { closed: boolean } } {
  return { i32: new Int32Array(new SharedArrayBuffer(64)), host: { closed: false } }
}

function rules(timeout: number, extra: Partial<WaitRules> = {}): WaitRules {
  return { deadline: deadlineOf(timeout), sliceMs: PEER_CHECK_MS, label: 'the test word', ...extra }
}

const flagSet = (i32: Int32Array) => () => (Atomics.load(i32, FLAG) !== 0 ? Atomics.load(i32, FLAG) : NOT_YET)

/** Sets FLAG to `value` and notifies from another thread after `ms`. */
function setFromWorker(i32: Int32Array, value: number, ms: number): Worker {
  return new Worker(
    `const { workerData: { i32, value, ms } } = require('node:worker_threads')
     Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
     Atomics.store(i32, ${FLAG}, value)
     Atomics.add(i32, ${EVENT}, 1)
     Atomics.notify(i32, ${EVENT})`,
    { eval: true, workerData: { i32, value, ms } },
  )
}

describe('EventCount#waitSync()', () => {
  it('returns what attempt returns once another thread changes the state and notifies; leaves waiters at 0', async () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    const worker = setFromWorker(i32, 7, 30)
    expect(ec.waitSync(flagSet(i32), rules(5000))).toBe(7)
    expect(ec.waiting).toBe(0)
    await worker.terminate()
  })

  it('runs afterRegister after each registration, before the re-check that follows it', async () => {
    const { i32, host } = words()
    const log: string[] = []
    const ec = new EventCount(host, i32, EVENT, WAITERS, {
      afterRegister: () => log.push(`registered ${Atomics.load(i32, WAITERS)}`),
    })
    const attempt = flagSet(i32)
    const logged = () => {
      log.push('re-check')
      return attempt()
    }
    const worker = setFromWorker(i32, 7, 30)
    expect(ec.waitSync(logged, rules(5000))).toBe(7)
    await worker.terminate()
    // One registration per sleep: each re-check right after its registration, never before it.
    expect(log.length).toBeGreaterThanOrEqual(4)
    for (let i = 0; i < log.length; i += 2) expect(log.slice(i, i + 2)).toEqual(['registered 1', 're-check'])
    Atomics.store(i32, FLAG, 0)
    log.length = 0
    const later = setFromWorker(i32, 8, 30)
    await expect(ec.wait(logged, rules(5000))).resolves.toBe(8)
    await later.terminate()
    expect(log.slice(0, 2)).toEqual(['registered 1', 're-check'])
    log.length = 0
    const notReady = () => {
      log.push('re-check')
      return false
    }
    expect(ec.pauseSync(notReady, 1)).toBe(false)
    expect(log).toEqual(['registered 1', 're-check', 're-check'])
    expect(ec.waiting).toBe(0)
  })

  it('returns TIMED_OUT at the deadline, calling onSlice after each slice that timed out', () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    let slices = 0
    const started = performance.now()
    expect(ec.waitSync(flagSet(i32), rules(120, { sliceMs: 25, onSlice: () => slices++ }))).toBe(TIMED_OUT)
    expect(performance.now() - started).toBeGreaterThanOrEqual(119)
    expect(slices).toBeGreaterThanOrEqual(3)
    expect(ec.waiting).toBe(0)
  })

  it('runs the spin policy once, before registering, and tries again at once when it says so', () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    let spins = 0
    const spin = () => {
      spins++
      expect(Atomics.load(i32, WAITERS)).toBe(0)
      Atomics.store(i32, FLAG, 3)
      return true
    }
    expect(ec.waitSync(flagSet(i32), rules(1000, { spin }))).toBe(3)
    expect(spins).toBe(1)
  })

  it('counts itself in the per-slot share while registered, and gives it back', () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS, { shares: { base: SHARES, slot: 2 } })
    const seen: number[] = []
    const attempt = () => {
      seen.push(Atomics.load(i32, WAITERS), Atomics.load(i32, SHARES + 2))
      return seen.length >= 4 ? 1 : NOT_YET
    }
    expect(ec.waitSync(attempt, rules(1000, { sliceMs: 1 }))).toBe(1)
    expect(seen).toEqual([1, 1, 1, 1])
    expect([Atomics.load(i32, WAITERS), Atomics.load(i32, SHARES + 2)]).toEqual([0, 0])
  })

  it('propagates what attempt throws, unregistered', () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    expect(() =>
      ec.waitSync(() => {
        throw new RangeError('corrupt')
      }, rules(1000)),
    ).toThrow(RangeError)
    expect(ec.waiting).toBe(0)
  })
})

describe('EventCount#wait()', () => {
  it('wakes on notify from another thread without blocking the event loop', async () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    let ticks = 0
    const timer = setInterval(() => ticks++, 5)
    const worker = setFromWorker(i32, 9, 60)
    expect(await ec.wait(flagSet(i32), rules(5000))).toBe(9)
    clearInterval(timer)
    expect(ticks).toBeGreaterThan(2)
    expect(ec.waiting).toBe(0)
    await worker.terminate()
  })

  it('a notify in this thread wakes it (notify bumps the event and wakes registered sleepers)', async () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    const waiting = ec.wait(flagSet(i32), rules(5000))
    await new Promise((r) => setTimeout(r, 20))
    expect(ec.waiting).toBe(1)
    Atomics.store(i32, FLAG, 5)
    expect(ec.notify()).toBe(1)
    expect(await waiting).toBe(5)
  })

  it('rejects with signal.reason on abort and leaves waiters at 0', async () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    const controller = new AbortController()
    const waiting = ec.wait(flagSet(i32), rules(5000, { signal: controller.signal }))
    setTimeout(() => controller.abort(new Error('stop')), 20)
    await expect(waiting).rejects.toThrow('stop')
    expect(ec.waiting).toBe(0)
  })

  it('rejects with ClosedError when the host is closed while it waits', async () => {
    const { i32 } = words()
    const host: WaitHost & { closed: boolean } = { closed: false }
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    const waiting = ec.wait(flagSet(i32), rules(5000, { sliceMs: 10 }))
    setTimeout(() => {
      host.closed = true
    }, 20)
    const error = await waiting.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ClosedError)
    expect((error as Error).message).toBe(closedWhileWaiting('the test word').message)
  })

  it('leaves waiters as it found them when the segment is closed while it waits (plain and claimed shares)', async () => {
    const kind = { kind: 'test-event-count', version: 1 }
    const segment = Segment.create(kind, 64)
    const other = Segment.open(kind, segment.name)
    try {
      const at = (s: Segment) => new Int32Array(s.buffer, s.dataOffset, 16)
      const i32 = at(segment)
      const plain = new EventCount(segment, i32, EVENT, WAITERS)
      const claimed = new EventCount(segment, i32, 8, 9, { shares: { base: 10, slot: 0, claim: true } })
      // Each with its handler at once: they reject when the close settles their native waits, in any order.
      const waits = [
        plain.wait(flagSet(i32), rules(5000)),
        plain.wait(flagSet(i32), rules(5000)),
        claimed.wait(flagSet(i32), rules(5000)),
      ].map((waiting) => waiting.catch((error: unknown) => error))
      await new Promise((resolve) => setTimeout(resolve, 20))
      const seen = at(other)
      expect([seen[WAITERS], seen[9], seen[10]]).toEqual([2, 1, 1])
      segment.close()
      for (const error of await Promise.all(waits)) expect(error).toBeInstanceOf(ClosedError)
      // Before, each wait pending at the close stayed counted: every later notify made a wake syscall for nobody.
      expect([seen[WAITERS], seen[9], seen[10]]).toEqual([0, 0, 0])
    } finally {
      segment.close()
      other.close()
    }
  })

  it('ticks while registered: a change nobody notified is found by attempt within a slice', async () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    let registeredAtTick = -1
    const waiting = ec.wait(flagSet(i32), rules(5000, { sliceMs: 40, onSlice: () => (registeredAtTick = ec.waiting) }))
    await new Promise((resolve) => setTimeout(resolve, 5))
    const changed = performance.now()
    Atomics.store(i32, FLAG, 4) // no event bump, no notify: only a tick can see it
    expect(await waiting).toBe(4)
    expect(performance.now() - changed).toBeLessThan(40 + 30)
    expect(registeredAtTick).toBe(1) // onSlice ran with the waiter still registered
    expect(ec.waiting).toBe(0)
  })

  it('ends with what onSlice throws at a tick, unregistered', async () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    const failure = new Error('the peer died')
    const waiting = ec.wait(
      flagSet(i32),
      rules(5000, {
        sliceMs: 20,
        onSlice: () => {
          throw failure
        },
      }),
    )
    expect(await waiting.catch((e: unknown) => e)).toBe(failure)
    expect(ec.waiting).toBe(0)
  })

  it('runs onSlice at the deadline too, and returns TIMED_OUT', async () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    let slices = 0
    const started = performance.now()
    expect(await ec.wait(flagSet(i32), rules(130, { sliceMs: 40, onSlice: () => slices++ }))).toBe(TIMED_OUT)
    expect(performance.now() - started).toBeGreaterThanOrEqual(129)
    expect(slices).toBeGreaterThanOrEqual(3) // ticks every 20 to 40 ms, then the deadline's own
    expect(ec.waiting).toBe(0)
  })

  it('returns a result a tick took even when the host closes before the queued wake-up settles', async () => {
    // Three due timers run in one timers phase (the event loop lags): A publishes and notifies
    // (the native wait completes; its settle is queued), the tick takes the item (its cancel
    // finds the wake-up queued), C closes the host. The item must come back, not ClosedError.
    const { i32 } = words()
    const host = { closed: false }
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    let taken = 0
    const attempt = () => {
      if (Atomics.load(i32, FLAG) === 0) return NOT_YET
      Atomics.sub(i32, FLAG, 1)
      taken++
      return 'item'
    }
    const waiting = ec.wait(attempt, rules(Number.POSITIVE_INFINITY, { sliceMs: 100 }))
    const now = performance.now()
    const tick = now + 100 - (now % 50) // the wait's first tick (futex.ts tickDelay)
    setTimeout(
      () => {
        Atomics.add(i32, FLAG, 1)
        ec.notify()
        const until = performance.now() + 5
        while (performance.now() < until) {} // the native waiter completes meanwhile
      },
      tick - 20 - now,
    )
    setTimeout(
      () => {
        host.closed = true
      },
      tick + 5 - now,
    )
    setTimeout(() => {
      const until = tick + 30
      while (performance.now() < until) {} // lag past A, the tick and C
    }, 1)
    const outcome = await waiting.catch((e: unknown) => e)
    // Whichever way the race went, an item taken is returned.
    if (taken === 1) expect(outcome).toBe('item')
    else expect(outcome).toBeInstanceOf(ClosedError)
    expect(taken).toBeLessThanOrEqual(1)
  })
})

describe('EventCount#notify()', () => {
  it('makes no wake when nobody is registered, but always bumps the event', () => {
    const { i32, host } = words()
    const ec = new EventCount(host, i32, EVENT, WAITERS)
    expect(ec.notify()).toBe(0)
    expect(Atomics.load(i32, EVENT)).toBe(1)
    expect(ec.notifyAll()).toBe(0)
    expect(Atomics.load(i32, EVENT)).toBe(2)
  })
})

function pair(): { i32: Int32Array; events: EventCount } {
  const i32 = new Int32Array(new SharedArrayBuffer(8))
  return { i32, events: new EventCount({ closed: false }, i32, EVENT, WAITERS) }
}

describe('EventCount#notifyIfWaiting()', () => {
  it('touches nothing while no waiter is registered', () => {
    const { i32, events } = pair()
    expect(events.notifyIfWaiting()).toBe(0)
    expect(Atomics.load(i32, EVENT)).toBe(0)
  })

  it('bumps the event when a waiter is registered (a sleeper on the old value returns at once)', () => {
    const { i32, events } = pair()
    Atomics.store(i32, WAITERS, 1)
    events.notifyIfWaiting()
    expect(Atomics.load(i32, EVENT)).toBe(1)
  })
})

describe('EventCount#notifyUnwoken() (the sleep epoch)', () => {
  const EPOCH = 4

  function withEpoch(): { i32: Int32Array; events: EventCount } {
    const { i32, host } = words()
    return { i32, events: new EventCount(host, i32, EVENT, WAITERS, { epoch: EPOCH }) }
  }

  it('a registered waiter raises the epoch to the value it sleeps on', () => {
    const { i32, events } = withEpoch()
    Atomics.store(i32, EVENT, 7)
    let epochAtAttempt = -1
    const attempt = () => {
      epochAtAttempt = Atomics.load(i32, EPOCH)
      return NOT_YET
    }
    expect(events.waitSync(attempt, rules(30))).toBe(TIMED_OUT)
    expect(epochAtAttempt).toBe(7)
  })

  it('wakes once per registration: skips (-1, no bump) while every waiter was woken already', () => {
    const { i32, events } = withEpoch()
    expect(events.notifyUnwoken()).toBe(-1) // nobody registered
    // One waiter registered on event value 0 (as its #enter leaves the words), not yet run since.
    Atomics.store(i32, WAITERS, 1)
    expect(events.notifyUnwoken()).toBe(0) // the bump and the wake syscall (no thread sleeps here)
    expect(Atomics.load(i32, EVENT)).toBe(1)
    for (let i = 0; i < 100; i++) expect(events.notifyUnwoken()).toBe(-1)
    expect(Atomics.load(i32, EVENT)).toBe(1)
    // A registration on the new value is woken again.
    Atomics.store(i32, EPOCH, 1)
    expect(events.notifyUnwoken()).toBe(0)
    expect(Atomics.load(i32, EVENT)).toBe(2)
  })

  it('wakes when the epoch is scribbled ahead of the event, and across the 2^32 wrap', () => {
    const { i32, events } = withEpoch()
    Atomics.store(i32, WAITERS, 1)
    Atomics.store(i32, EPOCH, 1000)
    expect(events.notifyUnwoken()).toBe(0)
    expect(events.notifyUnwoken()).toBe(0)
    Atomics.store(i32, EVENT, -1) // 2^32 - 1
    Atomics.store(i32, EPOCH, -1)
    expect(events.notifyUnwoken()).toBe(0) // the event wraps to 0
    expect(Atomics.load(i32, EVENT)).toBe(0)
    expect(events.notifyUnwoken()).toBe(-1) // 0 is after 2^32 - 1
  })

  it('a sleeper in another thread is woken by the first notify after it registered', async () => {
    const { i32, events } = withEpoch()
    const internal = new URL('../../dist/internal.js', import.meta.url).href
    const w = new Worker(
      `const { workerData: { i32, internal }, parentPort } = require('node:worker_threads')
       import(internal).then(({ EventCount, NOT_YET }) => {
         const events = new EventCount({ closed: false }, i32, ${EVENT}, ${WAITERS}, { epoch: ${EPOCH} })
         const flag = () => (Atomics.load(i32, ${FLAG}) !== 0 ? 'woken' : NOT_YET)
         parentPort.postMessage(events.waitSync(flag, { deadline: performance.now() + 10000, sliceMs: 10000, label: 'w' }))
       })`,
      { eval: true, workerData: { i32, internal } },
    )
    try {
      while (Atomics.load(i32, WAITERS) === 0) await new Promise((r) => setTimeout(r, 1))
      await new Promise((r) => setTimeout(r, 20)) // asleep by now
      const started = performance.now()
      const woke = new Promise((resolve) => w.once('message', resolve))
      Atomics.store(i32, FLAG, 1)
      expect(events.notifyUnwoken()).toBe(1)
      expect(await woke).toBe('woken')
      expect(performance.now() - started).toBeLessThan(1000)
    } finally {
      await w.terminate()
    }
  })
})

describe('EventCount#pauseSync()', () => {
  it('returns true at once when ready, without sleeping', () => {
    const { i32, events } = pair()
    const started = performance.now()
    expect(events.pauseSync(() => true, 5000)).toBe(true)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(Atomics.load(i32, WAITERS)).toBe(0)
  })

  it('sleeps at most its time registered as a waiter, then leaves and says whether it became ready', () => {
    const { i32, events } = pair()
    let registered = -1
    const started = performance.now()
    const ready = events.pauseSync(() => {
      registered = Math.max(registered, Atomics.load(i32, WAITERS))
      return false
    }, 20)
    expect(ready).toBe(false)
    expect(registered).toBe(1)
    expect(performance.now() - started).toBeGreaterThanOrEqual(15)
    expect(Atomics.load(i32, WAITERS)).toBe(0)
  })

  it('returns false at once for a time of 0', () => {
    const { events } = pair()
    expect(events.pauseSync(() => true, 0)).toBe(false)
  })
})
