/**
 * The slot tag of @ipc: the low bits of a shared word that name, as slot + 1,
 * the attachment in the middle of a one-CAS operation on that word; 0 when
 * none is. The semaphore's STATE word is one (the count in the high bits, the
 * tag in the low): a taker journals what it will hold, CASes (count - 1, its
 * tag), sets its own words, then stores the count untagged. So an
 * uncontended take is one CAS, and a taker SIGKILLed mid-operation leaves its
 * tag, which tells the reaper whose journal finishes the operation.
 *
 * The owner word (owner-word.ts) is the kernel's lock: holders keep it for a
 * critical section, sleepers sleep on it and a release wakes them. A slot tag
 * is held for a few instructions inside a counter word; nobody sleeps on it
 * for long and the untagging store wakes nobody (the fast path pays no
 * syscall). This file is what a reader that meets a tag does, once:
 *
 * - Range: a tag above SLOT_COUNT, or the reader's own tag (it never leaves
 *   its tag set outside its operation), is CorruptError at once.
 * - Wait: TAG_SPINS reads first (a tag lasts nanoseconds), then naps of at
 *   most 50 µs on the word until the caller's deadline; `poll` mode returns
 *   instead of napping (for a wait loop that sleeps between its polls).
 * - Owner, not value: a wait ends when the word is untagged or carries
 *   another owner's tag. A change of the value under the same tag (only a
 *   scribbler does that: an owner untags before its next operation) keeps
 *   the wait, and its clock, going.
 * - Liveness: once the same owner's tag has stayed TAG_LIVENESS_MS, the
 *   owner's slot is checked (`Segment.slotAlive`): a dead owner is reaped
 *   (`Segment.reap` runs the kind's onReap, which finishes the operation from
 *   the owner's journal and clears the tag); a tag that stays while no object
 *   holds its slot is corruption (a reaper clears the tag before it frees the
 *   slot).
 * - Stall: the same owner's tag seen for TAG_STALL_MS (across calls, until a
 *   caller reports the word untagged with `untagged()`) while the owner lives
 *   throws TimeoutError: never a hang on a live object that never finishes.
 */
import type { CorruptError, TimeoutError } from '../errors.js'
import type { Segment } from '../memory/segment.js'
import { SLOT_COUNT } from '../memory/segment.js'
import { PEER_CHECK_MS } from '../waiting/event-count.js'
import { waitWordSync } from '../waiting/futex.js'

/** How many times to re-read a tagged word before calling it busy. */
export const TAG_SPINS = 200
/** After a tag has been set this long, check whether its owner died. */
const TAG_LIVENESS_MS = 50
/** One owner's tag that stays this long (its owner alive) ends the wait with TimeoutError. */
export const TAG_STALL_MS = 2000
/** The longest nap between two looks at a tagged word. */
const NAP_MS = 0.05

/** How a SlotTagWatch reports a broken rule: the caller's errors name its primitive. */
export interface SlotTagErrors {
  /** A CorruptError for `detail` (the caller may also mark its object unusable). */
  corrupt(detail: string): CorruptError
  /** The TimeoutError of a tag that the live object in `slot` kept set TAG_STALL_MS. */
  stall(slot: number): TimeoutError
}

/**
 * One attachment's watch over one tagged word: waits a tag out under the
 * rules above, and remembers the stall it is in across calls (a call that
 * gave up at its deadline, followed soon by another that meets the same
 * value, continues that stall instead of starting a new one).
 */
export class SlotTagWatch {
  readonly #segment: Segment
  readonly #i32: Int32Array
  readonly #index: number
  readonly #tagMask: number
  /** Our own tag (slot + 1), or 0 when we hold no slot (a reaper before attaching). */
  readonly #ownTag: number
  readonly #errors: SlotTagErrors
  readonly #word: string
  /** The tag being waited out (0: none), its first and last sighting, its owner's last check (performance.now()). */
  #stalled = 0
  #stalledSince = 0
  #stalledLast = 0
  #stalledChecked = 0

  /**
   * @param index the tagged word, as an i32 index of the segment
   * @param tagMask the word's tag bits (the lowest bits)
   * @param word the word's name in error messages ('STATE')
   */
  constructor(segment: Segment, index: number, tagMask: number, ownTag: number, word: string, errors: SlotTagErrors) {
    this.#segment = segment
    this.#i32 = segment.i32
    this.#index = index
    this.#tagMask = tagMask
    this.#ownTag = ownTag
    this.#word = word
    this.#errors = errors
  }

  /**
   * Waits until the word no longer carries the tag of `state` (untagged, or
   * another owner's tag). Returns true when so, false at `deadline`
   * (performance.now() ms; 0: spin only) or, with `poll`, after one look
   * (the owner's liveness is then checked only every TAG_LIVENESS_MS of the
   * stall).
   * @throws {CorruptError} an impossible tag, or a tag whose slot nobody holds
   * @throws {TimeoutError} a live owner kept its tag TAG_STALL_MS
   */
  awaitUntag(state: number, deadline: number, poll = false): boolean {
    this.#checkTag(state)
    const i32 = this.#i32
    const index = this.#index
    const mask = this.#tagMask
    const tag = state & mask
    for (let spins = 0; spins < TAG_SPINS; spins++) {
      const seen = Atomics.load(i32, index)
      if ((seen & mask) !== tag) return this.#ended(seen)
    }
    const start = performance.now()
    if (this.#stalled !== tag || start - this.#stalledLast > PEER_CHECK_MS) {
      this.#stalled = tag
      this.#stalledSince = start
      this.#stalledChecked = start
    }
    const giveUp = this.#stalledSince + TAG_STALL_MS
    if (!poll) this.#stalledChecked = start
    for (;;) {
      const now = performance.now()
      this.#stalledLast = now
      const due = now >= giveUp || now - this.#stalledChecked >= TAG_LIVENESS_MS
      if (due || (!poll && now >= deadline)) {
        this.#stalledChecked = now
        this.#checkOwner(tag)
        const seen = Atomics.load(i32, index)
        if ((seen & mask) !== tag) return this.#ended(seen)
        if (now >= giveUp) throw this.#errors.stall(tag - 1)
        if (!poll && now >= deadline) return false
      }
      if (poll) return false
      const current = Atomics.load(i32, index)
      if ((current & mask) !== tag) return this.#ended(current)
      waitWordSync(i32, index, current, Math.min(NAP_MS, deadline - now, giveUp - now))
      const seen = Atomics.load(i32, index)
      if ((seen & mask) !== tag) return this.#ended(seen)
    }
  }

  /** The word was seen untagged: the stall (if any) is over. */
  untagged(): true {
    this.#stalled = 0
    return true
  }

  /** The TimeoutError of a stall of the owner of `state`'s tag (for a caller that bounds several waits in one). */
  stallError(state: number): TimeoutError {
    return this.#errors.stall((state & this.#tagMask) - 1)
  }

  /** The wait for one owner ended with the word at `seen`: untagged ends the stall; another owner's tag starts its own at the next wait. */
  #ended(seen: number): true {
    if ((seen & this.#tagMask) === 0) this.#stalled = 0
    return true
  }

  /** A tag must be 1..SLOT_COUNT and not our own; else CorruptError. */
  #checkTag(state: number): void {
    const tag = state & this.#tagMask
    if (tag > SLOT_COUNT) throw this.#errors.corrupt(`${this.#word} has tag ${tag}, above ${SLOT_COUNT}`)
    if (tag === this.#ownTag)
      throw this.#errors.corrupt(`${this.#word} carries this object's own tag ${tag} outside its operations`)
  }

  /** A tag that stays: reaps its owner when that died (which finishes its operation). */
  #checkOwner(tag: number): void {
    const segment = this.#segment
    const owner = tag - 1
    if (segment.slotAlive(owner)) return
    segment.reap()
    if ((Atomics.load(this.#i32, this.#index) & this.#tagMask) === tag && !segment.slotAlive(owner))
      throw this.#errors.corrupt(`${this.#word} carries the tag of slot ${owner}, which no object holds`)
  }
}
