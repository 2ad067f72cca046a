/**
 * The hysteresis of a producer waiting for room on a full ring, the one rule
 * of both rings (spsc-ring.ts, mpmc-ring.ts; their headers say where each
 * stores what is computed here).
 *
 * A producer faster than its consumers, woken for every record they take,
 * pays a wake-up syscall and two context switches per small message. So a
 * producer about to sleep for room announces the room it is to be woken at:
 * the larger of its record and WAKE_ROOM (16 KiB, or half a smaller ring); a
 * record of WAKE_ROOM or more is woken for alone, so a ring of large records
 * keeps as many in flight as fit. Consumers wake it once that much is free.
 *
 * Consumers that stop taking with less than WAKE_ROOM free must not keep it
 * waiting for good: while it waits for more than its record, it sleeps in
 * slices of FULL_RING_SLICE_MS and looks for its record alone after each.
 * When the consumers took nothing for a whole such slice (their progress
 * counter did not move), they have stalled: it announces its record alone
 * and sleeps in the ring's long slices, so stalled consumers cost no polling
 * and their first take wakes it. When they move again, it announces the
 * larger need again.
 *
 * A producer to be woken for more than its record does not spin before it
 * sleeps: the consumers take WAKE_ROOM in longer than a spin lasts, and a
 * spin for its record alone wrote one record per record taken, both sides
 * trading the record's cache lines for every message (and a consumer on the
 * producer's CPU kept waiting). A producer woken for its record alone spins.
 */
import type { WaitRules } from '../waiting/event-count.js'

/** The room a producer waiting on a full ring is woken at, at least. */
export const WAKE_ROOM = 16 * 1024
/** The longest sleep of a producer waiting for more room than its record needs. */
export const FULL_RING_SLICE_MS = 2

/** True when a producer whose record takes `record` bytes is woken for it alone (see the header). */
export function wokenForRecordAlone(record: number, capacity: number): boolean {
  return record >= Math.min(WAKE_ROOM, capacity / 2)
}

/**
 * One producer's wait for room: its state between looks. The ring calls
 * `begin` when the wait starts and `need` after every look that found no
 * room, then announces what `need` returns before it looks once more.
 *
 * @example
 * ```ts
 * const wait = new RoomWait(rules, PEER_CHECK_MS)
 * wait.begin(consumed())
 * // after a look that found no room:
 * Atomics.store(i32, NEED, wait.need(recordBytes, consumed(), capacity))
 * ```
 */
export class RoomWait {
  /** True while the consumers count as stalled (see the header). */
  stalled = false
  /** The consumers' progress counter when it last moved, and when that was seen. */
  #progress = 0
  #since = 0

  /** `rules`: the wait's, whose `sliceMs` this sets; `stalledSliceMs`: the ring's long slice. */
  constructor(
    readonly rules: WaitRules,
    readonly stalledSliceMs: number,
  ) {}

  /** Starts a wait: `progress` is the consumers' counter now (a position or a count taken). */
  begin(progress: number): void {
    this.#progress = progress
    this.#since = performance.now()
    this.stalled = false
  }

  /**
   * After a look that found no room for a record of `record` bytes: the
   * room to announce (see the header), with the consumers' counter
   * `progress` now and the ring's `capacity`. Sets the next sleep's slice.
   */
  need(record: number, progress: number, capacity: number): number {
    const now = performance.now()
    if (progress !== this.#progress) {
      this.#progress = progress
      this.#since = now
      this.stalled = false
    } else if (now - this.#since >= FULL_RING_SLICE_MS) this.stalled = true
    const need = this.stalled || wokenForRecordAlone(record, capacity) ? record : Math.min(WAKE_ROOM, capacity / 2)
    this.rules.sliceMs = need > record ? FULL_RING_SLICE_MS : this.stalledSliceMs
    return need
  }
}
