/**
 * How often one object looks for dead peers. A look (is the peer end still
 * held, did a waiting party die, are there dead holders to reap) costs
 * liveness syscalls, so calls that return without sleeping (a poll, a
 * getter, a release, a take that found no permit) look at most once per
 * period per object, and a tight loop of them pays one clock read per call.
 *
 * It stamps the `performance.now()` time of the last look that ran, and a
 * look is due once `periodMs` or more have passed since (or none has run).
 * Only a look that runs is stamped: one skipped (its lock busy, a word
 * tagged) changes nothing, so the next call looks instead of waiting a
 * whole period more, and repeated skips cannot hold off every look. A look
 * run by a sleep slice stamps too, sparing the calls around it a second one.
 */
export class LookCadence {
  /** The least time between two looks by this object, ms. */
  readonly periodMs: number
  /** `performance.now()` of the last look that ran; -Infinity: none yet. */
  #lookedAt = Number.NEGATIVE_INFINITY

  constructor(periodMs: number) {
    this.periodMs = periodMs
  }

  /** True when no look has run for `periodMs` or more. Stamps nothing: for a caller whose look may still be skipped. */
  due(now = performance.now()): boolean {
    return now - this.#lookedAt >= this.periodMs
  }

  /** Records a look that runs now (its first step, so that a look that throws still counts). */
  stamp(now = performance.now()): void {
    this.#lookedAt = now
  }

  /** When a look is due, stamps it and returns true: for a caller that then looks for certain. One clock read. */
  claim(): boolean {
    const now = performance.now()
    if (!this.due(now)) return false
    this.#lookedAt = now
    return true
  }
}
