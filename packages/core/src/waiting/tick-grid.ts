/**
 * The periodic looks of pending async waits (futex.ts, `WaitTick`) on one
 * timer per period, not one per wait.
 *
 * A wait of period `ms` is due at a multiple of `ms / 2` on the
 * `performance.now()` clock, between `ms / 2` and `ms` after it was filed.
 * The period's one timer fires at each such multiple while it has waits and
 * runs the ones due. So 100 idle waits cost one timer callback per half
 * period, not 100 callbacks, 100 new timers and a timer heap of 100 lists
 * (Node keeps a list per distinct delay, and each wait's delay differed).
 *
 * The timers are unref'd: a pending wait keeps the event loop alive by its
 * native registration (futex.ts), not by its ticks. A period whose waits all
 * ended keeps its timer until the next fire (no clearTimeout per wait: a
 * busy loop of short waits re-uses it), which then finds nothing and stops.
 */

/** One wait's look, filed by `fileTick`. */
export interface GridTick {
  /** Runs when due; may file the tick again. Must not throw. */
  readonly run: () => void
}

interface Period {
  readonly half: number
  /** Filed ticks and when each is due (`performance.now()` ms). */
  readonly due: Map<GridTick, number>
  timer: NodeJS.Timeout | undefined
}

const periods = new Map<number, Period>()

/** Where each filed tick is, so `unfileTick` needs no period. */
const filedIn = new Map<GridTick, Period>()

/** ms from `now` to the next multiple of `half` at least `half / 2` away (1 for periods below 2 ms). */
function toNextMultiple(half: number, now: number): number {
  if (!(half >= 1)) return 1
  const delay = half - (now % half)
  return delay < half / 2 ? delay + half : delay
}

function fire(period: Period): void {
  period.timer = undefined
  // setTimeout may fire up to a millisecond early by performance.now(): due
  // times are multiples of `half`, so anything within half / 2 is this fire's.
  const ready = performance.now() + period.half / 2
  // A Map's iteration skips entries deleted before they are reached (a tick run
  // earlier may end another wait) and visits those set during it: a tick that
  // files itself again is due a period later, so it is passed over.
  for (const [tick, due] of period.due) {
    if (due > ready) continue
    period.due.delete(tick)
    filedIn.delete(tick)
    try {
      tick.run()
    } catch (error) {
      // A bug in a tick must not starve the others of their looks.
      queueMicrotask(() => {
        throw error
      })
    }
  }
  if (period.due.size > 0) arm(period)
}

function arm(period: Period): void {
  period.timer = setTimeout(fire, toNextMultiple(period.half, performance.now()), period)
  period.timer.unref()
}

/** Files `tick` to run once, between `ms / 2` and `ms` from now (1 ms for `ms` below 2). */
export function fileTick(tick: GridTick, ms: number): void {
  unfileTick(tick)
  const half = ms >= 2 ? ms / 2 : 0
  let period = periods.get(half)
  if (period === undefined) {
    period = { half, due: new Map(), timer: undefined }
    periods.set(half, period)
  }
  const now = performance.now()
  // The next multiple of `half` at least `half` away: between ms / 2 and ms.
  const due = half === 0 ? now + 1 : now + 2 * half - (now % half)
  period.due.set(tick, due)
  filedIn.set(tick, period)
  if (period.timer === undefined) arm(period)
}

/** Takes `tick` off the grid (nothing when it is not filed). */
export function unfileTick(tick: GridTick): void {
  const period = filedIn.get(tick)
  if (period === undefined) return
  period.due.delete(tick)
  filedIn.delete(tick)
}
