import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { EventCount, NOT_YET, type WaitRules } from './event-count.js'
import { waitWord } from './futex.js'
import { FIRE_SLICE_MS, fileTick, type GridTick, unfileTick } from './tick-grid.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Timers that keep the event loop alive (unref'd ones are not listed). */
const refedTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

/** Spins for `ms`: a tick that costs that much. */
const busy = (ms: number) => {
  const until = performance.now() + ms
  while (performance.now() < until);
}

/** The setTimeout calls made while `work` runs (it waits with `real`, which is not counted). */
async function countTimers(work: (real: typeof setTimeout) => Promise<void>): Promise<number> {
  const real = globalThis.setTimeout
  let timers = 0
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    timers++
    return real(...args)
  }) as typeof setTimeout
  try {
    await work(real)
  } finally {
    globalThis.setTimeout = real
  }
  return timers
}

describe('tick grid', () => {
  it('runs each filed tick once, between ms / 2 and ms after it was filed', async () => {
    const filedAt = performance.now()
    const ranAt: number[] = []
    for (let i = 0; i < 50; i++) fileTick({ run: () => ranAt.push(performance.now()) }, 40)
    // A loaded machine runs timers late: wait for them (never early, checked below).
    for (let waited = 0; ranAt.length < 50 && waited < 5000; waited += 20) await sleep(20)
    expect(ranAt).toHaveLength(50)
    for (const t of ranAt) {
      // setTimeout may fire up to a millisecond early by performance.now().
      expect(t - filedAt).toBeGreaterThanOrEqual(20 - 1)
      expect(t - filedAt).toBeLessThan(40 + 1000)
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

  it('keeps one timer per period however often a tick files itself again', async () => {
    // A fire used to arm a second timer when a tick filed itself during the fire: the
    // timers of one period doubled on every fire (212, 1750, 9184 setTimeout calls in
    // 0.5, 1 and 2 s for one 40 ms tick).
    let runs = 0
    const tick: GridTick = { run: () => runs++ < 1000 && fileTick(tick, 20) }
    const timers = await countTimers(async (real) => {
      fileTick(tick, 20)
      await new Promise((resolve) => real(resolve, 300))
    }).finally(() => unfileTick(tick))
    expect(runs).toBeGreaterThanOrEqual(5)
    // One timer per fire, and every fire runs the tick: it is armed for the multiple the tick is
    // due at (20 ms on), not for every multiple of 10 ms (every other one found nothing). Plus the
    // sleep's own timer.
    expect(timers).toBeLessThanOrEqual(runs + 2)
  })

  it('arms its timer for the multiple a tick is due at: a tick filed just after a multiple costs one fire, not an empty one first', async () => {
    // 40 ms: due at a multiple of 20 ms, two multiples on from the one it is filed in. Filed just
    // after one, it is due almost 40 ms later; a timer armed for the next multiple found nothing.
    while (performance.now() % 20 > 2 || performance.now() % 20 < 0.5);
    let ran = 0
    const timers = await countTimers(async (real) => {
      fileTick({ run: () => ran++ }, 40)
      await new Promise((resolve) => real(resolve, 80))
    })
    expect(ran).toBe(1)
    expect(timers).toBe(1)
  })

  it('never runs a tick again in the fire that filed it again, also when the timer fires early (2 ms: due every other ms)', async () => {
    // setTimeout runs up to a millisecond early by performance.now(): a fire that ran ticks due
    // up to the multiple it was armed for re-ran a tick that had filed itself for the next one,
    // in a loop until the clock got there (hundreds of runs in a millisecond).
    let runs = 0
    const tick: GridTick = { run: () => ++runs < 10_000 && fileTick(tick, 2) }
    fileTick(tick, 2)
    await sleep(100)
    unfileTick(tick)
    // One run per 2 ms, about 50: at most one per millisecond, with some slack.
    expect(runs).toBeGreaterThan(5)
    expect(runs).toBeLessThanOrEqual(110)
  })

  it('runs a long fire in slices of FIRE_SLICE_MS: an immediate queued by its first tick runs before its last', async () => {
    const COUNT = 400
    let ran = 0
    let ranBeforeImmediate = -1
    const first: GridTick = {
      run: () => {
        ran++
        setImmediate(() => {
          ranBeforeImmediate = ran
        })
      },
    }
    fileTick(first, 40)
    // 400 ticks of 5 µs: 2 ms in one go, many times FIRE_SLICE_MS.
    for (let i = 1; i < COUNT; i++)
      fileTick(
        {
          run: () => {
            ran++
            busy(0.005)
          },
        },
        40,
      )
    for (let waited = 0; ran < COUNT && waited < 5000; waited += 20) await sleep(20)
    expect(ran).toBe(COUNT)
    expect(ranBeforeImmediate).toBeGreaterThan(0)
    expect(ranBeforeImmediate).toBeLessThan(COUNT)
  })

  it('reads the clock before every tick: slow ticks (25 µs, a look after the process slept) end a slice after FIRE_SLICE_MS and one more', async () => {
    const COUNT = 40
    let ran = 0
    let ranBeforeImmediate = -1
    for (let i = 0; i < COUNT; i++)
      fileTick(
        {
          run: () => {
            if (ran++ === 0)
              setImmediate(() => {
                ranBeforeImmediate = ran
              })
            busy(0.025)
          },
        },
        40,
      )
    for (let waited = 0; ran < COUNT && waited < 5000; waited += 20) await sleep(20)
    expect(ran).toBe(COUNT)
    // 0.1 ms / 25 µs = 4 ticks, one more for the one that crossed it; 16 ran when the clock was read every 16th.
    expect(ranBeforeImmediate).toBeGreaterThan(0)
    expect(ranBeforeImmediate).toBeLessThanOrEqual(Math.ceil(FIRE_SLICE_MS / 0.025) + 1)
  })

  it('goes on with a sliced fire when nothing else wakes the event loop (only the waits keep it alive)', async () => {
    // The continuation was an unref'd immediate: with nothing else to wake the loop, the rest
    // of the fire, and every later fire of that period, waited for an unrelated event.
    const fixture = fileURLToPath(new URL('../../test/fixtures/idle-looks.mjs', import.meta.url))
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [fixture], { timeout: 4000 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    )
    const ms = Number(/^found after (\d+)$/m.exec(out)?.[1])
    // The last of 400 looks of 5 µs, all due within 20–40 ms: well under a second.
    expect(ms).toBeLessThan(1000)
  })

  it('never runs the look of a wait whose deadline had passed when it began', async () => {
    // The wait ends at once ('timed-out'); its look used to be filed after that, and ran
    // later for a finished wait: a queue get's look takes an item nobody receives.
    const i32 = new Int32Array(new SharedArrayBuffer(4))
    let looks = 0
    const result = await waitWord(i32, 0, 0, 1e-9, undefined, {
      ms: () => 10,
      run: () => {
        looks++
        return false
      },
    })
    expect(result).toBe('timed-out')
    await sleep(60)
    expect(looks).toBe(0)
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
