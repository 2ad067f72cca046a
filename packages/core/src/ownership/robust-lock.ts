/**
 * A robust mutex kept in 16 bytes of any Segment: an owner word
 * (owner-word.ts) with the lock's own recursion count and "previous owner
 * died" flag kept per object. No syscall when uncontended, futex sleep when
 * contended, and a holder that dies (process killed, thread ended, object
 * closed) never deadlocks the others: the next acquirer takes the lock over
 * and learns it through `previousOwnerDied`.
 *
 * Layout (i32 words from `byteOffset`, which must be 4-byte aligned):
 *
 * | word | name     | written by                              | meaning                                         |
 * |------|----------|-----------------------------------------|-------------------------------------------------|
 * | 0    | owner    | the owner-word protocol (CAS only)      | FREE, ABANDONED, or the holder's owner code     |
 * |      |          |                                         | (slot + 1, tid) with the WAITERS bit            |
 * | 1–3  | reserved | nobody                                  | 0 (word 1 counted sleepers before layout 2 of   |
 * |      |          |                                         | the lock; the WAITERS bit of word 0 replaces it)|
 *
 * The holder is alive while `attachmentAlive` says so (its slot still
 * belongs to the same thread, its process runs, the thread exists). A free or
 * re-claimed slot is seen at once, from memory; a killed process or a
 * terminated worker is seen by a sleeper when its bounded sleep
 * (PEER_CHECK_MS) times out, or by any acquirer at its deadline. Why no
 * wake-up is lost and what a SIGKILL can lose: see owner-word.ts.
 */
import { inspect } from 'node:util'
import { invalidArgType, TimeoutError, ValueError } from '../errors.js'
import type { Segment } from '../memory/segment.js'
import {
  checkTimeout,
  checkWaitOptions,
  deadlineOf,
  syncTimeoutOf,
  WAIT_OPTIONS,
  type WaitOptions,
} from '../waiting/signal.js'
import { BUSY, OWNER_FREE, OwnerWord, type Taken, TOOK_OVER } from './owner-word.js'

/** Bytes a RobustLock occupies (four i32 words; words 1–3 reserved). */
export const ROBUST_LOCK_BYTES = 16

/** Loads of the word before a sync acquirer sleeps (about 10–40 µs when the line bounces). */
const SPIN_SYNC = 400
/** Loads of the word before an async acquirer sleeps: short, it runs on the event loop. */
const SPIN_ASYNC = 40

/** Options of `new RobustLock()`. */
export interface RobustLockOptions {
  /**
   * RLock semantics: the holding thread may acquire again and must release as
   * many times. Recursion is counted per lock object (this thread's).
   * @default false
   */
  recursive?: boolean
  /** How error messages name the lock, e.g. 'the lock of shared value "x"'. @default 'the lock' */
  label?: string
  /**
   * For a lock this object holds only inside synchronous sections (taken by
   * `tryAcquire`, `acquireSync` or `acquireThen`, never held across an
   * await): a lock word naming this object and thread seen by any acquire
   * was scribbled (no section of this thread can be running), so the
   * acquire throws CorruptError where it would refuse (`tryAcquire`: false,
   * `acquireSync`: ValueError) or wait for a holder that never releases.
   * The owner word's `ownCodeIsCorrupt`. Not with `recursive`.
   * @default false
   */
  ownCodeIsCorrupt?: boolean
}

/** The options of a blocking acquire: `signal` is checked on entry only (nothing can abort a blocked thread). */
export interface SyncWaitOptions {
  /**
   * How long to wait, in milliseconds. `0` does not wait.
   * @default undefined (wait forever)
   */
  timeout?: number
  /** Checked once on entry: an aborted signal throws `signal.reason`. */
  signal?: AbortSignal
}

/**
 * A mutex in shared memory that any thread of any process attached to the
 * segment can hold; its owner is one (lock object, thread), as for Python's
 * Lock/RLock.
 *
 * Guarantees:
 * - At most one owner at a time; `release` happens-before the `acquire` that
 *   takes the lock next, in any process.
 * - Uncontended `acquire`/`release` is one compare-and-swap each, no syscall.
 * - A holder that dies, whose thread ends, or whose object is closed while
 *   holding, does not block the others: the next acquirer takes the lock over
 *   within about 100 ms and sees `previousOwnerDied === true` until it
 *   releases. The protected data may then be half-updated; check or repair it.
 *
 * Ownership is per lock object and thread: two objects attached to the same
 * segment in one thread are two owners. A non-recursive lock acquired again
 * by its holder thread: `tryAcquire` returns false, `acquireSync` throws
 * ValueError (it would deadlock), `acquire` waits for another task of this
 * thread to release it; with `ownCodeIsCorrupt`, each throws CorruptError.
 *
 * @example
 * ```ts
 * const lock = new RobustLock(segment, segment.dataOffset)
 * lock.acquireSync()
 * try {
 *   if (lock.previousOwnerDied) repair()
 *   update()
 * } finally {
 *   lock.release()
 * }
 * ```
 */
export class RobustLock {
  readonly #segment: Segment
  readonly #word: OwnerWord
  readonly #recursive: boolean
  readonly #label: string
  readonly #ownCodeIsCorrupt: boolean
  #depth = 0
  #died = false

  /**
   * Uses the four words at `byteOffset` of `segment` (zeroed = free). Every
   * process must use the same offset. Cheap: no syscall but one for the thread id.
   */
  constructor(segment: Segment, byteOffset: number, options: RobustLockOptions = {}) {
    if (!Number.isInteger(byteOffset) || byteOffset % 4 !== 0 || byteOffset < segment.dataOffset)
      throw invalidArgType(`The lock offset must be a 4-byte aligned offset in the data area, received ${byteOffset}`)
    if (byteOffset + ROBUST_LOCK_BYTES > segment.dataOffset + segment.dataBytes)
      throw invalidArgType(`The lock at offset ${byteOffset} does not fit in the segment`)
    this.#segment = segment
    this.#recursive = options.recursive === true
    this.#label = options.label ?? 'the lock'
    this.#ownCodeIsCorrupt = options.ownCodeIsCorrupt === true
    if (this.#recursive && this.#ownCodeIsCorrupt)
      throw invalidArgType(
        'A lock cannot be both recursive and ownCodeIsCorrupt (a recursive holder sees its own code)',
      )
    this.#word = new OwnerWord(segment, byteOffset / 4, {
      label: this.#label,
      ownCodeIsCorrupt: this.#ownCodeIsCorrupt,
    })
  }

  /** True while this object, in this thread, holds the lock. */
  get held(): boolean {
    return !this.#segment.closed && this.#word.held
  }

  /** True while a live holder has the lock (a snapshot; a dead holder's lock is free to the next taker). */
  get locked(): boolean {
    this.#segment.assertOpen(this.#label)
    return this.#word.heldByLiveHolder()
  }

  /** Whether the lock is recursive (RLock semantics). */
  get recursive(): boolean {
    return this.#recursive
  }

  /**
   * True while this object holds the lock and took it over from a holder that
   * died, whose thread ended, or that was closed without releasing: the
   * protected data may be half-updated. Cleared by the final `release()`.
   */
  get previousOwnerDied(): boolean {
    return this.#died && this.#depth > 0
  }

  /**
   * The holder recorded in the lock (process id, thread id, segment slot), or
   * undefined when free. A snapshot. A holder that died stays recorded until
   * the next taker takes the lock over, while `locked` is already false.
   */
  get owner(): { pid: number; tid: number; slot: number } | undefined {
    this.#segment.assertOpen(this.#label)
    const holder = this.#word.holder()
    if (holder === undefined) return undefined
    return { pid: this.#segment.slotOwner(holder.slot)?.pid ?? 0, tid: holder.tid, slot: holder.slot }
  }

  /**
   * Takes the lock without waiting. A holder found dead is taken over
   * (`previousOwnerDied` becomes true). Returns false when another live owner
   * holds it, or when this thread holds a non-recursive lock already.
   * @throws {ClosedError} when the segment was closed.
   * @example
   * ```ts
   * if (lock.tryAcquire()) lock.release()
   * ```
   */
  tryAcquire(): boolean {
    this.#segment.assertOpen(this.#label)
    const seen = this.#word.takeOrSee()
    if (seen === OWNER_FREE) return this.#enter(false)
    if (this.#isMine(seen)) {
      if (!this.#recursive) return false
      this.#depth++
      return true
    }
    return this.#entered(this.#word.tryAcquire(true))
  }

  /**
   * Blocks the calling thread until it holds the lock; returns false when
   * `timeout` ms pass first. Spins briefly, then sleeps on a futex.
   * @throws {ValueError} when this thread holds a non-recursive lock already (it would deadlock).
   * @throws {ClosedError} when the segment was closed.
   * @example
   * ```ts
   * if (lock.acquireSync({ timeout: 1000 })) {
   *   try { work() } finally { lock.release() }
   * }
   * ```
   */
  acquireSync(options?: SyncWaitOptions): boolean {
    const timeout = syncTimeoutOf(options, WAIT_OPTIONS)
    this.#segment.assertOpen(this.#label)
    const seen = this.#word.takeOrSee()
    if (seen === OWNER_FREE) return this.#enter(false)
    if (this.#isMine(seen)) return this.#reenter()
    return this.#entered(this.#word.acquireSync(deadlineOf(timeout), SPIN_SYNC))
  }

  /**
   * Resolves true once this thread holds the lock, false when `timeout` ms
   * pass first. Never blocks the event loop. An aborted `signal` rejects with
   * `signal.reason` and leaves the lock as it was.
   * @throws {ClosedError} when the segment is closed, also while waiting.
   * @example
   * ```ts
   * if (await lock.acquire({ timeout: 1000 })) {
   *   try { await work() } finally { lock.release() }
   * }
   * ```
   */
  async acquire(options?: WaitOptions): Promise<boolean> {
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    if (signal?.aborted) throw signal.reason
    this.#segment.assertOpen(this.#label)
    if (this.#takeFreeOrReenter()) return true
    // A non-recursive lock this thread holds: wait for the task of this thread that holds it.
    return this.#entered(await this.#word.acquire(deadlineOf(timeout), SPIN_ASYNC, signal))
  }

  /**
   * `acquire` for a lock held only inside synchronous sections: `locked`
   * runs holding the lock synchronously right after the take (no other task
   * of this thread runs between the take and `locked`), and must release it
   * before it returns or throws. Resolves with its result, or with `busy`
   * when `timeout` ms pass first (nothing taken). An aborted `signal`
   * rejects with `signal.reason` before the take, never after it.
   * @throws {ClosedError} when the segment is closed, also while waiting.
   * @throws {CorruptError} when the lock word is corrupt (with `ownCodeIsCorrupt`: also when it names this object).
   * @example
   * ```ts
   * const done = await lock.acquireThen({ timeout: 1000 }, () => {
   *   try { return update() } finally { lock.release() }
   * }, false)
   * ```
   */
  async acquireThen<R, B>(options: WaitOptions | undefined, locked: () => R, busy: B): Promise<R | B> {
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    if (signal?.aborted) throw signal.reason
    this.#segment.assertOpen(this.#label)
    if (this.#takeFreeOrReenter()) return locked()
    return this.#word.acquireThen(
      deadlineOf(timeout),
      signal,
      (taken) => {
        this.#enter(taken === TOOK_OVER)
        return locked()
      },
      busy,
      SPIN_ASYNC,
    )
  }

  /**
   * For the kind's onReap: a lock that the dead attachment at `slot` holds
   * is marked abandoned (its next taker sees `previousOwnerDied`), so the
   * slot can be freed and claimed again without its next attacher passing
   * for the holder. True when it held the lock.
   * @throws {CorruptError} when the lock word is corrupt.
   */
  abandonFor(slot: number): boolean {
    return this.#word.abandonFor(slot)
  }

  /**
   * Releases the lock (one level of a recursive lock) and wakes one sleeper
   * if any sleeps.
   * @throws {ValueError} when this object and thread do not hold the lock.
   * @example
   * ```ts
   * lock.acquireSync()
   * lock.release()
   * ```
   */
  release(): void {
    this.#segment.assertOpen(this.#label)
    if (this.#depth > 1 && this.#word.held) {
      this.#depth--
      return
    }
    if (!this.#word.release()) throw new ValueError(`Cannot release ${this.#label}: this thread does not hold it`)
    this.#depth = 0
    this.#died = false
  }

  /**
   * Runs `fn` holding the lock and releases it when `fn` returns, throws, or
   * (for an async `fn`) settles. Waits without blocking the event loop. `fn`
   * receives the lock, so it can check `previousOwnerDied`.
   * @throws {TimeoutError} when `timeout` ms pass before the lock is taken.
   * @example
   * ```ts
   * await lock.withLock(async () => { await update() })
   * ```
   */
  async withLock<R>(fn: (lock: this) => R | PromiseLike<R>, options?: WaitOptions): Promise<R> {
    if (typeof fn !== 'function') throw invalidArgType(`The "fn" argument must be a function, received ${typeof fn}`)
    if (!(await this.acquire(options))) throw this.#timeoutError(options?.timeout)
    try {
      return await fn(this)
    } finally {
      this.#releaseIfHeld()
    }
  }

  /**
   * Blocks the thread until it holds the lock, runs `fn`, and releases when
   * `fn` returns or throws. If `fn` returns a promise, the lock is held until
   * it settles and that promise (chained) is returned.
   * @throws {TimeoutError} when `timeout` ms pass before the lock is taken.
   * @throws {ValueError} when this thread holds a non-recursive lock already.
   * @example
   * ```ts
   * lock.withLockSync(() => update())
   * ```
   */
  withLockSync<R>(fn: (lock: this) => R, options?: SyncWaitOptions): R {
    if (typeof fn !== 'function') throw invalidArgType(`The "fn" argument must be a function, received ${typeof fn}`)
    if (!this.acquireSync(options)) throw this.#timeoutError(options?.timeout)
    let result: R
    try {
      result = fn(this)
    } catch (error) {
      this.#releaseIfHeld()
      throw error
    }
    if (result !== null && typeof (result as { then?: unknown })?.then === 'function') {
      return Promise.resolve(result).finally(() => this.#releaseIfHeld()) as R
    }
    this.#releaseIfHeld()
    return result
  }

  /**
   * Gives the lock up without vouching for the data: the next acquirer sees
   * `previousOwnerDied === true`. Call it when closing an object that may
   * still hold the lock. Does nothing when not held.
   */
  abandon(): void {
    if (!this.held) return
    this.#depth = 0
    this.#died = false
    this.#word.abandon()
  }

  /** Whether `seen` names this owner; never with ownCodeIsCorrupt, where the owner word's look throws CorruptError for it. */
  #isMine(seen: number): boolean {
    return !this.#ownCodeIsCorrupt && this.#word.isMine(seen)
  }

  #releaseIfHeld(): void {
    if (this.held) this.release()
  }

  #timeoutError(timeout: number | undefined): TimeoutError {
    return new TimeoutError(`Cannot take ${this.#label}: the timeout of ${checkTimeout(timeout)} ms passed`)
  }

  #enter(died: boolean): true {
    this.#depth = 1
    this.#died = died
    return true
  }

  /** What an owner-word acquire returned, as the lock's answer. */
  #entered(taken: Taken): boolean {
    if (taken === BUSY) return false
    return this.#enter(taken === TOOK_OVER)
  }

  /** The async acquires' first step: takes a free lock, or enters again a recursive one this thread holds; false (nothing changed) otherwise. */
  #takeFreeOrReenter(): boolean {
    const seen = this.#word.takeOrSee()
    if (seen === OWNER_FREE) return this.#enter(false)
    if (!this.#recursive || !this.#isMine(seen)) return false
    this.#depth++
    return true
  }

  #reenter(): boolean {
    if (!this.#recursive)
      throw new ValueError(
        `Cannot acquire ${this.#label}: this thread holds it already and it is not recursive (it would deadlock)`,
      )
    this.#depth++
    return true
  }

  [inspect.custom](): string {
    if (this.#segment.closed) return 'RobustLock { closed: true }'
    const owner = this.owner
    const parts = [`held: ${this.held}`, `locked: ${owner !== undefined}`]
    if (owner !== undefined) parts.push(`owner: { pid: ${owner.pid}, tid: ${owner.tid} }`)
    if (this.#recursive) parts.push(`depth: ${this.#depth}`)
    if (this.previousOwnerDied) parts.push('previousOwnerDied: true')
    return `RobustLock { ${parts.join(', ')} }`
  }
}
