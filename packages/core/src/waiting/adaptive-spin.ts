/**
 * Adaptive spinning: the spin policy of the SPSC ring's waits (a `rules.spin`
 * of the event count, see event-count.ts). Before a waiter registers and
 * sleeps, it polls the shared words for a short budget; when the peer answers
 * within it, the round trip makes no syscall at all.
 *
 * The budget adapts per waiting side (one AdaptiveSpin per side of a ring
 * object): misses shrink it, a hit restores it, probes look again now and
 * then (spin-share.ts has the rule and why).
 *
 * Between batches of polls the spinner yields its CPU (sched_yield): a peer
 * that shares the CPU runs then, so it can answer within the spin instead of
 * only after the waiter sleeps (its futex wake-up and, for an async wait,
 * the timer of a bounded block cost more than the answer). With nothing
 * else runnable on this CPU a yield returns at once (a fraction of a µs:
 * the round trip between two CPUs did not change). A yield to a busy
 * thread can end the spin later than its budget, as a preemption can.
 */
import { native } from '../native.js'
import { remaining } from './signal.js'
import { SpinShare } from './spin-share.js'

/** Polls between two clock reads. */
const POLLS_PER_CLOCK = 64

/**
 * The adapting budget of one waiting side.
 *
 * @example
 * ```ts
 * const spin = new AdaptiveSpin()
 * // poll for up to 50 µs (less after misses), never past `deadline`
 * if (spin.spin(() => ring.hasRoomFor(size), 0.05, deadline)) tryAgain()
 * ```
 */
export class AdaptiveSpin {
  readonly #share = new SpinShare()

  /**
   * Polls `settled` for the current share of `maxMs` milliseconds, never
   * past `deadline` (a `performance.now()` time). True as soon as it returns
   * true (the budget is restored); false after a spin that found nothing
   * (the budget is halved), or at once when `maxMs` or the time left is 0.
   */
  spin(settled: () => boolean, maxMs: number, deadline: number): boolean {
    if (maxMs <= 0) return false
    const left = remaining(deadline)
    if (left <= 0) return false
    const share = this.#share.start()
    // Not spinning (after misses): one look, which restores nothing.
    if (share === 0) return settled()
    const end = performance.now() + Math.min(maxMs * share, left)
    const bin = native()
    for (;;) {
      for (let i = 0; i < POLLS_PER_CLOCK; i++) {
        if (settled()) {
          this.#share.hit()
          return true
        }
      }
      if (performance.now() >= end) break
      // Optional: a binding loaded by an older copy of @ipc/core has none.
      bin.yieldThread?.()
    }
    this.#share.miss()
    return false
  }
}
