/**
 * Lock (and, through LockBase, RLock): Python's multiprocessing.Lock and
 * RLock, each a small segment of its own holding one RobustLock from
 * @ipc/core, the one owner word with dead-holder takeover.
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
import { inspect } from 'node:util'
import { IncompatibleError, TimeoutError, ValueError } from '@ipc/core'
import {
  checkHandle,
  checkTimeout,
  checkWaitOptions,
  closeAtExit,
  EXIT_PRIMITIVES,
  forgetAtExit,
  type Handle,
  invalidArgType,
  ROBUST_LOCK_BYTES,
  RobustLock,
  Segment,
  type SegmentKind,
  TRANSFER,
  type TransferDescriptor,
} from '@ipc/core/internal'
import type { AcquireOptions, AcquireSyncOptions, LockOpenOptions, LockOptions } from './options.js'
import { Permit } from './permit.js'

/** Layout version of 'lock' and 'rlock' segments (see the table above). */
const LOCK_VERSION = 2
const OFFSET_LOCK = 0
const OFFSET_MAGIC = ROBUST_LOCK_BYTES
const LOCK_MAGIC = 0x324b434c
const DATA_BYTES = 32

/** What tells Lock and RLock apart. */
export interface LockFlavor {
  segment: SegmentKind
  /** Class name, for inspect and the transfer descriptor. */
  className: 'Lock' | 'RLock'
  recursive: boolean
  /** URL of the module that exports the class (its own file; dist/index.js once built). */
  module: string
}

/** The `.handle` of a Lock. */
export interface LockHandle extends Handle {
  kind: 'lock'
}

/** Set by `attachLock()` for the one constructor call it makes (JS runs it synchronously). */
let attaching: Segment | undefined

/**
 * The RLocks whose `withLock`/`withLockSync` scope the current async call
 * chain runs in: an async acquire re-enters an RLock only from inside such a
 * scope, so that other tasks of the same thread wait for it instead.
 */
const scopes = new AsyncLocalStorage<ReadonlySet<LockBase>>()

function scopeWith(lock: LockBase): ReadonlySet<LockBase> {
  const outer = scopes.getStore()
  return outer === undefined ? new Set([lock]) : new Set([...outer, lock])
}

function checkOptions(options: unknown, what: string): void {
  if (options !== undefined && (typeof options !== 'object' || options === null))
    throw invalidArgType(`The ${what} must be an object, received ${options === null ? 'null' : typeof options}`)
}

function checkPersistent(options: LockOptions | undefined): boolean {
  const persistent = options?.persistent
  if (persistent !== undefined && typeof persistent !== 'boolean')
    throw invalidArgType(`The "persistent" option must be a boolean, received ${typeof persistent}`)
  return persistent === true
}

function writeMagic(segment: Segment): void {
  Atomics.store(segment.i32, (segment.dataOffset + OFFSET_MAGIC) / 4, LOCK_MAGIC)
}

/**
 * Attaches to the lock segment called `name` (or, with `options.create`,
 * creates it atomically when the name does not exist) and runs `construct`
 * (a `new Lock()` or `new RLock()` call) while it is the segment to attach to.
 */
export function attachLock<T>(
  flavor: LockFlavor,
  name: string,
  options: LockOpenOptions | undefined,
  construct: () => T,
): T {
  checkOptions(options, 'options')
  const create = options?.create
  if (create !== undefined && typeof create !== 'boolean') checkOptions(create, '"create" option')
  let segment: Segment
  if (create === undefined || create === false) segment = Segment.open(flavor.segment, name)
  else {
    const persistent = checkPersistent(create === true ? undefined : create)
    segment = Segment.openOrCreate(flavor.segment, name, DATA_BYTES, { init: writeMagic, persistent }).segment
  }
  if (Atomics.load(segment.i32, (segment.dataOffset + OFFSET_MAGIC) / 4) !== LOCK_MAGIC) {
    segment.close()
    throw new IncompatibleError(`Cannot open ${flavor.segment.label} "${name}": its data is not a lock's`)
  }
  attaching = segment
  try {
    return construct()
  } catch (error) {
    segment.close()
    throw error
  } finally {
    attaching = undefined
  }
}

/**
 * What Lock and RLock share: everything but re-entrance. Not exported from
 * the package; use the two classes.
 */
export abstract class LockBase implements Disposable {
  /** The name other processes open it by. */
  readonly name: string
  readonly #flavor: LockFlavor
  readonly #segment: Segment
  /** Always non-recursive: RLock's re-entrance is counted here (`#depth`), see `acquire`. */
  readonly #lock: RobustLock
  readonly #recursive: boolean
  /** Acquisitions not yet released by this object (0 or 1 for a Lock). */
  #depth = 0
  #closed = false

  protected constructor(flavor: LockFlavor, options: LockOptions | undefined) {
    this.#flavor = flavor
    let segment = attaching
    attaching = undefined
    if (segment === undefined) {
      checkOptions(options, 'options')
      const persistent = checkPersistent(options)
      segment = Segment.create(flavor.segment, DATA_BYTES, { name: options?.name, persistent, init: writeMagic })
    }
    this.#segment = segment
    this.name = segment.name
    this.#recursive = flavor.recursive
    this.#lock = new RobustLock(segment, segment.dataOffset + OFFSET_LOCK, {
      label: `${flavor.segment.label} "${segment.name}"`,
    })
    // A normal exit (of the process or worker thread) closes it, so a lock
    // still held is given up at once (ABANDONED) instead of waiting for a
    // sleeper to find its holder gone.
    closeAtExit(this, EXIT_PRIMITIVES)
  }

  /** A plain JSON description; pass it anywhere and call `Lock.from(handle)` / `RLock.from(handle)` there. */
  get handle(): Handle {
    return { kind: this.#flavor.segment.kind, name: this.name }
  }

  /** True once `close()` ran. */
  get closed(): boolean {
    return this.#closed
  }

  /** True while some object (here or in another process or thread) holds the lock. A snapshot. */
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
    if (this.#recursive && this.#lock.held && scopes.getStore()?.has(this) === true) {
      try {
        const { signal } = checkWaitOptions(options)
        if (signal?.aborted) return Promise.reject(signal.reason)
      } catch (error) {
        return Promise.reject(error)
      }
      this.#depth++
      return Promise.resolve(true)
    }
    return this.#lock.acquire(options).then(this.#acquired)
  }

  readonly #acquired = (got: boolean): boolean => {
    if (got) this.#depth++
    return got
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
    if (got) this.#depth++
    return got
  }

  #reenter(options: AcquireSyncOptions | undefined): true {
    if (options?.signal?.aborted) throw options.signal.reason
    this.#depth++
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
      this.#depth++
      return true
    }
    const got = this.#lock.tryAcquire()
    if (got) this.#depth++
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
    if (this.#depth > 1 && this.#lock.held) {
      this.#depth--
      return
    }
    try {
      this.#lock.release()
    } catch (error) {
      throw this.#releaseError(error)
    }
    this.#depth = 0
  }

  /** The ValueError of a release by a non-holder, saying who holds the lock. */
  #releaseError(error: unknown): unknown {
    if (!(error instanceof ValueError)) return error
    const { label } = this.#flavor.segment
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
      return await (this.#recursive ? scopes.run(scopeWith(this), fn, this) : fn(this))
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
      result = this.#recursive ? scopes.run(scopeWith(this), fn, this) : fn(this)
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
      if (!this.#closed) this.release()
    })
  }

  #timeoutError(timeout: number | undefined): TimeoutError {
    return new TimeoutError(
      `Cannot acquire ${this.#flavor.segment.label} "${this.name}": it was not free within ${checkTimeout(timeout)} ms`,
    )
  }

  /**
   * Detaches this object (idempotent). A lock it still holds is given up:
   * the next acquirer takes it over and sees `previousOwnerDied` (the data it
   * guarded may be half-updated). Pending acquires reject with `ClosedError`.
   * The lock is removed when the last object detaches or dies, unless it was
   * created `persistent`.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    forgetAtExit(this, EXIT_PRIMITIVES)
    this.#depth = 0
    this.#lock.abandon()
    this.#segment.close()
  }

  /** Alias of `close()`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** Removes the name now; objects attached to it keep working until they close. */
  unlink(): void {
    this.#segment.unlink()
  }

  /** For `Process`: how a child attaches to this lock. */
  [TRANSFER](): TransferDescriptor {
    return { module: this.#flavor.module, export: this.#flavor.className, handle: this.handle }
  }

  [inspect.custom](_depth: number, options: object): string {
    const fields: Record<string, unknown> = { name: this.name }
    if (this.#closed) fields.closed = true
    else {
      fields.owner = this.#lock.owner?.pid ?? null
      if (this.#lock.previousOwnerDied) fields.previousOwnerDied = true
    }
    return `${this.#flavor.className} ${inspect(fields, options)}`
  }
}

const LOCK: LockFlavor = {
  segment: { kind: 'lock', version: LOCK_VERSION, label: 'lock' },
  className: 'Lock',
  recursive: false,
  module: import.meta.url,
}

/**
 * A mutual-exclusion lock shared by processes and threads: Python's
 * `multiprocessing.Lock`. Not re-entrant: `acquireSync` by the object and
 * thread that hold it throws `ValueError` at once (it could never succeed);
 * an async `acquire` waits, since another task may release it.
 *
 * Guarantees:
 * - At most one holder (one object in one thread) at a time, across every
 *   process and thread; `release()` happens-before the next acquire.
 * - Only the holder may release it (stricter than Python): another object,
 *   thread or process gets `ValueError`.
 * - A holder that dies (even by SIGKILL), whose worker thread ends, or that
 *   closes while holding, never blocks the others: the next acquirer takes
 *   the lock over within about 100 ms and sees `previousOwnerDied === true`.
 * - Not FIFO, as Python's Lock is not: use a Semaphore for handoff fairness.
 *
 * @throws {ExistsError} `options.name` is taken.
 * @example
 * ```ts
 * const lock = new Lock()
 * await lock.withLock(() => {
 *   // one holder at a time
 * })
 * lock.close()
 * ```
 */
export class Lock extends LockBase {
  constructor(options?: LockOptions) {
    super(LOCK, options)
  }

  /**
   * Attaches to the lock called `name`; with `create`, creates it when the
   * name does not exist (atomically: of racing processes exactly one creates
   * it and all attach to it), with the options in `create` (`true`: the defaults).
   * @throws {NotFoundError} No lock has that name (and `create` is not set).
   * @throws {IncompatibleError} It is not a Lock (an RLock, a Semaphore…).
   * @example
   * ```ts
   * const lock = Lock.open('db', { create: true })
   * ```
   */
  static open(name: string, options?: LockOpenOptions): Lock {
    return openLock(name, options)
  }

  /**
   * Attaches to the lock a `.handle` describes.
   * @throws {TypeError} `handle` is not a Lock's handle.
   * @example
   * ```ts
   * const lock = Lock.from(workerData.lock)
   * ```
   */
  static from(handle: LockHandle | Handle): Lock {
    return openLock(checkHandle<LockHandle>(handle, 'lock').name, undefined)
  }

  override get handle(): LockHandle {
    return { kind: 'lock', name: this.name }
  }
}

// Outside the class body: a class that names itself inside its body is renamed
// by esbuild (`_Lock`), and `Lock.name` would print that.
function openLock(name: string, options: LockOpenOptions | undefined): Lock {
  return attachLock(LOCK, name, options, () => new Lock())
}
