/**
 * The one owner word of @ipc: a 32-bit word of a Segment that says who holds
 * a lock, with dead-holder takeover. RobustLock and the MPMC ring's producer
 * and consumer locks are owner words; every other lock must be one too.
 *
 * Encoding (bit 31 is never set):
 *
 * | bits  | field    | meaning                                                              |
 * |-------|----------|----------------------------------------------------------------------|
 * | 30    | WAITERS  | a sleeper may sleep on the word: the release that finds it wakes one |
 * | 29–22 | slot + 1 | the holder's Segment slot + 1 (1…128); 0 in FREE and ABANDONED      |
 * | 21–0  | tid      | the holder's kernel thread id (Linux tids are below 2^22)            |
 *
 * Values: FREE (0); ABANDONED (1: free, and the last holder gave it up
 * mid-update, so the next taker learns that the previous owner died); else an
 * owner code ((slot + 1) << 22 | tid), with WAITERS or without. Ownership is
 * per (attachment slot, thread): two objects attached in one thread, or one
 * attachment used from two threads, are two owners.
 *
 * Who writes what (every write a seq-cst CAS on the value just read, so
 * exactly one of racing writers wins; the loser reads again):
 *
 * | transition                          | by                                                   |
 * |-------------------------------------|------------------------------------------------------|
 * | FREE / ABANDONED → code (+ WAITERS) | an acquirer; with WAITERS once it has slept          |
 * | code → code + WAITERS               | a sleeper, just before it sleeps on that value       |
 * | code (+ WAITERS) → FREE             | the holder (release); with WAITERS it wakes one      |
 * | code (+ WAITERS) → ABANDONED        | the holder (abandon); with WAITERS it wakes one      |
 * | dead code (+ W) → ABANDONED         | the reaper freeing the dead holder's slot            |
 * |                                     | (abandonFor); with WAITERS it wakes one              |
 * | dead code (+ W) → code + W          | the one taker of a dead holder, who then runs        |
 * |                                     | `onTakeover` (repair) before it uses the data        |
 *
 * An uncontended acquire is one CAS (FREE → code) and an uncontended release
 * one CAS (code → FREE): no syscall, no second word.
 *
 * Why no wake-up is lost: a sleeper sets WAITERS by a CAS on the holder's
 * code it just read, then futex-waits on code + WAITERS. A release that came
 * before that CAS makes it fail (the sleeper looks again); one that comes
 * after finds WAITERS, so it cannot take the one-CAS path: it frees the word
 * and wakes one sleeper, whose futex either sees the changed word or is
 * woken. The woken sleeper takes the lock with WAITERS set (others may still
 * sleep), so its release wakes the next. A sleeper that leaves without the
 * lock (deadline, abort, close) may have used up that wake: it passes it on,
 * waking one when the word is free, else setting WAITERS on the word of
 * whoever took it meanwhile by the one-CAS path, so that release wakes one.
 *
 * Dead holders: a holder is alive by `attachmentAlive` (liveness.ts) on the
 * slot and tid in its code. A sleeper sleeps at most PEER_CHECK_MS at a time;
 * every look reads memory only (a freed or re-claimed slot is seen at once),
 * and the look after a slice that timed out, or at the caller's deadline, is
 * thorough (its process and thread, with syscalls). A dead holder is taken
 * over by a CAS, so exactly one taker wins and repairs.
 *
 * Range checks: every word read is checked before use; one that names slot
 * + 1 above 128, has bit 31 set, or names no slot but is not FREE or
 * ABANDONED throws CorruptError (never a hang or a read outside the table).
 *
 * What a SIGKILL can lose: a holder killed while holding leaves its code;
 * the next taker takes over and learns it (TOOK_OVER), the data it guarded
 * may be half-updated (`onTakeover` repairs what the owner's user journals).
 * A sleeper killed asleep leaves WAITERS set: the next release makes one wake
 * syscall that wakes nobody (slower once, never wrong). A sleeper that timed
 * out leaves the same. Nothing else is lost.
 */
import { CorruptError } from '../errors.js'
import { type Segment, SLOT_COUNT } from '../memory/segment.js'
import { closedWhileWaiting, PEER_CHECK_MS, sleep } from '../waiting/event-count.js'
import { notifyWord, waitWordSync } from '../waiting/futex.js'
import { remaining } from '../waiting/signal.js'
import { attachmentAlive, threadId } from './liveness.js'

/** The word's value when nobody holds it. */
export const OWNER_FREE = 0
/** Free, and the last holder gave it up mid-update: the next taker learns the previous owner died. */
export const OWNER_ABANDONED = 1
/** Set by a sleeper: the release that finds it wakes one. */
export const OWNER_WAITERS = 1 << 30
const TID_BITS = 22
const TID_MASK = (1 << TID_BITS) - 1

/** How an acquire ended: a live holder still held the word at the deadline (nothing was taken). */
export const BUSY = 0
/** Taken; it was free. */
export const TOOK = 1
/** Taken from a holder that died or abandoned it (`onTakeover` ran): the data may be half-updated. */
export const TOOK_OVER = 2
export type Taken = typeof BUSY | typeof TOOK | typeof TOOK_OVER

/** The owner code of the object attached at `slot`, used by thread `tid`. */
export function ownerCode(slot: number, tid: number): number {
  return ((slot + 1) << TID_BITS) | (tid & TID_MASK)
}

/** What an owner word is told about its user. */
export interface OwnerWordOptions {
  /** Names the object in error messages: 'the lock of shared value "x"', 'queue "jobs"'. */
  label: string
  /**
   * Run by the one taker of an abandoned word or of a dead holder's, holding
   * the word, before its acquire returns: repair what the holder may have
   * left half-done. May throw (CorruptError); the word stays taken then.
   */
  onTakeover?: (() => void) | undefined
  /** Makes the error for a word that breaks the encoding. @default a CorruptError naming `label` */
  corrupt?: ((word: number) => Error) | undefined
  /**
   * True when a word naming this very owner is corrupt (an owner that never
   * waits for itself, such as a ring's lock, which is held only inside one
   * synchronous call); false when it is a live holder (a lock that another
   * task of this thread may release).
   * @default false
   */
  ownCodeIsCorrupt?: boolean | undefined
}

/** What #look returns when it took the word (owner words are >= 0). */
const LOOK_TOOK = -1
const LOOK_TOOK_OVER = -2

/**
 * One owner word as seen by one owner (an attachment in one thread). Holds no
 * state of its own but its word index and code; cheap to construct.
 *
 * @example
 * ```ts
 * const lock = new OwnerWord(segment, index, { label: 'the lock' })
 * if (lock.take() || lock.acquireSync(deadlineOf(1000), 400) !== BUSY) {
 *   try { update() } finally { lock.release() }
 * }
 * ```
 */
export class OwnerWord {
  /** This owner's code: what the word holds while this owner holds it (WAITERS aside). */
  readonly code: number
  readonly #segment: Segment
  readonly #i32: Int32Array
  readonly #index: number
  readonly #label: string
  readonly #onTakeover: (() => void) | undefined
  readonly #corrupt: ((word: number) => Error) | undefined
  readonly #ownCodeIsCorrupt: boolean

  /** Uses word `index` of `segment.i32`, owned as this segment's slot and the calling thread (one syscall for its id). */
  constructor(segment: Segment, index: number, options: OwnerWordOptions) {
    this.#segment = segment
    this.#i32 = segment.i32
    this.#index = index
    this.code = ownerCode(segment.slot, threadId())
    this.#label = options.label
    this.#onTakeover = options.onTakeover
    this.#corrupt = options.corrupt
    this.#ownCodeIsCorrupt = options.ownCodeIsCorrupt === true
  }

  /** The fast path: one CAS, FREE → this owner. False when the word was anything else (nothing changed). */
  take(): boolean {
    return Atomics.compareExchange(this.#i32, this.#index, OWNER_FREE, this.code) === OWNER_FREE
  }

  /**
   * The fast path for owners that also need to know whether they hold the
   * word already (a re-entrant lock): one CAS, FREE → this owner, returning
   * what the word held (OWNER_FREE: taken now). See `isMine`.
   */
  takeOrSee(): number {
    return Atomics.compareExchange(this.#i32, this.#index, OWNER_FREE, this.code)
  }

  /** True when `word` (a value read from the word) names this owner. */
  isMine(word: number): boolean {
    return (word & ~OWNER_WAITERS) === this.code
  }

  /** True while this owner holds the word. */
  get held(): boolean {
    return this.isMine(Atomics.load(this.#i32, this.#index))
  }

  /**
   * The holder's code (WAITERS cleared), OWNER_FREE or OWNER_ABANDONED, after
   * the range check. A snapshot.
   * @throws {CorruptError} for a word that breaks the encoding.
   */
  read(): number {
    const word = Atomics.load(this.#i32, this.#index)
    this.#check(word)
    return word & ~OWNER_WAITERS
  }

  /** The holder's slot and thread id, or undefined when free or abandoned. A snapshot, range-checked. */
  holder(): { slot: number; tid: number } | undefined {
    const code = this.read()
    if (code <= OWNER_ABANDONED) return undefined
    return { slot: (code >>> TID_BITS) - 1, tid: code & TID_MASK }
  }

  /**
   * True while a live holder has the word (its process and thread are looked
   * up, as a waiter's thorough look does): a holder that died or whose thread
   * ended holds nothing, though its code stays until the next taker takes over.
   */
  heldByLiveHolder(): boolean {
    const code = this.read()
    return code > OWNER_ABANDONED && this.#holderAlive(code, true)
  }

  /** Whether the holder of `code` (not FREE or ABANDONED) lives: this owner, or by `attachmentAlive` (memory only unless `thorough`). */
  #holderAlive(code: number, thorough: boolean): boolean {
    if (code === this.code) return true
    return attachmentAlive(this.#segment, (code >>> TID_BITS) - 1, thorough, code & TID_MASK, TID_BITS)
  }

  /**
   * Releases the word if this owner holds it (true), waking one sleeper when
   * the word says one may sleep; false (nothing changed) when it does not.
   */
  release(): boolean {
    const i32 = this.#i32
    const code = this.code
    const seen = Atomics.compareExchange(i32, this.#index, code, OWNER_FREE)
    if (seen === code) return true
    // Only WAITERS may differ while we hold the word, and only a sleeper sets it (never clears it).
    if (seen !== (code | OWNER_WAITERS)) return false
    Atomics.compareExchange(i32, this.#index, seen, OWNER_FREE)
    notifyWord(i32, this.#index, 1)
    return true
  }

  /**
   * Gives the word up without vouching for the data it guards: the next
   * taker gets TOOK_OVER. False (nothing changed) when this owner does not hold it.
   */
  abandon(): boolean {
    const i32 = this.#i32
    for (;;) {
      const seen = Atomics.load(i32, this.#index)
      if ((seen & ~OWNER_WAITERS) !== this.code) return false
      if (Atomics.compareExchange(i32, this.#index, seen, OWNER_ABANDONED) !== seen) continue
      if ((seen & OWNER_WAITERS) !== 0) notifyWord(i32, this.#index, 1)
      return true
    }
  }

  /**
   * A kind's onReap, for a word whose data its next taker repairs: if the
   * attachment at `slot` (dead, its slot about to be freed) holds the word,
   * marks it ABANDONED, waking a sleeper, so the next taker gets TOOK_OVER.
   * True when it did. Without it the freed slot's next attacher, with the
   * same thread id (a reused pid, another PID namespace), would pass for the
   * holder: the lock would be its own without an acquire, held for everyone
   * else while it lives.
   * @throws {CorruptError} when the word breaks the encoding's range rules.
   */
  abandonFor(slot: number): boolean {
    // A code equal to this object's own is what the caller came for (an attach abandoning what its
    // slot's earlier occupant held), not corrupt here.
    const seen = this.#replaceHolder(slot, OWNER_ABANDONED, false)
    if (seen === undefined) return false
    if ((seen & OWNER_WAITERS) !== 0) notifyWord(this.#i32, this.#index, 1)
    return true
  }

  /**
   * If the attachment at `slot` (one that died: a reaper's onReap, a ring's
   * sweep) holds the word, takes it over (running `onTakeover`) and releases
   * it, waking a sleeper. True when it did.
   */
  reclaim(slot: number): boolean {
    if (this.#replaceHolder(slot, this.code | OWNER_WAITERS, true) === undefined) return false
    try {
      this.#onTakeover?.()
    } finally {
      this.release()
    }
    return true
  }

  /**
   * CASes the word to `to` while the attachment at `slot` holds it; returns
   * the word replaced, or undefined when `slot` does not hold it. Range-checks
   * what it reads (`own`: a code equal to this object's counts as corrupt).
   */
  #replaceHolder(slot: number, to: number, own: boolean): number | undefined {
    const i32 = this.#i32
    for (;;) {
      const seen = Atomics.load(i32, this.#index)
      this.#check(seen, own)
      const code = seen & ~OWNER_WAITERS
      if (code <= OWNER_ABANDONED || (code >>> TID_BITS) - 1 !== slot) return undefined
      if (Atomics.compareExchange(i32, this.#index, seen, to) === seen) return seen
    }
  }

  /**
   * One try without waiting: takes the word when free or abandoned, or from a
   * dead holder (judged from memory only, or with `thorough` also by its
   * process and thread). BUSY when a live holder (this owner included) holds it.
   */
  tryAcquire(thorough: boolean): Taken {
    this.#segment.assertOpen(this.#label)
    const seen = this.#look(thorough, false)
    return seen === LOOK_TOOK ? TOOK : seen === LOOK_TOOK_OVER ? TOOK_OVER : BUSY
  }

  /**
   * Blocks the thread until this owner holds the word or `deadline` (a
   * performance.now() time) passes: first `spins` loads that take a free
   * word, then sleeps of at most PEER_CHECK_MS, each followed by a look that
   * takes the word over from a dead holder. BUSY: a live holder still held
   * it at the deadline, and nothing changed.
   * @throws {ClosedError} when the segment was closed in this process.
   * @throws {CorruptError} for a word that breaks the encoding.
   */
  acquireSync(deadline: number, spins: number): Taken {
    this.#segment.assertOpen(this.#label)
    const spun = this.#spin(spins)
    if (spun !== BUSY) return spun
    let thorough = false
    let slept = false
    for (;;) {
      const left = remaining(deadline)
      // Liveness costs syscalls: thorough only after a slice timed out, or before giving up.
      const seen = this.#look(thorough || left <= 0, slept)
      if (seen < 0) return seen === LOOK_TOOK ? TOOK : TOOK_OVER
      if (left <= 0) {
        if (slept) this.#passOn()
        return BUSY
      }
      const expected = this.#markWaiting(seen)
      if (expected === undefined) continue
      slept = true
      thorough = waitWordSync(this.#i32, this.#index, expected, Math.min(left, PEER_CHECK_MS)) === 'timed-out'
    }
  }

  /**
   * `acquireSync` without blocking the event loop beyond `spins` loads:
   * resolves once this owner holds the word, or BUSY at `deadline`. Rejects
   * with `signal.reason` on abort and with ClosedError (`closedWhileWaiting`)
   * when the segment is closed in this process while it waits; neither
   * leaves the word taken.
   */
  async acquire(deadline: number, spins: number, signal?: AbortSignal): Promise<Taken> {
    this.#segment.assertOpen(this.#label)
    return this.acquireThen(deadline, signal, (taken) => taken, BUSY, spins)
  }

  /**
   * Like `acquire`, for owners that must never hold the word across an
   * await (a ring's lock, held only inside one synchronous call): `locked`
   * runs holding the word, synchronously right after the take, and must
   * release it before it returns. Resolves with its result, or with `busy`
   * when a live holder still held the word at `deadline`. `spins` loads of
   * the word come first, as in `acquire`.
   */
  async acquireThen<R, B>(
    deadline: number,
    signal: AbortSignal | undefined,
    locked: (taken: typeof TOOK | typeof TOOK_OVER) => R,
    busy: B,
    spins = 0,
  ): Promise<R | B> {
    if (spins > 0) {
      const spun = this.#spin(spins)
      if (spun !== BUSY) return locked(spun)
    }
    let thorough = false
    let slept = false
    let took = false
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason
        if (this.#segment.closed) throw closedWhileWaiting(this.#label)
        const left = remaining(deadline)
        const seen = this.#look(thorough || left <= 0, slept)
        if (seen < 0) {
          took = true
          return locked(seen === LOOK_TOOK ? TOOK : TOOK_OVER)
        }
        if (left <= 0) return busy
        const expected = this.#markWaiting(seen)
        if (expected === undefined) continue
        slept = true
        const slice = Math.min(left, PEER_CHECK_MS)
        const result = await sleep(this.#segment, this.#i32, this.#index, expected, slice, {
          signal,
          label: this.#label,
        })
        thorough = result === 'timed-out'
      }
    } finally {
      if (slept && !took && !this.#segment.closed) this.#passOn()
    }
  }

  /**
   * A sleeper that leaves without the word (deadline, abort, close) may have
   * used up the one wake meant for the next sleeper: hand it on. A free word
   * gets a wake; a held word gets WAITERS, so its holder's release wakes one
   * (a holder that took it by the one-CAS path did not set it).
   */
  #passOn(): void {
    const i32 = this.#i32
    const index = this.#index
    for (;;) {
      const seen = Atomics.load(i32, index)
      if ((seen & ~OWNER_WAITERS) <= OWNER_ABANDONED) {
        notifyWord(i32, index, 1)
        return
      }
      if ((seen & OWNER_WAITERS) !== 0 || Atomics.compareExchange(i32, index, seen, seen | OWNER_WAITERS) === seen)
        return
    }
  }

  /** Up to `spins` loads, taking the word when it is free or abandoned (no liveness check). */
  #spin(spins: number): Taken {
    const i32 = this.#i32
    const index = this.#index
    for (let i = 0; i < spins; i++) {
      const seen = Atomics.load(i32, index)
      // Held, or a corrupt word (negative): left to #look, which checks it.
      const code = seen & ~OWNER_WAITERS
      if (code !== OWNER_FREE && code !== OWNER_ABANDONED) continue
      const taken = this.#takeFree(seen, false)
      if (taken !== BUSY) return taken
    }
    return BUSY
  }

  /** CASes a free or abandoned `seen` to this owner; runs `onTakeover` for an abandoned one. */
  #takeFree(seen: number, waiters: boolean): Taken {
    const mine = waiters || (seen & OWNER_WAITERS) !== 0 ? this.code | OWNER_WAITERS : this.code
    if (Atomics.compareExchange(this.#i32, this.#index, seen, mine) !== seen) return BUSY
    if ((seen & ~OWNER_WAITERS) === OWNER_FREE) return TOOK
    this.#repair()
    return TOOK_OVER
  }

  /**
   * Runs `onTakeover` for a word just taken over. If the repair throws
   * (corrupt memory), the word is abandoned before the error goes on: a
   * live attachment must not keep a lock it will never release.
   */
  #repair(): void {
    try {
      this.#onTakeover?.()
    } catch (error) {
      this.abandon()
      throw error
    }
  }

  /**
   * One look: takes the word when it is free or abandoned, or when its
   * holder is dead (memory only, or `thorough`), and returns LOOK_TOOK or
   * LOOK_TOOK_OVER; else returns the word of its live holder, to sleep on.
   * `waiters`: take with WAITERS set (the caller slept, so others may sleep).
   */
  #look(thorough: boolean, waiters: boolean): number {
    const i32 = this.#i32
    const index = this.#index
    for (;;) {
      const seen = Atomics.load(i32, index)
      this.#check(seen)
      const code = seen & ~OWNER_WAITERS
      if (code <= OWNER_ABANDONED) {
        const taken = this.#takeFree(seen, waiters)
        if (taken === BUSY) continue // another taker won: look again
        return taken === TOOK ? LOOK_TOOK : LOOK_TOOK_OVER
      }
      // This owner (another task of this thread) or another live holder: sleep on it.
      if (this.#holderAlive(code, thorough)) return seen
      // Dead: one CAS decides the one taker. Others may sleep on the word, so keep WAITERS.
      if (Atomics.compareExchange(i32, index, seen, this.code | OWNER_WAITERS) !== seen) continue
      this.#repair()
      return LOOK_TOOK_OVER
    }
  }

  /** Sets WAITERS on `seen` (a live holder's word); returns the value to sleep on, or undefined when the word changed. */
  #markWaiting(seen: number): number | undefined {
    if ((seen & OWNER_WAITERS) !== 0) return seen
    const marked = seen | OWNER_WAITERS
    return Atomics.compareExchange(this.#i32, this.#index, seen, marked) === seen ? marked : undefined
  }

  /** The range check of every word read: bit 31 clear, slot + 1 in 1…128 unless FREE/ABANDONED, not ours when that is corrupt (and `own` asks). */
  #check(word: number, own = true): void {
    const code = word & ~OWNER_WAITERS
    const slotPlus1 = code >>> TID_BITS
    const bad =
      word < 0 ||
      (slotPlus1 === 0 ? code > OWNER_ABANDONED : slotPlus1 > SLOT_COUNT) ||
      (own && this.#ownCodeIsCorrupt && code === this.code)
    if (!bad) return
    throw (
      this.#corrupt?.(word) ??
      new CorruptError(`Cannot use ${this.#label}: its shared memory is corrupt (an owner word is ${word})`)
    )
  }
}
