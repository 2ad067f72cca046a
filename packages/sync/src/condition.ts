/**
 * Condition: Python's multiprocessing.Condition across processes and
 * threads. Its segment names its lock (a Lock or RLock of @ipc/semaphore in
 * a segment of its own) and holds the waiter table (condition-waiters.ts);
 * the layout is in layout.ts.
 *
 * A wait, as Python's: with the lock held, make a WAITING entry; release
 * the lock fully (an RLock held d deep is released once, through
 * `[RELEASE_SAVE]`); sleep until the entry is NOTIFIED or the deadline; take
 * the lock back at depth d (`[ACQUIRE_RESTORE]`); then, holding the lock,
 * read the entry and free it: NOTIFIED means `true`, also when the deadline
 * passed meanwhile.
 */
import { ClosedError, CorruptError, IncompatibleError, NotFoundError, ValueError } from '@ipc/core'
import {
  type Attachment,
  type CreationSpec,
  checkName,
  checkOptionsObject,
  checkPersistent,
  checkWaitOptions,
  deadlineOf,
  fromHandle,
  type Handle,
  invalidArgType,
  lockHandleOf,
  openPrimitive,
  outOfRange,
  Primitive,
  type PrimitiveKind,
  RECHECK_MS,
  remaining,
  type Segment,
  syncTimeoutOf,
  WAIT_OPTIONS,
} from '@ipc/core/internal'
import { type AcquireOptions, type AcquireSyncOptions, Lock, RLock } from '@ipc/semaphore'
import { ConditionWaiters } from './condition-waiters.js'
import {
  C_FLAGS,
  C_LOCK_KIND,
  C_LOCK_LEN,
  C_LOCK_NAME,
  C_MAGIC,
  CONDITION_BYTES,
  CONDITION_KIND,
  CONDITION_MAGIC,
  FLAG_OWNS_LOCK,
  LOCK_KINDS,
  MAX_LOCK_NAME_BYTES,
} from './layout.js'
import {
  CONDITION_CREATE_OPTIONS,
  type ConditionCreateOptions,
  type ConditionOpenOptions,
  type ConditionOptions,
  SYNC_OPTIONS,
  type WaitOptions,
  type WaitSyncOptions,
} from './options.js'

/** The lock of a Condition: an RLock by default (as in Python), or the Lock or RLock given. */
export type ConditionLock = Lock | RLock

/** The `.handle` of a Condition. */
export interface ConditionHandle extends Handle {
  kind: 'condition'
}

/**
 * @ipc/semaphore's keys for a Condition's wait (lock-base.ts): release
 * every level held, and take the lock back at that depth. `Symbol.for`, so
 * any copy of @ipc/semaphore answers them.
 */
const RELEASE_SAVE = Symbol.for('@ipc/semaphore/release-save')
const ACQUIRE_RESTORE = Symbol.for('@ipc/semaphore/acquire-restore')
/**
 * And the key of the lock's "run this once you give the lock up", where a
 * notify leaves its wake-ups (an older @ipc/semaphore without it: they run at once).
 */
const WAKE_AFTER_RELEASE = Symbol.for('@ipc/semaphore/wake-after-release')

interface SavedHold {
  readonly depth: number
  readonly hold: object
}

/** What a Condition calls on its lock beyond the public API. */
interface RestorableLock {
  [RELEASE_SAVE](): SavedHold
  [ACQUIRE_RESTORE](saved: SavedHold, sync: true): void
  [ACQUIRE_RESTORE](saved: SavedHold, sync: false): Promise<void>
  [WAKE_AFTER_RELEASE]?: (wake: () => void) => void
}

/** The lock a condition header names: its kind and name, and whether it was made for the condition. */
interface LockRecord {
  kind: 'lock' | 'rlock'
  name: string
  owned: boolean
}

interface ConditionAttachment extends Attachment {
  readonly waiters: ConditionWaiters
  readonly record: LockRecord
  /** Set when this call created the segment: the lock made for it or given. */
  readonly lockAtCreation: ConditionLock | undefined
}

interface ConditionSpec extends CreationSpec {
  /** The lock given, or undefined: make an RLock. */
  lock: ConditionLock | undefined
}

/** The lock objects `init` made or was given, for the `attach` of the same Segment.create call (one synchronous call). */
const creating = new WeakMap<Segment, ConditionLock>()

function writeRecord(segment: Segment, record: LockRecord): void {
  const base = segment.dataOffset / 4
  const i32 = segment.i32
  const bytes = Buffer.from(segment.buffer, segment.dataOffset + C_LOCK_NAME * 4, MAX_LOCK_NAME_BYTES).write(
    record.name,
    'utf8',
  )
  Atomics.store(i32, base + C_FLAGS, record.owned ? FLAG_OWNS_LOCK : 0)
  Atomics.store(i32, base + C_LOCK_KIND, LOCK_KINDS.indexOf(record.kind))
  Atomics.store(i32, base + C_LOCK_LEN, bytes)
}

/** The lock record of an opened condition, range-checked (CorruptError). */
function readRecord(segment: Segment): LockRecord {
  const base = segment.dataOffset / 4
  const i32 = segment.i32
  const corrupt = (what: string) =>
    new CorruptError(`Cannot open condition "${segment.name}": its shared memory is corrupt (${what})`)
  const flags = Atomics.load(i32, base + C_FLAGS)
  if ((flags & ~FLAG_OWNS_LOCK) !== 0) throw corrupt(`its flags word is ${flags}`)
  const kindId = Atomics.load(i32, base + C_LOCK_KIND)
  const kind = kindId === 1 || kindId === 2 ? LOCK_KINDS[kindId] : undefined
  if (kind === undefined) throw corrupt(`its lock kind is ${kindId}, outside 1 to 2`)
  const bytes = Atomics.load(i32, base + C_LOCK_LEN)
  if (!(bytes >= 1 && bytes <= MAX_LOCK_NAME_BYTES))
    throw corrupt(`its lock name is ${bytes} bytes long, outside 1 to ${MAX_LOCK_NAME_BYTES}`)
  const name = Buffer.from(segment.buffer, segment.dataOffset + C_LOCK_NAME * 4, bytes).toString('utf8')
  // Bytes that are not UTF-8 decode to U+FFFD: another name, so another lock, not this Condition's.
  if (Buffer.byteLength(name) !== bytes) throw corrupt('its lock name is not UTF-8')
  try {
    checkName(name)
  } catch {
    throw corrupt('its lock name is not a valid name')
  }
  return { kind, name, owned: (flags & FLAG_OWNS_LOCK) !== 0 }
}

const CONDITION: PrimitiveKind<ConditionAttachment, ConditionSpec> = {
  segment: CONDITION_KIND,
  className: 'Condition',
  module: import.meta.url,
  dataBytes: () => CONDITION_BYTES,
  init(created, spec) {
    // No lock given: make an RLock for this condition (as Python does) before
    // the segment that names it is published; if init throws, Segment.create
    // removes the segment, and the lock goes with it here.
    const made = spec.lock === undefined ? new RLock({ persistent: spec.persistent }) : undefined
    const lock = (made ?? spec.lock) as ConditionLock
    try {
      writeRecord(created, { kind: lock.handle.kind, name: lock.name, owned: made !== undefined })
      Atomics.store(created.i32, created.dataOffset / 4 + C_MAGIC, CONDITION_MAGIC)
    } catch (error) {
      made?.unlink()
      made?.close()
      throw error
    }
    creating.set(created, lock)
  },
  attach(opened) {
    const lock = creating.get(opened)
    creating.delete(opened)
    if (Atomics.load(opened.i32, opened.dataOffset / 4 + C_MAGIC) !== CONDITION_MAGIC)
      throw new IncompatibleError(`Cannot open condition "${opened.name}": its data is not a condition's`)
    const label = `condition "${opened.name}"`
    return {
      segment: opened,
      waiters: new ConditionWaiters(opened, label),
      record: readRecord(opened),
      lockAtCreation: lock,
    }
  },
}

/** Validates a lock given to a Condition (a Lock or RLock of any copy of @ipc/semaphore). */
function givenLock(lock: unknown): ConditionLock {
  const handle = lockHandleOf(lock, 'The "lock" argument must be a Lock or an RLock')
  if (typeof (lock as Partial<RestorableLock>)[RELEASE_SAVE] !== 'function')
    throw invalidArgType('The "lock" argument comes from a copy of @ipc/semaphore too old for a Condition')
  const given = lock as ConditionLock
  if (given.closed) throw new ClosedError(`Cannot use ${handle.kind} "${handle.name}" as the lock: it was closed`)
  return given
}

/**
 * True when `value` is taken for the options (`new Condition(options)`): a
 * plain object. Anything else is checked as the lock, so a Semaphore or a
 * Map given as the lock is a TypeError, not options named after it.
 */
function isOptionsObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The options in `new Condition(options)`'s first place. A Semaphore has their
 * names (`name`, `persistent`), so without `acquire?: never` the compiler
 * would take `new Condition(semaphore)` for options (it throws at run time).
 */
type OptionsNotALock = ConditionOptions & { readonly acquire?: never }

/** Validates the arguments of `new Condition(lock?, options?)` (also `new Condition(options)`). */
function conditionSpec(lock: unknown, options: ConditionOptions | undefined, name?: string): ConditionSpec {
  checkOptionsObject(options, SYNC_OPTIONS)
  const given = lock === undefined ? undefined : givenLock(lock)
  return { name: name ?? options?.name, persistent: checkPersistent(options?.persistent), lock: given }
}

/** The lock object an attaching condition uses: opened by the record (a lock made for it is created again if it vanished). */
function openLock(record: LockRecord, persistent: boolean): ConditionLock {
  const options = record.owned ? { create: { persistent } } : undefined
  return record.kind === 'lock' ? Lock.open(record.name, options) : RLock.open(record.name, options)
}

/** Validates the `n` of `notify(n)`. */
function checkCount(n: unknown): number {
  if (typeof n !== 'number') throw invalidArgType(`The "n" argument must be a number, received ${typeof n}`)
  if (!(Number.isInteger(n) && n >= 0) && n !== Number.POSITIVE_INFINITY)
    throw outOfRange(`The "n" argument must be a non-negative integer, received ${n}`)
  return n
}

/**
 * A condition variable shared by processes and threads: Python's
 * `multiprocessing.Condition`. Waiters wait, holding its lock, until a
 * notifier (holding the lock too) tells them the state they wait for may
 * have changed. The lock is an `RLock` made with the condition by default,
 * or the `Lock` or `RLock` given, in every process the same lock.
 *
 * Guarantees:
 * - `wait()` releases the lock and sleeps in one step as far as notifiers
 *   can tell: a `notify()` made after `wait()` was called is never lost.
 * - `notify(n)` wakes exactly `n` waiters (fewer if fewer wait), the ones
 *   that have waited longest, and never counts a waiter that died (even by
 *   SIGKILL), whose thread ended, or whose object closed.
 * - `wait()` returns holding the lock at the depth it was held (an RLock
 *   acquired 3 times is held 3 times again), also after a timeout or an abort.
 * - `wait()` resolves `true` when notified, `false` at the timeout (`true`
 *   if a notification came before it could take the lock back).
 *
 * In a process that attached the condition (`Condition.open`, `from`, a
 * `Process` argument), take the lock through the condition (`acquire`,
 * `withLock`, or `condition.lock`): two lock objects in one thread are two
 * different owners.
 *
 * @throws {TypeError} `lock` is not a Lock or RLock.
 * @throws {ExistsError} `options.name` is taken.
 * @example
 * ```ts
 * const ready = new Condition()
 * let done = false
 * setTimeout(() => ready.withLockSync(() => { done = true; ready.notifyAll() }), 10)
 * await ready.withLock(() => ready.waitFor(() => done)) // => true
 * ready.close()
 * ```
 * @see The tested walkthrough: apps/docs/examples/sync/work-ready.ts
 */
export class Condition extends Primitive<ConditionAttachment, ConditionHandle> {
  readonly #lock: ConditionLock
  readonly #restorable: RestorableLock
  /**
   * Where a notify leaves its wake-ups: with the lock, which runs them once
   * this object gives it up, so a chosen waiter wakes to a free lock rather
   * than to the notifier still holding it (one wake-up, not two). The
   * entries are NOTIFIED at once; a notifier that dies holding the lock
   * leaves its waiters to their next slice (late, never lost). Undefined
   * with an older @ipc/semaphore: the wake-ups run at once.
   */
  readonly #wakeLater: ((wake: () => void) => void) | undefined
  /** Whether close() closes the lock object (made or opened here, not given by the user). */
  readonly #closesLock: boolean
  readonly #waiters: ConditionWaiters
  readonly #label: string

  /**
   * `new Condition()` makes an RLock with it; `new Condition(lock)` uses
   * that Lock or RLock; `new Condition(lock, { name })` or
   * `new Condition({ name })` names it.
   */
  constructor(lock?: ConditionLock | OptionsNotALock, options?: ConditionOptions) {
    const optionsFirst = isOptionsObject(lock) && options === undefined
    super(CONDITION, () =>
      optionsFirst ? conditionSpec(undefined, lock as ConditionOptions) : conditionSpec(lock, options),
    )
    const { record, lockAtCreation, waiters } = this.attachment
    this.#waiters = waiters
    this.#label = `condition "${this.name}"`
    let chosen: ConditionLock
    try {
      chosen = lockAtCreation ?? openLock(record, this.persistent)
    } catch (error) {
      this.close()
      if (error instanceof NotFoundError)
        throw new NotFoundError(
          `Cannot open ${this.#label}: its ${record.kind === 'lock' ? 'Lock' : 'RLock'} "${record.name}" no longer exists`,
          { cause: error },
        )
      throw error
    }
    this.#lock = chosen
    const restorable = chosen as unknown as RestorableLock
    this.#restorable = restorable
    const later = restorable[WAKE_AFTER_RELEASE]
    this.#wakeLater = typeof later === 'function' ? (wake) => later.call(restorable, wake) : undefined
    this.#closesLock = lockAtCreation === undefined || record.owned
  }

  /**
   * Attaches to the condition called `name` (and to its lock); with
   * `create`, creates it when the name does not exist (atomically: of racing
   * processes exactly one creates it), with the lock given in `create.lock`
   * or a new RLock.
   * @throws {NotFoundError} No condition has that name (and `create` is not set), or its lock is gone.
   * @throws {IncompatibleError} It is not a Condition.
   * @example
   * ```ts
   * const workReady = Condition.open('work-ready', { create: true })
   * ```
   */
  static open(name: string, options?: ConditionOpenOptions): Condition {
    return openPrimitive(
      attachableCondition,
      CONDITION,
      name,
      options,
      (create: ConditionCreateOptions & { name: string }) =>
        conditionSpec(create.lock, { persistent: create.persistent as boolean }, create.name),
      CONDITION_CREATE_OPTIONS,
    )
  }

  /**
   * Attaches to the condition a `.handle` describes, and to its lock.
   * @throws {TypeError} `handle` is not a Condition's handle.
   * @throws {NotFoundError} The condition (or its lock) no longer exists.
   * @example
   * ```ts
   * const workReady = Condition.from(workerData.workReady)
   * ```
   */
  static from(handle: ConditionHandle | Handle): Condition {
    return fromHandle(attachableCondition, CONDITION, handle)
  }

  /** The condition's lock: the same object `acquire`/`release` use. */
  get lock(): ConditionLock {
    return this.#lock
  }

  /**
   * Waits for the lock without blocking the event loop (the lock's
   * `acquire`): `true` holding it, `false` at the timeout.
   * @example
   * ```ts
   * const condition = new Condition()
   * await condition.acquire() // => true
   * condition.release()
   * condition.close()
   * ```
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.#lock.acquire(options)
  }

  /**
   * Blocks the thread until it holds the lock (the lock's `acquireSync`).
   * @example
   * ```ts
   * const condition = new Condition()
   * condition.acquireSync() // => true
   * condition.release()
   * condition.close()
   * ```
   */
  acquireSync(options?: AcquireSyncOptions): boolean {
    return this.#lock.acquireSync(options)
  }

  /**
   * Takes the lock if it is free now (the lock's `tryAcquire`).
   * @example
   * ```ts
   * const condition = new Condition()
   * condition.tryAcquire() // => true
   * condition.release()
   * condition.close()
   * ```
   */
  tryAcquire(): boolean {
    return this.#lock.tryAcquire()
  }

  /**
   * Releases the lock (one level of an RLock).
   * @throws {ValueError} This object, in this thread, does not hold it.
   * @example
   * ```ts
   * const condition = new Condition()
   * condition.acquireSync()
   * condition.release()
   * condition.close()
   * ```
   */
  release(): void {
    this.#lock.release()
  }

  /** True while this object (its lock), in this thread, holds the lock. */
  get owned(): boolean {
    return this.#lock.owned
  }

  /**
   * Runs `fn` holding the lock (the lock's `withLock`): the usual frame of
   * `wait`, `waitFor` and `notify`.
   * @throws {TimeoutError} Not acquired within `timeout` ms (`fn` does not run).
   * @example
   * ```ts
   * const condition = new Condition()
   * await condition.withLock(() => condition.notifyAll())
   * condition.close()
   * ```
   */
  withLock<R>(fn: () => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    return (this.#lock as RLock).withLock(() => fn(), options)
  }

  /**
   * Blocks the thread until it holds the lock, runs `fn`, releases (the
   * lock's `withLockSync`).
   * @throws {TimeoutError} Not acquired within `timeout` ms (`fn` does not run).
   * @example
   * ```ts
   * const condition = new Condition()
   * condition.withLockSync(() => condition.notify())
   * condition.close()
   * ```
   */
  withLockSync<R>(fn: () => R, options?: AcquireSyncOptions): R {
    return (this.#lock as RLock).withLockSync(() => fn(), options)
  }

  /**
   * Releases the lock, waits until notified or until `timeout` ms pass,
   * and takes the lock back (at the depth it was held) before it resolves:
   * `true` when notified, `false` at the timeout. Never blocks the event
   * loop. Must be called holding the lock. `timeout` bounds the wait for a
   * notify, not the taking back of the lock, which waits like `acquire()`
   * with no timeout (as in Python).
   *
   * Aborting `signal` takes the lock back, then rejects with `signal.reason`;
   * a notification that came meanwhile goes on to another waiter.
   * @throws {ValueError} The lock is not held by this object in this thread.
   * @throws {ClosedError} The condition was closed (also while waiting: the lock is then not taken back).
   * @throws {CorruptError} The condition's shared memory breaks its layout.
   * @example
   * ```ts
   * const condition = new Condition()
   * await condition.acquire()
   * await condition.wait({ timeout: 10 }) // => false
   * condition.release()
   * condition.close()
   * ```
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    if (signal?.aborted) throw signal.reason
    this.#assertOwned('wait on')
    const entry = this.#waiters.enter()
    const saved = this.#releaseFor(entry)
    let failed = false
    let failure: unknown
    if (timeout !== 0) {
      try {
        await this.#waiters.sleep(
          entry,
          { deadline: deadlineOf(timeout), signal, sliceMs: RECHECK_MS, label: this.#label },
          false,
        )
      } catch (error) {
        failed = true
        failure = error
      }
    }
    if (this.closed) throw failed ? failure : this.#closedError()
    try {
      await this.#restorable[ACQUIRE_RESTORE](saved, false)
    } catch (error) {
      // Closed while it took the lock back (the default lock closes with the condition): the
      // close freed the entry, and the table may be unmapped.
      if (this.closed) throw this.#closedError()
      this.#abandon(entry)
      throw error
    }
    if (this.closed) {
      // Closed while it took back a lock that outlives the condition (one the user gave): the
      // close freed the entry; the wait ends as a close during its sleep does, lock not held.
      // (The default lock, taken back just before the close, was closed and given up with it.)
      if (this.#lock.owned) this.#restorable[RELEASE_SAVE]()
      throw this.#closedError()
    }
    return this.#after(entry, failed, failure)
  }

  /**
   * `wait()` blocking the thread: releases the lock, sleeps until notified
   * (`true`) or `timeout` ms pass (`false`), takes the lock back (with no
   * timeout, as `wait()`). The signal is checked on entry only.
   * @throws {ValueError} The lock is not held by this object in this thread.
   * @throws {ClosedError} The condition was closed.
   * @example
   * ```ts
   * const condition = new Condition()
   * condition.acquireSync()
   * condition.waitSync({ timeout: 5 }) // => false
   * condition.release()
   * condition.close()
   * ```
   */
  waitSync(options?: WaitSyncOptions): boolean {
    const timeout = syncTimeoutOf(options, WAIT_OPTIONS)
    this.#assertOwned('wait on')
    const entry = this.#waiters.enter()
    const saved = this.#releaseFor(entry)
    let failed = false
    let failure: unknown
    if (timeout !== 0) {
      try {
        this.#waiters.sleep(entry, { deadline: deadlineOf(timeout), sliceMs: RECHECK_MS, label: this.#label }, true)
      } catch (error) {
        failed = true
        failure = error
      }
    }
    try {
      this.#restorable[ACQUIRE_RESTORE](saved, true)
    } catch (error) {
      this.#abandon(entry)
      throw error
    }
    return this.#after(entry, failed, failure)
  }

  /**
   * Gives the lock up for a wait on `entry`; when that throws (the lock's
   * word changed under its owner), the entry goes too, so no notify is
   * spent on a wait that never began.
   */
  #releaseFor(entry: number): SavedHold {
    try {
      return this.#restorable[RELEASE_SAVE]()
    } catch (error) {
      if (this.#waiters.drop(entry)) this.#waiters.passOn()
      throw error
    }
  }

  /**
   * The lock could not be taken back (it was closed, or its memory is
   * corrupt): the entry goes without it, and a notification it had received
   * is passed on, so no other waiter misses it (without the lock: passOn).
   */
  #abandon(entry: number): void {
    if (this.#waiters.drop(entry)) this.#waiters.passOn()
  }

  /** Holding the lock again: frees the entry; passes a notification on when the wait failed. */
  #after(entry: number, failed: boolean, failure: unknown): boolean {
    const notified = this.#waiters.leave(entry)
    if (!failed) return notified
    // Aborted (or failed) after a notify chose this waiter: give it to the next one.
    if (notified) this.#waiters.notify(1)
    throw failure
  }

  /**
   * Waits until `predicate()` returns a truthy value, or `timeout` ms pass
   * in all; resolves with its last value (Python's `wait_for`). Checks it
   * first, then after each wake-up, always holding the lock.
   * @throws {ValueError} The lock is not held (when a wait is needed).
   * @example
   * ```ts
   * const condition = new Condition()
   * await condition.withLock(() => condition.waitFor(() => 42)) // => 42
   * condition.close()
   * ```
   */
  async waitFor<T>(predicate: () => T | PromiseLike<T>, options?: WaitOptions): Promise<T> {
    if (typeof predicate !== 'function')
      throw invalidArgType(`The "predicate" argument must be a function, received ${typeof predicate}`)
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    const deadline = deadlineOf(timeout)
    let result = await predicate()
    let first = true
    while (!result) {
      const left = remaining(deadline)
      if (!first && left <= 0) break
      first = false
      await this.wait(left === Number.POSITIVE_INFINITY ? { signal } : { timeout: left, signal })
      result = await predicate()
    }
    return result
  }

  /**
   * `waitFor` blocking the thread; `predicate` must be synchronous.
   * @throws {ValueError} The lock is not held (when a wait is needed).
   * @example
   * ```ts
   * const condition = new Condition()
   * condition.withLockSync(() => condition.waitForSync(() => 'ready')) // => 'ready'
   * condition.close()
   * ```
   */
  waitForSync<T>(predicate: () => T, options?: WaitSyncOptions): T {
    if (typeof predicate !== 'function')
      throw invalidArgType(`The "predicate" argument must be a function, received ${typeof predicate}`)
    const deadline = deadlineOf(syncTimeoutOf(options, WAIT_OPTIONS))
    let result = predicate()
    let first = true
    while (!result) {
      const left = remaining(deadline)
      if (!first && left <= 0) break
      first = false
      this.waitSync(left === Number.POSITIVE_INFINITY ? undefined : { timeout: left })
      result = predicate()
    }
    return result
  }

  /**
   * Wakes `n` waiters (default 1): the ones that have waited longest,
   * exactly `n` when that many wait. Waiters of dead processes, ended
   * threads or closed objects are skipped (and forgotten), never counted.
   * Must be called holding the lock; the woken waiters run once they get it.
   * @throws {ValueError} The lock is not held by this object in this thread.
   * @throws {RangeError} `n` is not a non-negative integer.
   * @example
   * ```ts
   * const condition = new Condition()
   * condition.withLockSync(() => condition.notify(2))
   * condition.close()
   * ```
   */
  notify(n = 1): void {
    const count = checkCount(n)
    this.#assertOwned('notify')
    if (count > 0) this.#waiters.notify(count, this.#wakeLater)
  }

  /**
   * Wakes every waiter (Python's `notify_all`). Must be called holding the lock.
   * @throws {ValueError} The lock is not held by this object in this thread.
   * @example
   * ```ts
   * const condition = new Condition()
   * condition.withLockSync(() => condition.notifyAll())
   * condition.close()
   * ```
   */
  notifyAll(): void {
    this.#assertOwned('notify')
    this.#waiters.notify(Number.POSITIVE_INFINITY, this.#wakeLater)
  }

  #assertOwned(what: string): void {
    if (this.closed) throw this.#closedError()
    if (!this.#lock.owned)
      throw new ValueError(
        `Cannot ${what} ${this.#label}: its lock is not held by this object in this thread (acquire it first)`,
      )
  }

  #closedError(): ClosedError {
    return new ClosedError(`Cannot use ${this.#label}: it was closed`)
  }

  /**
   * Detaches this object (idempotent). Its pending waits reject with
   * `ClosedError` without taking the lock back. It closes the lock object
   * it made or opened (a lock it still holds is given up: the next holder
   * sees `previousOwnerDied`); a lock given to the constructor stays open.
   * The condition is removed when its last object closes or its last
   * process dies, unless it is persistent.
   * @example
   * ```ts
   * const condition = new Condition()
   * condition.close()
   * condition.closed // => true
   * ```
   */
  override close(): void {
    super.close()
  }

  /** Removes the name now; a lock made for the condition is unlinked with it (a given lock is not). */
  override unlink(): void {
    super.unlink()
    if (this.attachment.record.owned) this.#lock?.unlink()
  }

  /** Run once by `close()`: frees this object's waiter entries, closes the lock it made or opened. */
  protected override detach(): void {
    this.#waiters.detach()
    if (this.#closesLock) this.#lock?.close()
  }

  protected override closedFields(): Record<string, unknown> {
    return {}
  }

  protected inspectFields(): Record<string, unknown> {
    const { kind, name } = this.attachment.record
    return { lock: `${kind === 'lock' ? 'Lock' : 'RLock'} "${name}"`, waiting: this.#waiters.waiting() }
  }
}

/**
 * A Condition for Primitive's `attachTo` (which supplies the attachment; no
 * creation argument is read). Outside the class body, so that the bundler
 * keeps the class's name (Condition, not _Condition).
 */
function attachableCondition(): Condition {
  return new Condition()
}
