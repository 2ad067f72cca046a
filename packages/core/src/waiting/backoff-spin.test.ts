import { describe, expect, it } from 'vitest'
import { BACKOFF_CHECKS, BackoffSpin } from './backoff-spin.js'
import { EventCount, NOT_YET, TIMED_OUT } from './event-count.js'
import { deadlineOf } from './signal.js'

describe('BackoffSpin#spin', () => {
  it('returns true at the first check that sees a change, and false once its budget is spent', () => {
    let checks = 0
    const spinner = new BackoffSpin(() => ++checks === 3, 10)
    expect(spinner.spin()).toBe(true)
    expect(checks).toBe(3)
    // Resumes where it stopped: 7 checks are left of the budget.
    expect(spinner.spin()).toBe(false)
    expect(checks).toBe(10)
    expect(spinner.spin()).toBe(false)
    expect(checks).toBe(10)
    // A wait that saw a change keeps the whole budget for the next one, though it then spent it.
    spinner.reset()
    checks = 100
    expect(spinner.spin()).toBe(false)
    expect(checks).toBe(110)
    // One spent in vain halves the next (see the next test).
    spinner.reset()
    checks = 100
    expect(spinner.spin()).toBe(false)
    expect(checks).toBe(105)
  })

  it('halves its budget after each wait that spent it in vain, down to none, with whole budgets as probes; a change seen restores it', () => {
    let checks = 0
    let changed = false
    const spinner = new BackoffSpin(() => {
      checks++
      return changed
    })
    const spun = () => {
      checks = 0
      spinner.reset()
      const result = spinner.spin()
      // Spent: further calls of the same wait check nothing more.
      if (!result) expect(spinner.spin()).toBe(false)
      return checks
    }
    const made = Array.from({ length: 24 }, spun)
    // The 8th wait probes with the whole budget, then (missing) the 24th.
    expect(made).toEqual([40, 20, 10, 5, 2, 1, 0, 40, ...new Array(15).fill(0), 40])
    expect(spun()).toBe(0)
    // Probes stay rare while they miss; one that sees a change restores the whole budget.
    let waits = 0
    changed = true
    while (spun() === 0) waits++
    expect(waits).toBeGreaterThan(20)
    changed = false
    expect(spun()).toBe(BACKOFF_CHECKS)
  })

  it('makes its default 40 checks and returns within milliseconds (about 70 µs of pauses)', () => {
    let checks = 0
    const spinner = new BackoffSpin(() => {
      checks++
      return false
    })
    const started = performance.now()
    expect(spinner.spin()).toBe(false)
    expect(checks).toBe(BACKOFF_CHECKS)
    expect(performance.now() - started).toBeLessThan(50)
  })
})

describe('EventCount with a BackoffSpin (respin: true)', () => {
  it('tries again after each change within one budget, without registering as a waiter', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(16))
    const host = { closed: false }
    const events = new EventCount(host, i32, 0, 1)
    let version = 0
    let seen = 0
    let tries = 0
    // Every check sees a change; the first two tries lose the race, the third wins.
    const spinner = new BackoffSpin(() => ++version > seen, 10)
    const result = events.waitSync(
      () => {
        seen = version
        tries++
        return tries === 3 ? 'won' : NOT_YET
      },
      { deadline: deadlineOf(1000), spin: spinner.reset().spin, respin: true, sliceMs: 100, label: 'test' },
    )
    expect(result).toBe('won')
    expect(tries).toBe(3)
    expect(Atomics.load(i32, 1)).toBe(0)
  })

  it('spins once without respin, then registers and sleeps until the deadline', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(16))
    const events = new EventCount({ closed: false }, i32, 0, 1)
    let tries = 0
    const spinner = new BackoffSpin(() => true, 10)
    const result = events.waitSync(
      () => {
        tries++
        return NOT_YET
      },
      { deadline: deadlineOf(20), spin: spinner.spin, sliceMs: 100, label: 'test' },
    )
    expect(result).toBe(TIMED_OUT)
    // One try after the spin, then one per registration (the first, and one after the sleep timed out).
    expect(tries).toBe(3)
    expect(Atomics.load(i32, 1)).toBe(0)
  })
})
