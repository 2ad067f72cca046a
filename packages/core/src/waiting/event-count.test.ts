import { describe, expect, it } from 'vitest'
import { EventCount } from './event-count.js'

const EVENT = 0
const WAITERS = 1

function words(): { i32: Int32Array; events: EventCount } {
  const i32 = new Int32Array(new SharedArrayBuffer(8))
  return { i32, events: new EventCount({ closed: false }, i32, EVENT, WAITERS) }
}

describe('EventCount#notifyIfWaiting()', () => {
  it('touches nothing while no waiter is registered', () => {
    const { i32, events } = words()
    expect(events.notifyIfWaiting()).toBe(0)
    expect(Atomics.load(i32, EVENT)).toBe(0)
  })

  it('bumps the event when a waiter is registered (a sleeper on the old value returns at once)', () => {
    const { i32, events } = words()
    Atomics.store(i32, WAITERS, 1)
    events.notifyIfWaiting()
    expect(Atomics.load(i32, EVENT)).toBe(1)
  })
})

describe('EventCount#pauseSync()', () => {
  it('returns true at once when ready, without sleeping', () => {
    const { i32, events } = words()
    const started = performance.now()
    expect(events.pauseSync(() => true, 5000)).toBe(true)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(Atomics.load(i32, WAITERS)).toBe(0)
  })

  it('sleeps at most its time registered as a waiter, then leaves and says whether it became ready', () => {
    const { i32, events } = words()
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
    const { events } = words()
    expect(events.pauseSync(() => true, 0)).toBe(false)
  })
})
