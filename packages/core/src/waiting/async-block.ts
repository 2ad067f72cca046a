/**
 * How long an async wait may block its thread in one futex wait before it
 * hands the wait to the native waiter thread (the SPSC ring's async waits,
 * after their spin: `EventCount.pauseSync`). A peer that answers within the
 * block wakes the thread directly, several times faster than through the
 * waiter thread and the event loop; the block blocks the event loop.
 *
 * The block lasts `shortMs` (asyncBlockMicros, 50 µs by default), or LONG_MS
 * while the peer answered the last block within `shortMs` and no other async
 * wait of this thread is pending (whose wake-up it would delay). Why longer
 * at all: a timed futex wait whose timeout comes before the kernel's next
 * timer event makes the kernel program its timer, and again when the
 * wake-up cancels it; on a virtual machine each is a trap to the hypervisor.
 * With both ends of a pipe on one CPU (no spin then) a 50 µs block made an
 * async round trip 22–27 µs, a 1 ms one 7–9 µs. A peer that answers as fast
 * keeps the block that short; one that stops answering costs one long
 * block, then short ones again.
 */

/** The longest block while the peer keeps answering quickly. */
const LONG_MS = 1

/**
 * The block of one waiting side (one per side of a ring object).
 *
 * @example
 * ```ts
 * const block = new AsyncBlock(0.05)
 * const ms = block.next(otherWaitsPending)
 * const started = performance.now()
 * const answered = events.pauseSync(settled, ms)
 * block.record(answered, performance.now() - started)
 * ```
 */
export class AsyncBlock {
  readonly #shortMs: number
  #answeredQuickly = false

  /** `shortMs`: the usual block, ms (0: never block). */
  constructor(shortMs: number) {
    this.#shortMs = shortMs
  }

  /** The next block, ms: 0 (do not block), `shortMs`, or LONG_MS (see the header). */
  next(otherWaitsPending: boolean): number {
    if (this.#shortMs <= 0) return 0
    return this.#answeredQuickly && !otherWaitsPending ? Math.max(this.#shortMs, LONG_MS) : this.#shortMs
  }

  /** After a block: whether the peer answered, and after how long (ms). */
  record(answered: boolean, elapsedMs: number): void {
    this.#answeredQuickly = answered && elapsedMs <= this.#shortMs
  }
}
