import { describe, expect, it } from 'vitest'
import { LookCadence } from './look-cadence.js'

/** Resolves once `ms` have passed by performance.now() (setTimeout may fire early by it). */
async function pass(ms: number): Promise<void> {
  const until = performance.now() + ms
  while (performance.now() < until) await new Promise((resolve) => setTimeout(resolve, until - performance.now() + 1))
}

describe('LookCadence#due()', () => {
  it('is true before any look, and stays true until a look is stamped', () => {
    const looks = new LookCadence(60_000)
    expect(looks.due()).toBe(true)
    expect(looks.due()).toBe(true)
    looks.stamp()
    expect(looks.due()).toBe(false)
  })

  it('turns true once periodMs have passed since the stamp, not before', async () => {
    const looks = new LookCadence(40)
    looks.stamp()
    const stamped = performance.now()
    await pass(20)
    // Checked against the clock, so that a slow machine makes it skip, not fail.
    if (performance.now() - stamped < 39) expect(looks.due()).toBe(false)
    await pass(40)
    expect(looks.due()).toBe(true)
  })

  it('counts periodMs from the stamp exactly: due at periodMs, not a moment before', () => {
    const looks = new LookCadence(100)
    looks.stamp(1000)
    expect(looks.due(1099.999)).toBe(false)
    expect(looks.due(1100)).toBe(true)
  })
})

describe('LookCadence#claim()', () => {
  it('claims one look per period: true, then false until periodMs have passed, then true once', async () => {
    const looks = new LookCadence(40)
    expect(looks.claim()).toBe(true)
    expect(looks.claim()).toBe(false)
    expect(looks.due()).toBe(false)
    await pass(40)
    expect(looks.claim()).toBe(true)
    expect(looks.claim()).toBe(false)
  })

  it('is held off by a stamp from another path (a sleep slice that looked)', async () => {
    const looks = new LookCadence(40)
    expect(looks.claim()).toBe(true)
    await pass(40)
    looks.stamp()
    expect(looks.claim()).toBe(false)
  })

  it('is not held off by due() calls that found a look due but ran none', () => {
    const looks = new LookCadence(60_000)
    for (let i = 0; i < 3; i++) expect(looks.due()).toBe(true)
    expect(looks.claim()).toBe(true)
  })
})

describe('LookCadence (a tight loop of calls)', () => {
  it('lets at most one look per period through: the first, then one per whole period passed', () => {
    const looks = new LookCadence(20)
    const start = performance.now()
    let claimed = 0
    let calls = 0
    while (performance.now() - start < 100) {
      calls++
      if (looks.claim()) claimed++
    }
    const elapsed = performance.now() - start
    expect(claimed).toBeGreaterThanOrEqual(1)
    expect(claimed).toBeLessThanOrEqual(Math.floor(elapsed / 20) + 1)
    expect(calls).toBeGreaterThan(claimed)
  })
})
