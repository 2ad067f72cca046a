import { describe, expect, it } from 'vitest'
import { AdaptiveSpin } from './adaptive-spin.js'

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

  it('spins its whole budget on a miss, a share of it after misses, and the whole of it every 8th spin', () => {
    const spin = new AdaptiveSpin()
    const never = () => false
    const timed = () => {
      const started = performance.now()
      expect(spin.spin(never, 40, Number.POSITIVE_INFINITY)).toBe(false)
      return performance.now() - started
    }
    expect(timed()).toBeGreaterThanOrEqual(40) // spin 1: the whole budget
    for (let i = 2; i <= 6; i++) timed()
    expect(timed()).toBeLessThan(20) // spin 7: 1/64 of it (0.6 ms) after six misses
    expect(timed()).toBeGreaterThanOrEqual(40) // spin 8: a probe gets the whole budget
  })

  it('never spins past the deadline', () => {
    const spin = new AdaptiveSpin()
    const started = performance.now()
    expect(spin.spin(() => false, 10_000, started + 20)).toBe(false)
    expect(performance.now() - started).toBeLessThan(5000)
  })
})
