/**
 * LockBase: what Lock and RLock share, everything but re-entrance. Each is a
 * small segment of its own holding one RobustLock from @ipc/core, the one
 * owner word with dead-holder takeover; the shell (handle, open/from,
 * close/dispose, unlink, revival, inspect, exit registration) is @ipc/core's
 * Primitive, and `lockKind` declares the two primitive kinds.
 *
 * Data area of a 'lock' or 'rlock' segment, layout version 2 (bytes from
 * `segment.dataOffset`; version 1 of 'lock' was a one-permit semaphore):
 *
 * | offset | size | field    | written by                   | meaning                                      |
 * |--------|------|----------|------------------------------|----------------------------------------------|
 * | 0      | 16   | lock     | RobustLock (@ipc/core)       | state, waiters, 2 reserved words (its table) |
 * | 16     | 4    | magic    | creator, in init             | 0x324b434c ('LCK2')                          |
 * | 20     | 12   | reserved | nobody                       | 0                                            |
 *
 * The magic is written before the segment is published (Segment.create's
 * init runs before the ready flag), so openers read it without ordering.
 * The owner word is RobustLock's: at most one (object, thread) holds it, and
 * a holder that dies (SIGKILL), whose thread ends, or that closes holding is
 * taken over by the next acquirer, who sees `previousOwnerDied`. A SIGKILL
 * loses nothing but the holder itself; the data it guarded may be half-updated.
 * Every word RobustLock reads (an owner's slot) is range-checked there
 * (CorruptError).
 *
 * Re-entrance is not in shared memory: the RobustLock is always used
 * non-recursively, and an RLock counts its holder's extra acquisitions in the
 * object (`#depth`, this thread only). Only the first acquisition and the
 * last release touch the owner word, so other processes see one holder, and
 * the count dies with its holder, which is what takeover needs.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { IncompatibleError, TimeoutError, ValueError } from '@ipc/core'
import {
  type Attachment,
  type CreationSpec,
  checkOptionsObject,
  checkPersistent,
  checkTimeout,
  checkWaitOptions,
  fromHandle,
  type Handle,
  invalidArgType,
  openPrimitive,
  Primitive,
  type PrimitiveKind,
  ROBUST_LOCK_BYTES,
  RobustLock,
  type Segment,
  type SegmentKind,
  syncTimeoutOf,
  WAIT_OPTIONS,
} from '@ipc/core/internal'
import {
  type AcquireOptions,
  type AcquireSyncOptions,
  LOCK_OPTIONS,
  type LockOpenOptions,
  type LockOptions,
} from './options.js'
import { Permit } from './permit.js'

/**
 * Keys of the two methods a Condition (@ipc/sync) uses to wait on a lock
 * (Python's `RLock._release_save` and `_acquire_restore`): release every
 * level this object holds, and later take the lock back at that depth, in
 * the same hold (an RLock's `withLock` scope still re-enters after it).
 * `Symbol.for` keys, so every copy of both packages agrees on them; not part
 * of the public API.
 */
export const RELEASE_SAVE: unique symbol = Symbol.for('@ipc/semaphore/release-save')
export const ACQUIRE_RESTORE: unique symbol = Symbol.for('@ipc/semaphore/acquire-restore')
/**
 * The key of the third: `[WAKE_AFTER_RELEASE](wake)` runs `wake` once this
 * object gives the lock up (its last `release()`, `[RELEASE_SAVE]()` or
 * `close()`), at once if it does not hold it. A Condition's `notify()` hands
 * its wake-ups here, so the waiters it chose wake to a free lock instead of
 * waking to find the notifier still holding it and sleeping once more.
 */
export const WAKE_AFTER_RELEASE: unique symbol = Symbol.for('@ipc/semaphore/wake-after-release')

/** What `[RELEASE_SAVE]()` returns and `[ACQUIRE_RESTORE]` takes: the depth and hold token given up. */
export interface SavedHold {
  readonly depth: number
  readonly hold: object
}

/** Layout version of 'lock' and 'rlock' segments (see the table above). */
export const LOCK_VERSION = 2
const OFFSET_LOCK = 0
const OFFSET_MAGIC = ROBUST_LOCK_BYTES
const LOCK_MAGIC = 0x324b434c
const DATA_BYTES = 32

/** An attached lock segment: the segment and its RobustLock (always used non-recursively). */
export interface LockAttachment extends Attachment {
  readonly lock: RobustLock
}

/** The primitive kind of Lock or of RLock. */
export interface LockKind extends PrimitiveKind<LockAttachment, CreationSpec> {
  /** Whether a holder may acquire again (RLock) or not (Lock). */
  readonly recursive: boolean
}

/** Lock or RLock, for the statics they share (`this` is the class called). */
type LockClass = new () => LockBase

/**
 * Declares the primitive kind of Lock or RLock: `segment` is its segment kind
 * ('lock' or 'rlock', layout version 2), `module` the file that exports
 * `className`. Opening checks the magic (IncompatibleError when the data is
 * not a lock's); RobustLock range-checks the owner word it reads.
 */
export function lockKind(
  segment: SegmentKind,
  className: 'Lock' | 'RLock',
  module: string,
  recursive: boolean,
): LockKind {
  return {
    segment: { ...segment, minDataBytes: DATA_BYTES },
    className,
    module,
    recursive,
    dataBytes: () => DATA_BYTES,
    init(created) {
      Atomics.store(created.i32, (created.dataOffset + OFFSET_MAGIC) / 4, LOCK_MAGIC)
    },
    // A dead holder's slot is about to be freed: its hold becomes abandoned (the next acquirer
    // takes over with previousOwnerDied), not left naming a slot a new attacher may claim.
    onReap(slot: number, reaped: Segment): void {
      const label = `${segment.label} "${reaped.name}"`
      new RobustLock(reaped, reaped.dataOffset + OFFSET_LOCK, { label }).abandonFor(slot)
    },
    attach(opened: Segment): LockAttachment {
      if (Atomics.load(opened.i32, (opened.dataOffset + OFFSET_MAGIC) / 4) !== LOCK_MAGIC)
        throw new IncompatibleError(`Cannot open ${segment.label} "${opened.name}": its data is not a lock's`)
      const label = `${segment.label} "${opened.name}"`
      return { segment: opened, lock: new RobustLock(opened, opened.dataOffset + OFFSET_LOCK, { label }) }
    },
  }
}

/** Validates the options of `new Lock(options)` (and of `Lock.open(name, { create })`, `name` added). */
export function lockSpec(options: LockOptions | undefined): CreationSpec {
  checkOptionsObject(options, LOCK_OPTIONS)
  return { name: options?.name, persistent: checkPersistent(options?.persistent) }
}

/**
 * The RLocks whose `withLock`/`withLockSync` scope the current async call
 * chain runs in: an async acquire re-enters an RLock only from inside such a
 * scope, so that other tasks of the same thread wait for it instead.
 */
const scopes = new AsyncLocalStorage<ReadonlyMap<LockBase, object>>()

/**
 * The scope of `withLock` of `lock`'s current hold: each outermost acquisition
 * gets a token (`hold`), and only the scope of that hold re-enters. A timer or
 * listener set up inside `fn` keeps the scope after `fn` ended; once the hold
 * is released, its token no longer matches, so it waits like any other task.
 */
function scopeWith(lock: LockBase, hold: object): ReadonlyMap<LockBase, object> {
  const scope = new Map(scopes.getStore())
  scope.set(lock, hold)
  return scope
}

/**
 * What Lock and RLock share: everything but re-entrance. Not exported from
 * the package; use the two classes.
 */
export abstract class LockBase<H extends Handle = Handle> extends Primitive<LockAttachment, H> {
  /** Always non-recursive: RLock's re-entrance is counted here (`#depth`), see `acquire`. */
  readonly #lock: RobustLock
  readonly #recursive: boolean
  /** Acquisitions not yet released by this object (0 or 1 for a Lock). */
  #depth = 0
  /** A token of the current hold (from the acquisition that took the lock until the last release). */
  #hold: object | undefined
  /** Wake-ups to run once this hold ends (see WAKE_AFTER_RELEASE). */
  #afterRelease: (() => void)[] = []

  /** The kind of the class: Lock's or RLock's (set by each). */
  declare protected static readonly lockKind: LockKind

  /**
   * Creates a lock of the class's kind from `options`, or attaches to the one
   * `open`/`from` opened (Primitive's `attachTo`). Registered for exit by
   * Primitive: a normal exit (of the process or worker thread) closes it, so
   * a lock still held is given up at once (ABANDONED) instead of waiting for
   * a sleeper to find its holder gone.
   */
  constructor(options?: LockOptions) {
    const kind = (new.target as unknown as typeof LockBase).lockKind
    super(kind, () => lockSpec(options))
    this.#lock = this.attachment.lock
    this.#recursive = kind.recursive
  }

  /**
   * Attaches to the lock called `name`, of the class called (`Lock.open`,
   * `RLock.open`); with `create`, creates it when the name does not exist
   * (atomically: of racing processes exactly one creates it and all attach
   * to it), with the options in `create` (`true`: the defaults).
   * @throws {NotFoundError} No lock of this class has that name (and `create` is not set).
   * @throws {IncompatibleError} It is not of this class (a Lock opened as an RLock, a Semaphore…).
   * @example
   * ```ts
   * const lock = Lock.open('db', { create: true })
   * const config = RLock.open('config', { create: { persistent: true } })
   * ```
   */
  static open<C extends LockClass>(this: C, name: string, options?: LockOpenOptions): InstanceType<C> {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class called, Lock or RLock
    const kind = (this as unknown as typeof LockBase).lockKind
    return openPrimitive(() => new this() as InstanceType<C>, kind, name, options, lockSpec, LOCK_OPTIONS)
  }

  /**
   * Attaches to the lock a `.handle` describes (`Lock.from` a Lock's,
   * `RLock.from` an RLock's).
   * @throws {TypeError} `handle` is not a handle of this class.
   * @throws {NotFoundError} The lock no longer exists.
   * @example
   * ```ts
   * const lock = Lock.from(workerData.lock)
   * ```
   */
  static from<C extends LockClass>(this: C, handle: Handle): InstanceType<C> {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class called, Lock or RLock
    const kind = (this as unknown as typeof LockBase).lockKind
    return fromHandle(() => new this() as InstanceType<C>, kind, handle)
  }

  /**
   * True while some live object (here or in another process or thread) holds
   * the lock. A holder that died or whose thread ended holds nothing: the next
   * acquirer takes the lock over. A snapshot.
   */
  get locked(): boolean {
    return this.#lock.locked
  }

  /** `0` while locked, `1` while free (the lock as a one-permit semaphore). A snapshot. */
  get value(): number {
    return this.#lock.locked ? 0 : 1
  }

  /** True while this object, in this thread, holds the lock. */
  get owned(): boolean {
    return this.#lock.held
  }

  /** Alias of `owned`. */
  get held(): boolean {
    return this.#lock.held
  }

  /**
   * True while this object holds the lock and took it over from a holder
   * that died (even by SIGKILL), whose thread ended, or that closed without
   * releasing: the data it guarded may be half-updated; check or repair it.
   * Cleared by the release that frees the lock.
   */
  get previousOwnerDied(): boolean {
    return this.#lock.previousOwnerDied
  }

  /** Whether a holder may acquire again (RLock) or not (Lock). */
  get recursive(): boolean {
    return this.#recursive
  }

  /**
   * Waits for the lock without blocking the event loop. Resolves `true`
   * holding it, or `false` when `timeout` ms pass first (Python's
   * `acquire(timeout=…)`). A Lock this object already holds is waited for
   * (another task of this thread may release it). An RLock this object holds
   * is entered again from inside its own `withLock` (the same async call
   * chain); any other task of this thread waits for it, so concurrent tasks
   * are kept apart as concurrent threads are.
   *
   * Guarantees:
   * - At most one holder at a time, across every process and thread; a
   *   `release()` happens-before the acquire that takes the lock next.
   * - Uncontended: one compare-and-swap, no system call. Contended: a short
   *   spin, then a futex sleep (no polling).
   * - A holder that dies is taken over within about 100 ms (`previousOwnerDied`).
   * - Not FIFO (nor is Python's Lock): a waiter woken by a release competes
   *   with newcomers, so under heavy contention one waiter may wait longer.
   * - Aborting rejects with `signal.reason` and leaves the lock as it was.
   *
   * @throws {ClosedError} The object was closed (also while waiting).
   * @throws {RangeError} `timeout` is negative.
   * @throws {CorruptError} The lock's shared memory names an owner outside its table.
   * @example
   * ```ts
   * const lock = new Lock()
   * if (await lock.acquire({ timeout: 100 })) {
   *   try {
   *     // one holder at a time
   *   } finally {
   *     lock.release()
   *   }
   * }
   * lock.close()
   * ```
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    if (this.#recursive && this.#lock.held && this.#hold !== undefined && scopes.getStore()?.get(this) === this.#hold) {
      try {
        const { signal } = checkWaitOptions(options, WAIT_OPTIONS)
        if (signal?.aborted) return Promise.reject(signal.reason)
      } catch (error) {
        return Promise.reject(error)
      }
      this.#count()
      return Promise.resolve(true)
    }
    const wasHeld = this.#lock.held
    const acquiring = this.#lock.acquire(options)
    // An uncontended acquire takes the word inside that call, before its
    // promise settles: count it now, so a release() in between finds it counted.
    if (!wasHeld && this.#lock.held) {
      this.#count()
      return acquiring
    }
    return acquiring.then(this.#acquired)
  }

  /** Taken later, in a callback: counted only while still held (a release() may have come in between). */
  readonly #acquired = (got: boolean): boolean => {
    if (got && this.#lock.held) this.#count()
    return got
  }

  /** One more level held; the first one starts a new hold. */
  #count(): void {
    if (this.#depth++ === 0) this.#hold = {}
  }

  /** Not held any more. */
  #uncount(): void {
    this.#depth = 0
    this.#hold = undefined
  }

  /**
   * Blocks the calling thread until it holds the lock; `false` when `timeout`
   * ms pass first. For worker threads and scripts. The `signal` is checked
   * on entry only. Guarantees as `acquire()`. An RLock that this object
   * holds is entered again at once (the thread is its holder, as in Python).
   * @throws {ValueError} A Lock that this object already holds: it could never be acquired (an RLock is entered again).
   * @throws {ClosedError} The object was closed.
   * @throws {RangeError} `timeout` is negative.
   * @example
   * ```ts
   * const lock = new Lock()
   * if (lock.acquireSync({ timeout: 50 })) lock.release()
   * lock.close()
   * ```
   */
  acquireSync(options?: AcquireSyncOptions): boolean {
    // `#depth` first: the uncontended path reads no shared word here.
    if (this.#depth !== 0 && this.#recursive && this.#lock.held) return this.#reenter(options)
    let got: boolean
    try {
      got = this.#lock.acquireSync(options)
    } catch (error) {
      // An RLock taken by an async acquire whose `#acquired` has not run yet
      // (one microtask): the non-recursive RobustLock calls that re-entry.
      if (this.#recursive && this.#lock.held) return this.#reenter(options)
      throw error
    }
    if (got) this.#count()
    return got
  }

  #reenter(options: AcquireSyncOptions | undefined): true {
    // Checked as a first acquire checks them (names, types, an aborted signal), though none waits.
    syncTimeoutOf(options, WAIT_OPTIONS)
    this.#count()
    return true
  }

  /**
   * Takes the lock if it is free (or its holder died) now, without waiting.
   * Python's `acquire(block=False)`. A Lock this object holds already:
   * `false`; an RLock this object holds is entered again (`true`).
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const lock = new Lock()
   * lock.tryAcquire() // => true
   * lock.tryAcquire() // => false
   * lock.release()
   * lock.close()
   * ```
   */
  tryAcquire(): boolean {
    if (this.#recursive && this.#lock.held) {
      this.#count()
      return true
    }
    const got = this.#lock.tryAcquire()
    if (got) this.#count()
    return got
  }

  /**
   * Releases the lock (one level of an RLock) and wakes one waiter, if any sleeps.
   * @throws {ValueError} This object, in this thread, does not hold it (it is
   * unlocked, or another object, thread or process holds it).
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const lock = new Lock()
   * lock.acquireSync()
   * lock.release()
   * lock.release() // throws ValueError: it is not locked
   * ```
   */
  release(): void {
    if (this.#recursive && this.#depth > 1 && this.#lock.held) {
      this.#depth--
      return
    }
    try {
      this.#lock.release()
    } catch (error) {
      this.#wakeAfterRelease()
      throw this.#releaseError(error)
    }
    this.#uncount()
    this.#wakeAfterRelease()
  }

  /**
   * For a Condition's notify: runs `wake` once this object gives the lock
   * up, or now when it does not hold it (see WAKE_AFTER_RELEASE). A holder
   * that dies first never runs it: its waiters wake at their next slice.
   */
  [WAKE_AFTER_RELEASE](wake: () => void): void {
    if (this.#lock.held) this.#afterRelease.push(wake)
    else wake()
  }

  /** Runs the wake-ups left by `[WAKE_AFTER_RELEASE]`, each on its own: one that throws costs its waiters a slice, not the others. */
  #wakeAfterRelease(): void {
    if (this.#afterRelease.length === 0) return
    const wakes = this.#afterRelease
    this.#afterRelease = []
    for (const wake of wakes) {
      try {
        wake()
      } catch {
        // Its waiters find their notification at their next slice.
      }
    }
  }

  /**
   * For a Condition's wait: releases every level this object (in this
   * thread) holds, in one release of the owner word, and returns the depth
   * and hold token to restore. A waiter sleeping on the lock is woken as
   * by `release()`.
   * @throws {ValueError} This object, in this thread, does not hold it.
   */
  [RELEASE_SAVE](): SavedHold {
    if (!this.#lock.held) throw this.#releaseError(new ValueError('not held'))
    const saved: SavedHold = { depth: Math.max(this.#depth, 1), hold: this.#hold ?? {} }
    this.#lock.release()
    this.#uncount()
    this.#wakeAfterRelease()
    return saved
  }

  /**
   * For a Condition's wait: takes the lock again (no timeout, no signal: a
   * wait returns holding the lock, as in Python) and restores the depth and
   * hold `[RELEASE_SAVE]()` gave up. `sync`: block the thread; else
   * resolves once held.
   * @throws {ClosedError} The object was closed.
   */
  [ACQUIRE_RESTORE](saved: SavedHold, sync: true): void
  [ACQUIRE_RESTORE](saved: SavedHold, sync: false): Promise<void>
  [ACQUIRE_RESTORE](saved: SavedHold, sync: boolean): void | Promise<void> {
    const restore = (): void => {
      this.#depth = saved.depth
      this.#hold = saved.hold
    }
    if (sync) {
      this.#lock.acquireSync()
      restore()
      return
    }
    return this.#lock.acquire().then(restore)
  }

  /** The ValueError of a release by a non-holder, saying who holds the lock. */
  #releaseError(error: unknown): unknown {
    if (!(error instanceof ValueError)) return error
    const { label } = this.kind.segment
    const owner = this.#lock.owner
    return new ValueError(
      owner === undefined
        ? `Cannot release ${label} "${this.name}": it is not locked`
        : `Cannot release ${label} "${this.name}": it is held by another object (process ${owner.pid}), not this one`,
    )
  }

  /**
   * Runs `fn` holding the lock and releases it when `fn` returns, throws, or
   * its promise settles; resolves with what `fn` returns. Waits without
   * blocking the event loop. `fn` gets the lock, to check `previousOwnerDied`.
   * @throws {TimeoutError} Not acquired within `timeout` ms (`fn` does not run).
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const lock = new Lock()
   * const result = await lock.withLock(async () => 42) // => 42
   * lock.close()
   * ```
   */
  async withLock<R>(fn: (lock: this) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    if (typeof fn !== 'function') throw invalidArgType(`The "fn" argument must be a function, received ${typeof fn}`)
    if (!(await this.acquire(options))) throw this.#timeoutError(options?.timeout)
    try {
      return await (this.#recursive ? scopes.run(scopeWith(this, this.#hold ?? {}), fn, this) : fn(this))
    } finally {
      if (this.#lock.held) this.release()
    }
  }

  /**
   * Blocks the thread until it holds the lock, runs `fn`, and releases when
   * `fn` returns or throws. If `fn` returns a promise, the lock is held until
   * it settles and that promise (chained) is returned.
   * @throws {TimeoutError} Not acquired within `timeout` ms (`fn` does not run).
   * @throws {ValueError} A Lock that this object already holds.
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const lock = new Lock()
   * lock.withLockSync(() => 'one holder at a time') // => 'one holder at a time'
   * lock.close()
   * ```
   */
  withLockSync<R>(fn: (lock: this) => R, options?: AcquireSyncOptions): R {
    if (typeof fn !== 'function') throw invalidArgType(`The "fn" argument must be a function, received ${typeof fn}`)
    if (!this.acquireSync(options)) throw this.#timeoutError(options?.timeout)
    let result: R
    try {
      result = this.#recursive ? scopes.run(scopeWith(this, this.#hold ?? {}), fn, this) : fn(this)
    } catch (error) {
      if (this.#lock.held) this.release()
      throw error
    }
    if (result !== null && typeof (result as { then?: unknown } | undefined)?.then === 'function') {
      return Promise.resolve(result).finally(() => {
        if (this.#lock.held) this.release()
      }) as R
    }
    if (this.#lock.held) this.release()
    return result
  }

  /**
   * The same as `withLock` (the name Semaphore uses).
   * @throws {TimeoutError} Not acquired within `timeout` ms (`fn` does not run).
   * @example
   * ```ts
   * const lock = new Lock()
   * await lock.withPermit(() => 'held') // => 'held'
   * lock.close()
   * ```
   */
  withPermit<R>(fn: (lock: this) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    return this.withLock(fn, options)
  }

  /**
   * Waits for the lock and returns it as a disposable `Permit`, released once
   * at the end of the `using` scope (or by `permit.release()`).
   * @throws {TimeoutError} Not acquired within `timeout` ms.
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const lock = new Lock()
   * {
   *   await using _held = await lock.permit({ timeout: 1000 })
   *   // holding the lock
   * }
   * lock.close()
   * ```
   */
  async permit(options?: AcquireOptions): Promise<Permit> {
    if (!(await this.acquire(options))) throw this.#timeoutError(options?.timeout)
    return new Permit(() => {
      if (!this.closed) this.release()
    })
  }

  #timeoutError(timeout: number | undefined): TimeoutError {
    return new TimeoutError(
      `Cannot acquire ${this.kind.segment.label} "${this.name}": it was not free within ${checkTimeout(timeout)} ms`,
    )
  }

  /**
   * Detaches this object (idempotent). A lock it still holds is given up:
   * the next acquirer takes it over and sees `previousOwnerDied` (the data it
   * guarded may be half-updated). Pending acquires reject with `ClosedError`.
   * The lock is removed when the last object detaches or dies, unless it was
   * created `persistent`.
   * @example
   * ```ts
   * const lock = new Lock()
   * lock.close()
   * lock.closed // => true
   * ```
   */
  override close(): void {
    super.close()
  }

  /** Run once by `close()`: forgets this object's re-entrance count and gives up the lock if it holds it. */
  protected override detach(): void {
    this.#uncount()
    this.#lock.abandon()
    this.#wakeAfterRelease()
  }

  protected inspectFields(): Record<string, unknown> {
    const fields: Record<string, unknown> = { owner: this.#lock.owner?.pid ?? null }
    if (this.#lock.previousOwnerDied) fields.previousOwnerDied = true
    return fields
  }
}
