/**
 * The exponential-pause spin: a spin policy (`WaitRules.spin` of the event
 * count) for waits where the other side usually acts within microseconds,
 * such as a ring's consumer that caught up with its producer.
 *
 * It checks whether the state changed up to `checks` times; between checks
 * it idles on private memory (no cache-coherence traffic), the pause
 * doubling from 32 to 2048 iterations: about 70 µs for the default 40
 * checks. So a consumer that caught up lets a few messages accumulate rather
 * than pulling the producer's cache lines over on every message. Measured on
 * 2 cores (the MPMC ring): a 20 µs budget sleeps (and costs futex round
 * trips) far more often, halving throughput with 2 producers and 2 consumers.
 *
 * The budget adapts as the SPSC ring's does (spin-share.ts): a spin that
 * spent its budget in vain halves the next one, down to none, with whole
 * budgets now and then as probes; one that sees a change restores it. A
 * consumer fed within microseconds mostly keeps spinning (its spins see
 * items); one whose producer takes a millisecond an item (a pool's parent waiting for results) stops
 * paying 70 µs of CPU per item. A wait that saw a change counts as a hit
 * even when its try then lost a race and it slept after all.
 *
 * Unlike AdaptiveSpin it does not yield its CPU between checks: a consumer
 * woken onto its producer's CPU (Linux tends to wake a sleeper there) can
 * then miss its probes and settle into sleeping on more of its items (a
 * producer putting every 3 µs: up to 0.2 sleeps an item, against 0.04
 * before this adapted), at the same throughput. Yielding at the longest pauses avoided
 * that, but cut a 2-worker pool's rate of 1 ms tasks by a third.
 */
import { SpinShare } from './spin-share.js'

/** Checks of the default budget. */
export const BACKOFF_CHECKS = 40
const PAUSE_MIN = 32
const PAUSE_MAX = 2048

/** Private memory to idle on: spinning here makes no cache-coherence traffic. */
const idleWord = new Int32Array(16)

/** Busy-waits about `iterations` nanoseconds without touching shared memory. */
function idle(iterations: number): void {
  let x = idleWord[0] as number
  for (let i = 0; i < iterations; i++) x = (x + i) | 0
  idleWord[0] = x
}

/**
 * One budget of backoff spinning. Pass `spin` as `WaitRules.spin` with
 * `respin: true`: each call resumes where the last one stopped, so a try
 * that lost a race spins on within the same budget. `reset()` before each
 * wait (it sets that wait's share of the checks); one object serves the
 * waits of one side of one thread, one at a time (the runners spin
 * synchronously, before their first sleep).
 *
 * @example
 * ```ts
 * const spinner = new BackoffSpin(() => Atomics.load(i32, TAIL) !== head)
 * events.waitSync(attempt, { deadline, spin: spinner.reset().spin, respin: true, sliceMs: RECHECK_MS, label })
 * ```
 */
export class BackoffSpin {
  /** The policy: idles and checks until `changed()` (true) or the budget is spent (false). */
  readonly spin: () => boolean
  readonly #changed: () => boolean
  readonly #checks: number
  readonly #share = new SpinShare()
  /** Checks this wait may make (its share of `#checks`), and made so far. */
  #budget: number
  #done = 0
  #pause = PAUSE_MIN
  /** This wait saw a change (a hit, whatever its tries found). */
  #hit = false

  constructor(changed: () => boolean, checks = BACKOFF_CHECKS) {
    this.#changed = changed
    this.#checks = checks
    this.#budget = checks
    this.spin = () => this.#next()
  }

  /** Starts a new budget: this wait's share of the checks (SpinShare). */
  reset(): this {
    this.#budget = Math.floor(this.#checks * this.#share.start())
    this.#done = 0
    this.#pause = PAUSE_MIN
    this.#hit = false
    return this
  }

  #next(): boolean {
    if (this.#done >= this.#budget) return false
    while (this.#done < this.#budget) {
      idle(this.#pause)
      this.#done++
      this.#pause = Math.min(this.#pause * 2, PAUSE_MAX)
      if (this.#changed()) {
        if (!this.#hit) this.#share.hit()
        this.#hit = true
        return true
      }
    }
    // Spent (counted once: a later call of this wait returns false above); in vain unless it saw a change.
    if (!this.#hit) this.#share.miss()
    return false
  }
}
