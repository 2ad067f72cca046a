/**
 * A robust mutex kept in four 32-bit words of any Segment: no syscall when
 * uncontended, futex sleep when contended, and a holder that dies (process
 * killed, thread ended, object closed) never deadlocks the others: the next
 * acquirer takes the lock over and learns it through `previousOwnerDied`.
 *
 * Layout (i32 words from `byteOffset`, which must be 4-byte aligned):
 *
 * | word | name     | written by (always CAS for `state`)                | meaning                                   |
 * |------|----------|-----------------------------------------------------|-------------------------------------------|
 * | 0    | state    | acquirer: FREE or ABANDONED → its code             | FREE (0): free                            |
 * |      |          | holder: its code → FREE (release) / ABANDONED      | ABANDONED (1): free, the last holder gave |
 * |      |          | taker of a dead holder: that code → its own code   | it up mid-update; else the owner code     |
 * | 1    | waiters  | each sleeper: +1 before its first sleep, -1 after  | threads asleep (or about to) on `state`   |
 * | 2, 3 | reserved | nobody                                             | 0                                         |
 *
 * Owner code = ((slot + 1) << 22) | (tid & 0x3fffff): the holder's Segment
 * slot (one per attached object; objects live in one thread) and its kernel
 * thread id (Linux tids are below 2^22). The code is never 0 and fits in 30 bits.
 *
 * The holder is alive while its slot still belongs to the same thread
 * (slotOwner(slot).tid), its process is alive (slotAlive: pid + start time),
 * and that thread still exists (/proc/<pid>/task/<tid>). A free or re-claimed
 * slot is seen at once, from memory; a killed process or a terminated worker
 * is seen by a sleeper when its bounded sleep (SLICE_MS) times out.
 *
 * Why no wakeup is lost: a sleeper adds itself to `waiters` (seq-cst) before
 * it re-reads `state` and sleeps with FUTEX_WAIT on the value it read; the
 * releaser sets `state` to FREE (seq-cst CAS) before it reads `waiters`. So
 * either the releaser sees the sleeper and wakes one, or the sleeper sees
 * FREE (or a new code, and the futex refuses to sleep on a changed word).
 * A sleeper that gives up (timeout, abort, close) passes on a wake it may
 * have consumed. A sleeper killed while asleep leaves `waiters` one too high:
 * later releases then make one futex-wake syscall each (harmless, slower).
 */
import { existsSync } from 'node:fs'
import { inspect } from 'node:util'
import { invalidArgType, TimeoutError, ValueError } from '../errors.js'
import type { Segment } from '../memory/segment.js'
import { notifyWord, waitWord, waitWordSync } from '../waiting/futex.js'
import { checkTimeout, checkWaitOptions, deadlineOf, remaining, type WaitOptions } from '../waiting/signal.js'
import { threadId } from './liveness.js'

/** Bytes a RobustLock occupies (four i32 words). */
export const ROBUST_LOCK_BYTES = 16

const STATE = 0
const WAITERS = 1
/** `state` values that mean "free"; owner codes are >= 1 << 22. */
const FREE = 0
const ABANDONED = 1
const TID_BITS = 22
const TID_MASK = (1 << TID_BITS) - 1
/** A sleeper wakes at least this often to check whether the holder died (ms). */
const SLICE_MS = 100
/** Loads of `state` before a sync acquirer sleeps (about 10–40 µs when the line bounces). */
const SPIN_SYNC = 400
/** Loads of `state` before an async acquirer sleeps: short, it runs on the event loop. */
const SPIN_ASYNC = 40
/** What #look returns instead of an owner code (owner codes are > ABANDONED). */
const TOOK = -1
const GAVE_UP = -2

/** How long a sleeper sleeps: until `deadline`, at most SLICE_MS. */
function sliceOf(deadline: number): number {
  return Math.min(remaining(deadline), SLICE_MS)
}

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

let procTasks: boolean | undefined

/** True unless /proc proves that thread `tid` of process `pid` has ended. */
function threadAlive(pid: number, tid: number): boolean {
  if (tid === pid) return true // the main thread lives as long as the process
  procTasks ??= existsSync('/proc/self/task')
  return !procTasks || existsSync(`/proc/${pid}/task/${tid}`)
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
 * thread to release it.
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
  readonly #i32: Int32Array
  readonly #state: number
  readonly #waiters: number
  readonly #code: number
  readonly #recursive: boolean
  readonly #label: string
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
    this.#i32 = segment.i32
    this.#state = byteOffset / 4 + STATE
    this.#waiters = byteOffset / 4 + WAITERS
    this.#code = ((segment.slot + 1) << TID_BITS) | (threadId() & TID_MASK)
    this.#recursive = options.recursive === true
    this.#label = options.label ?? 'the lock'
  }

  /** True while this object, in this thread, holds the lock. */
  get held(): boolean {
    return !this.#segment.closed && Atomics.load(this.#i32, this.#state) === this.#code
  }

  /** True while anyone holds the lock (a snapshot). */
  get locked(): boolean {
    this.#segment.assertOpen(this.#label)
    return Atomics.load(this.#i32, this.#state) > ABANDONED
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

  /** The holder (process id, thread id, segment slot), or undefined when free. A snapshot. */
  get owner(): { pid: number; tid: number; slot: number } | undefined {
    this.#segment.assertOpen(this.#label)
    const code = Atomics.load(this.#i32, this.#state)
    if (code <= ABANDONED) return undefined
    const slot = (code >>> TID_BITS) - 1
    const holder = this.#segment.slotOwner(slot)
    return { pid: holder?.pid ?? 0, tid: code & TID_MASK, slot }
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
    const seen = Atomics.compareExchange(this.#i32, this.#state, FREE, this.#code)
    if (seen === FREE) return this.#enter(false)
    if (seen === this.#code) {
      if (!this.#recursive) return false
      this.#depth++
      return true
    }
    return this.#take(seen, true)
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
    let timeout = Number.POSITIVE_INFINITY
    if (options !== undefined) {
      const checked = checkWaitOptions(options)
      if (checked.signal?.aborted) throw checked.signal.reason
      timeout = checked.timeout
    }
    this.#segment.assertOpen(this.#label)
    const seen = Atomics.compareExchange(this.#i32, this.#state, FREE, this.#code)
    if (seen === FREE) return this.#enter(false)
    if (seen === this.#code) return this.#reenter()
    return this.#spin(SPIN_SYNC, timeout) ?? this.#sleepSync(deadlineOf(timeout))
  }

  /** Sleeps until this thread takes the lock (true) or `deadline` passes (false). Called registered in `waiters`. */
  #sleepSync(deadline: number): boolean {
    let acquired = false
    try {
      for (;;) {
        const seen = this.#look(deadline)
        if (seen <= ABANDONED) return (acquired = seen === TOOK) // TOOK or GAVE_UP
        const result = waitWordSync(this.#i32, this.#state, seen, sliceOf(deadline))
        if (result === 'timed-out' && this.#take(seen, true)) return (acquired = true)
      }
    } finally {
      this.#leaveWaiters(acquired)
    }
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
    const { timeout, signal } = checkWaitOptions(options)
    if (signal?.aborted) throw signal.reason
    this.#segment.assertOpen(this.#label)
    const seen = Atomics.compareExchange(this.#i32, this.#state, FREE, this.#code)
    if (seen === FREE) return this.#enter(false)
    if (seen === this.#code && this.#recursive) {
      this.#depth++
      return true
    }
    return this.#spin(SPIN_ASYNC, timeout) ?? this.#sleep(deadlineOf(timeout), signal)
  }

  /** `#sleepSync` without blocking the event loop: rejects with `signal.reason` on abort, ClosedError on close. */
  async #sleep(deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
    let acquired = false
    try {
      for (;;) {
        const seen = this.#look(deadline)
        if (seen <= ABANDONED) return (acquired = seen === TOOK) // TOOK or GAVE_UP
        const result = await waitWord(this.#i32, this.#state, seen, sliceOf(deadline), signal)
        this.#segment.assertOpen(this.#label) // closed while the wake was on its way
        if (result === 'timed-out' && this.#take(seen, true)) return (acquired = true)
      }
    } finally {
      this.#leaveWaiters(acquired)
    }
  }

  /**
   * The start of both contended paths: `spins` loads of `state`, taking the lock
   * if it is free or abandoned; with `timeout` 0, one more try that also
   * checks the holder's process and thread. Returns true or false when that
   * decides; else adds this thread to `waiters` and returns undefined: the
   * caller sleeps (#sleepSync, #sleep), which ends with #leaveWaiters.
   */
  #spin(spins: number, timeout: number): boolean | undefined {
    const i32 = this.#i32
    const state = this.#state
    for (let i = 0; i < spins; i++) {
      const seen = Atomics.load(i32, state)
      if (seen <= ABANDONED && this.#take(seen, false)) return true
    }
    if (timeout === 0) return this.#take(Atomics.load(i32, state), true)
    Atomics.add(i32, this.#waiters, 1)
    return undefined
  }

  /**
   * One look of a registered waiter at `state`: TOOK when it took the lock,
   * GAVE_UP when `deadline` passed, else the owner code to sleep on.
   */
  #look(deadline: number): number {
    for (;;) {
      const seen = Atomics.load(this.#i32, this.#state)
      if (this.#take(seen, false)) return TOOK
      if (seen <= ABANDONED) continue // lost the race for a free lock: look again
      return remaining(deadline) <= 0 ? GAVE_UP : seen
    }
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
    const i32 = this.#i32
    if (this.#depth > 1 && Atomics.load(i32, this.#state) === this.#code) {
      this.#depth--
      return
    }
    if (Atomics.compareExchange(i32, this.#state, this.#code, FREE) !== this.#code)
      throw new ValueError(`Cannot release ${this.#label}: this thread does not hold it`)
    this.#depth = 0
    this.#died = false
    // The CAS above is seq-cst, so a sleeper that registered before it is seen here.
    if (Atomics.load(i32, this.#waiters) !== 0) notifyWord(i32, this.#state, 1)
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
    const i32 = this.#i32
    this.#depth = 0
    this.#died = false
    if (
      Atomics.compareExchange(i32, this.#state, this.#code, ABANDONED) === this.#code &&
      Atomics.load(i32, this.#waiters) !== 0
    )
      notifyWord(i32, this.#state, 1)
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

  #reenter(): boolean {
    if (!this.#recursive)
      throw new ValueError(
        `Cannot acquire ${this.#label}: this thread holds it already and it is not recursive (it would deadlock)`,
      )
    this.#depth++
    return true
  }

  /**
   * Takes the lock if `seen` (a value just read from `state`) is free, was
   * abandoned, or names a dead holder. With `thorough` false only memory is
   * read to judge the holder (its slot freed or claimed by another thread);
   * with true its process and thread are checked too (syscalls). Only one
   * taker wins: the CAS fails if `state` changed since `seen`.
   */
  #take(seen: number, thorough: boolean): boolean {
    if (seen === this.#code) return false
    if (seen > ABANDONED && this.#holderAlive(seen, thorough)) return false
    if (Atomics.compareExchange(this.#i32, this.#state, seen, this.#code) !== seen) return false
    return this.#enter(seen !== FREE)
  }

  #holderAlive(code: number, thorough: boolean): boolean {
    const slot = (code >>> TID_BITS) - 1
    const tid = code & TID_MASK
    const holder = this.#segment.slotOwner(slot)
    if (holder === undefined || (holder.tid & TID_MASK) !== tid) return false
    if (!thorough) return true
    // A holder in another PID namespace (not visible): its tid names no thread here.
    return this.#segment.slotAlive(slot) && (!holder.visible || threadAlive(holder.pid, holder.tid))
  }

  #leaveWaiters(acquired: boolean): void {
    const i32 = this.#i32
    if (this.#segment.closed) {
      // Other objects still use the lock: keep the count right if the memory is still mapped here.
      try {
        Atomics.sub(i32, this.#waiters, 1)
      } catch {}
      return
    }
    Atomics.sub(i32, this.#waiters, 1)
    // A wake meant for us may have been used up by a wait we gave up: pass it on.
    if (!acquired && Atomics.load(i32, this.#state) <= ABANDONED && Atomics.load(i32, this.#waiters) !== 0)
      notifyWord(i32, this.#state, 1)
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
