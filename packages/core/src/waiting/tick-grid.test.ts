import { describe, expect, it } from 'vitest'
import { EventCount, NOT_YET, type WaitRules } from './event-count.js'
import { fileTick, type GridTick, unfileTick } from './tick-grid.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Timers that keep the event loop alive (unref'd ones are not listed). */
const refedTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

describe('tick grid', () => {
  it('runs each filed tick once, between ms / 2 and ms after it was filed', async () => {
    const filedAt = performance.now()
    const ranAt: number[] = []
    for (let i = 0; i < 50; i++) fileTick({ run: () => ranAt.push(performance.now()) }, 40)
    await sleep(100)
    expect(ranAt).toHaveLength(50)
    for (const t of ranAt) {
      // setTimeout may fire up to a millisecond early by performance.now().
      expect(t - filedAt).toBeGreaterThanOrEqual(20 - 1)
      expect(t - filedAt).toBeLessThan(40 + 30)
    }
  })

  it('never runs an unfiled tick, and a tick may file itself again', async () => {
    let dropped = 0
    let again = 0
    const drop: GridTick = { run: () => dropped++ }
    const repeat: GridTick = { run: () => ++again < 3 && fileTick(repeat, 10) }
    fileTick(drop, 10)
    fileTick(repeat, 10)
    unfileTick(drop)
    await sleep(80)
    expect(dropped).toBe(0)
    expect(again).toBe(3)
  })

  it('serves 200 pending waits with no timer per wait, and their ticks still find a change nobody notified', async () => {
    const i32 = new Int32Array(new SharedArrayBuffer(4 * 3 * 200))
    const host = { closed: false }
    const before = refedTimers()
    const waits = Array.from({ length: 200 }, (_, k) => {
      const ec = new EventCount(host, i32, 3 * k, 3 * k + 1)
      const attempt = () => (Atomics.load(i32, 3 * k + 2) !== 0 ? k : NOT_YET)
      const rules: WaitRules = { deadline: Number.POSITIVE_INFINITY, sliceMs: 40, label: 'a test word' }
      return ec.wait(attempt, rules)
    })
    await sleep(5)
    // Each wait used to keep a timer of its own for its ticks; they now ride on one unref'd
    // timer (the native registrations keep the event loop alive).
    expect(refedTimers() - before).toBeLessThanOrEqual(1)
    for (let k = 0; k < 200; k++) Atomics.store(i32, 3 * k + 2, 1) // no bump, no notify
    const results = await Promise.all(waits)
    expect(results).toEqual(Array.from({ length: 200 }, (_, k) => k))
  })
})
