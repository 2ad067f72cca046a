/**
 * The share of its budget a waiting side's next spin gets: the rule both spin
 * policies follow (adaptive-spin.ts for the SPSC ring, backoff-spin.ts for
 * the MPMC ring). One per waiting side of a ring object, never shared between
 * processes.
 *
 * A spin that finds the condition restores the whole budget; a spin that
 * misses halves the share, because either the peer is slow, or it shares our
 * CPU and cannot run while we spin; below 1/32 a side does not spin at all.
 * Now and then a spin gets the whole budget (a probe), to learn when spinning
 * pays again: the 8th spin after a hit, and after each probe that finds
 * nothing the gap doubles, up to every 1024th. A peer that shares our CPU
 * (both ends pinned to one) never answers a spin, and a probe there costs the
 * whole budget: with a fixed gap of 8, probes made the mean round trip on one
 * CPU about 1.5× what it is with growing gaps; and a floor of 1/64 of 50 µs
 * (instead of none) made a synchronous round trip there 5.6–7.8 µs instead
 * of 3.5–4.3. A consumer whose producer takes a millisecond per item (a pool
 * waiting for task results) spun its whole 70 µs on every wait before the
 * MPMC ring followed this rule: about 190 µs of CPU per 1 ms task.
 */

/** The smallest share a spin gets after misses; halving below it stops spinning. */
const SPIN_FLOOR = 1 / 32
/** The gap between probes after a hit, and the largest it grows to after probes that missed. */
const PROBE_GAP_MIN = 8
const PROBE_GAP_MAX = 1024

export class SpinShare {
  #scale = 1
  #probeGap = PROBE_GAP_MIN
  #untilProbe = PROBE_GAP_MIN
  #probe = false

  /** Starts a spin: the share of the whole budget it gets (1 in a probe; 0: do not spin, one look at most). */
  start(): number {
    this.#probe = --this.#untilProbe <= 0
    return this.#probe ? 1 : this.#scale
  }

  /** The spin found the condition: the whole budget again, probes at the shortest gap. */
  hit(): void {
    this.#scale = 1
    this.#probeGap = PROBE_GAP_MIN
    if (this.#probe || this.#untilProbe > PROBE_GAP_MIN) this.#untilProbe = PROBE_GAP_MIN
  }

  /** The spin spent its share and found nothing: half the share next (none below the floor); a missed probe doubles the gap. */
  miss(): void {
    this.#scale = this.#scale / 2 < SPIN_FLOOR ? 0 : this.#scale / 2
    if (this.#probe) {
      this.#probeGap = Math.min(PROBE_GAP_MAX, this.#probeGap * 2)
      this.#untilProbe = this.#probeGap
    }
  }
}
