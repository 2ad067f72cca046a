/**
 * The periodic looks of pending async waits (futex.ts, `WaitTick`) on one
 * timer per period, not one per wait.
 *
 * A wait of period `ms` is due at a multiple of `ms / 2` on the
 * `performance.now()` clock, between `ms / 2` and `ms` after it was filed.
 * The period's one timer fires at the earliest multiple a filed wait is due
 * at and runs the ones due. So 100 idle waits filed together cost one timer
 * callback per period (a wait that looks files itself again two multiples
 * on, so a timer at every multiple found nothing every other time), not
 * 100 callbacks, 100 new timers and a timer heap of 100 lists (Node keeps a
 * list per distinct delay, and each wait's delay differed).
 * A fire runs its ticks FIRE_SLICE_MS at a time, going on in the next turn
 * of the event loop, so a process with thousands of waits is not held up
 * for the whole run.
 *
 * The timers are unref'd: a pending wait keeps the event loop alive by its
 * native registration (futex.ts), not by its ticks. A period whose waits all
 * ended keeps its timer until the next fire (no clearTimeout per wait: a
 * busy loop of short waits re-uses it), which then finds nothing and stops.
 */
import { runtime } from '../runtime.js'

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

/** The grid of this thread, on the runtime: the ESM and CJS copies of @ipc/core share one. */
interface Grid {
  readonly periods: Map<number, Period>
  /** Where each filed tick is, so `unfileTick` needs no period. */
  readonly filedIn: Map<GridTick, Period>
}

function grid(): Grid {
  const rt = runtime()
  rt.tickGrid ??= { periods: new Map(), filedIn: new Map() } satisfies Grid
  return rt.tickGrid as Grid
}

/**
 * The longest a fire runs ticks in one go, ms. The rest run in the loop's
 * next check phase (setImmediate), so timers and I/O due meanwhile are
 * served between slices: 1000 idle waits of one period cost a 2–3 ms run per
 * fire on the 2-core VM, which delayed everything else on the event loop by
 * as much.
 */
export const FIRE_SLICE_MS = 0.1

function fire(period: Period): void {
  // This fire runs the ticks due by now (a quarter of `half` of slack absorbs
  // rounding: due times are sums of floats), not those of the multiple it
  // was armed for: setTimeout may fire early by performance.now() (by a
  // millisecond, or more when the loop's clock is stale), and a tick run
  // files itself again two multiples after the one `now` is in: were that
  // the armed one, the fire would run it again and again until the clock got
  // there (554 runs in 100 ms of a 2 ms tick). An early fire leaves what is
  // not due yet to the next, armed for it; a late one runs all that is due.
  runDue(period, performance.now() + period.half / 4)
}

/** Runs the ticks of `period` due by `ready`, FIRE_SLICE_MS at a time; then re-arms the period's timer. */
function runDue(period: Period, ready: number): void {
  const { filedIn } = grid()
  // `period.timer` stays set while the ticks run (and across slices), so one
  // that files itself again does not arm a second timer (each fire would add one).
  const until = performance.now() + FIRE_SLICE_MS
  let ran = 0
  // The earliest due of the ticks passed over: the multiple the timer is armed for next.
  let next = Number.POSITIVE_INFINITY
  // A Map's iteration skips entries deleted before they are reached (a tick run
  // earlier may end another wait) and visits those set during it: a tick that
  // files itself again is due a period later, so it is passed over.
  // The clock is read before every tick but the first (about 30 ns): a look
  // costs 3 µs warm, but 25 µs after the process slept (cold caches, 100
  // segments), and 16 of those between two reads held the loop for 0.4 ms.
  for (const [tick, due] of period.due) {
    if (due > ready) {
      if (due < next) next = due
      continue
    }
    if (++ran > 1 && performance.now() > until) {
      // Ref'd: an unref'd immediate does not stop the loop from blocking in its poll, and
      // looks that find nothing make no event to end it (the rest would wait for an
      // unrelated one). It holds the loop for one turn, then the period's timer, unref'd, is armed.
      setImmediate(runDue, period, ready)
      return
    }
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
  period.timer = undefined
  // (Every tick left was passed over, so `next` is finite; the fallback is for safety.)
  if (period.due.size > 0) arm(period, next < Number.POSITIVE_INFINITY ? next : performance.now() + period.half)
}

/**
 * Arms the period's timer for `due`, a multiple of `half` (1 ms on for periods below 2 ms).
 * No tick filed later is due before it: a tick is due two multiples after the one it is filed
 * in, and `due` is the earliest of ticks filed no later (a tick unfiled since costs one fire
 * that finds nothing).
 */
function arm(period: Period, due: number): void {
  const delay = period.half === 0 ? 1 : Math.max(due - performance.now(), 0)
  period.timer = setTimeout(fire, delay, period)
  period.timer.unref()
}

/**
 * Files `tick` to run once, between `ms / 2` and `ms` from now (1 to 2 ms
 * for `ms` below 2; later when the event loop is busy).
 */
export function fileTick(tick: GridTick, ms: number): void {
  unfileTick(tick)
  const { periods, filedIn } = grid()
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
  if (period.timer === undefined) arm(period, due)
}

/** Takes `tick` off the grid (nothing when it is not filed). */
export function unfileTick(tick: GridTick): void {
  const { filedIn } = grid()
  const period = filedIn.get(tick)
  if (period === undefined) return
  period.due.delete(tick)
  filedIn.delete(tick)
}
