import { describe, expect, it } from 'vitest'
import { AdaptiveSpin } from './adaptive-spin.js'

/**
 * A fresh AdaptiveSpin with a 20 ms budget, and a function that runs one
 * spin on `hit`, checks it returns what `hit` says, and returns its duration
 * (ms); `polls()` tells how many times the last spin looked at `hit`. (A spin
 * that must not spin is told by its polls: its duration, a few µs, grows
 * past a millisecond whenever a loaded machine deschedules the test.)
 */
function timedSpins(hit: () => boolean): (() => number) & { polls: () => number } {
  const spin = new AdaptiveSpin()
  let polls = 0
  const counted = () => {
    polls++
    return hit()
  }
  const timed = () => {
    polls = 0
    const started = performance.now()
    expect(spin.spin(counted, 20, Number.POSITIVE_INFINITY)).toBe(hit())
    return performance.now() - started
  }
  return Object.assign(timed, { polls: () => polls })
}

describe('AdaptiveSpin#spin()', () => {
  it('returns true at the first poll that finds the condition', () => {
    const spin = new AdaptiveSpin()
    let polls = 0
    expect(spin.spin(() => ++polls === 3, 50, Number.POSITIVE_INFINITY)).toBe(true)
    expect(polls).toBe(3)
  })

  it('returns false without polling when the budget or the time left is 0', () => {
    const spin = new AdaptiveSpin()
    let polls = 0
    const settled = () => {
      polls++
      return true
    }
    expect(spin.spin(settled, 0, Number.POSITIVE_INFINITY)).toBe(false)
    expect(spin.spin(settled, 50, performance.now() - 1)).toBe(false)
    expect(polls).toBe(0)
  })

  it('spins its whole budget on a miss, a share of it after misses, and the whole of it in probes that grow rarer while they miss', () => {
    let hit = false
    const timed = timedSpins(() => hit)
    const full = (ms: number) => ms >= 20
    expect(full(timed())).toBe(true) // spin 1: the whole budget
    const misses: number[] = []
    const polls: number[] = []
    for (let i = 0; i < 30; i++) {
      misses.push(timed()) // spins 2..31
      polls.push(timed.polls())
    }
    // Spin 8 probes; it misses, so the next probe is 16 spins later (24), then 32 later.
    const probes = misses.flatMap((ms, i) => (full(ms) ? [i + 2] : []))
    expect(probes.filter((n) => n > 6)).toEqual([8, 24])
    expect(misses[3]).toBeLessThan(10) // spin 5: 1/16 of the budget after four misses
    expect(polls[5]).toBe(1) // spin 7: none after six misses (not a probe): one look
    // Not spinning, a spin looks once: it finds the condition, but that restores nothing.
    hit = true
    timed()
    expect(timed.polls()).toBe(1)
    hit = false
    timed()
    expect(timed.polls()).toBe(1)
  })

  it('restores the whole budget when a spin finds the condition', () => {
    let hit = false
    const timed = timedSpins(() => hit)
    timed() // a miss: half the budget next
    hit = true
    timed()
    hit = false
    expect(timed()).toBeGreaterThanOrEqual(20)
  })

  it('never spins past the deadline', () => {
    const spin = new AdaptiveSpin()
    const started = performance.now()
    expect(spin.spin(() => false, 10_000, started + 20)).toBe(false)
    expect(performance.now() - started).toBeLessThan(5000)
  })
})
