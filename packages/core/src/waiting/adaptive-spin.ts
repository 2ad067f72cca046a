/**
 * Adaptive spinning: the spin policy of the SPSC ring's waits (a `rules.spin`
 * of the event count, see event-count.ts). Before a waiter registers and
 * sleeps, it polls the shared words for a short budget; when the peer answers
 * within it, the round trip makes no syscall at all.
 *
 * The budget adapts per waiting side (one AdaptiveSpin per side of a ring
 * object, never shared between processes): a spin that finds the condition
 * restores the whole budget; a spin that misses halves it, because either
 * the peer is slow, or it shares our CPU and cannot run while we spin; below
 * 1/32 of the budget a side does not spin at all. Now and then a spin gets
 * the whole budget (a probe), to learn when spinning pays again: the 8th spin
 * after a hit, and after each probe that finds nothing the gap doubles, up
 * to every 1024th. A peer that shares our CPU (both ends pinned to one) never
 * answers a spin, and a probe there costs the whole budget: with a fixed gap
 * of 8, probes made the mean round trip on one CPU about 1.5× what it is
 * with growing gaps; and a floor of 1/64 of 50 µs (instead of none) made a
 * synchronous round trip there 5.6–7.8 µs instead of 3.5–4.3.
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

/** The smallest share of the budget a spin gets after misses; halving below it stops spinning. */
const SPIN_FLOOR = 1 / 32
/** The gap between probes after a hit, and the largest it grows to after probes that missed. */
const PROBE_GAP_MIN = 8
const PROBE_GAP_MAX = 1024
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
  #scale = 1
  #probeGap = PROBE_GAP_MIN
  #untilProbe = PROBE_GAP_MIN

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
    const probe = --this.#untilProbe <= 0
    // Not spinning (after misses): one look, which restores nothing.
    if (!probe && this.#scale === 0) return settled()
    const end = performance.now() + Math.min(maxMs * (probe ? 1 : this.#scale), left)
    const bin = native()
    for (;;) {
      for (let i = 0; i < POLLS_PER_CLOCK; i++) {
        if (settled()) {
          this.#scale = 1
          this.#probeGap = PROBE_GAP_MIN
          if (probe || this.#untilProbe > PROBE_GAP_MIN) this.#untilProbe = PROBE_GAP_MIN
          return true
        }
      }
      if (performance.now() >= end) break
      // Optional: a binding loaded by an older copy of @ipc/core has none.
      bin.yieldThread?.()
    }
    this.#scale = this.#scale / 2 < SPIN_FLOOR ? 0 : this.#scale / 2
    if (probe) {
      this.#probeGap = Math.min(PROBE_GAP_MAX, this.#probeGap * 2)
      this.#untilProbe = this.#probeGap
    }
    return false
  }
}
