/**
 * What SharedValue and SharedArray have in common. Both are a segment with
 * the shared header of layout.ts (element type, length, the lock's kind and
 * name) and elements after it; the lock is a Lock or RLock of
 * @ipc/semaphore in a segment of its own. SharedKind creates and opens such
 * segments; SharedObject, the base of both classes, holds the lock and the
 * lifetime (`close`, `unlink`) and status members.
 */
import { ClosedError, CorruptError, IncompatibleError, NotFoundError, ValueError } from '@ipc/core'
import { invalidArgType, Segment, type SegmentKind } from '@ipc/core/internal'
import { type AcquireOptions, type AcquireSyncOptions, Lock, RLock } from '@ipc/semaphore'
import { type ElementType, elementType, elementTypeById, type TypeName, type ValueType } from './element-types.js'
import { type LockRecord, OFFSET_ELEMENTS, readSharedHeader, writeSharedHeader } from './layout.js'
import type { RawOptions, SharedOptions } from './options.js'

/** The lock of a SharedValue or SharedArray: an RLock by default (as in Python), or the Lock or RLock given. */
export type SharedLock = Lock | RLock

/** Passed as the type to a constructor: attach to the opened segment in the next argument instead of creating one. */
export const ATTACH: unique symbol = Symbol('attach')

/** A created or opened segment and what its header says. */
export interface Attached {
  segment: Segment
  type: ElementType
  length: number
  /** The lock the header names, if any. */
  record: LockRecord | undefined
  /** Whether this object uses the lock (false for RawValue/RawArray even when the segment has one). */
  lock: boolean
  /** At creation: the lock object to use (made for the object, or given by the user). */
  lockObject?: SharedLock
}

/** What a new object's segment holds after the header: `length` elements in `dataBytes`, written by `fill`. */
export interface SharedContents {
  length: number
  dataBytes: number
  /** Writes the initial elements, before the segment is published. */
  fill(created: Segment): void
}

function checkOptionsObject(options: unknown): void {
  if (options !== undefined && (typeof options !== 'object' || options === null))
    throw invalidArgType(`The options must be an object, received ${options === null ? 'null' : typeof options}`)
}

/** The kind and name of a lock given as `options.lock` (a Lock or RLock of any copy of @ipc/semaphore). */
function givenLock(lock: unknown): SharedLock {
  const handle = (lock as { handle?: { kind?: unknown; name?: unknown } } | null)?.handle
  if (
    typeof lock !== 'object' ||
    lock === null ||
    (handle?.kind !== 'lock' && handle?.kind !== 'rlock') ||
    typeof handle.name !== 'string'
  )
    throw invalidArgType(
      `The "lock" option must be true, false, a Lock or an RLock, received ${lock === null ? 'null' : typeof lock}`,
    )
  const given = lock as SharedLock
  if (given.closed) throw new ClosedError(`Cannot use ${handle.kind} "${handle.name}" as the lock: it was closed`)
  return given
}

/**
 * The lock objects given at creation (`options.lock`) that values of this
 * thread use, by kind and name, so that values sharing one lock in another
 * process share one lock object there too (one owner per thread, as where they
 * were made). Kept on globalThis: one registry per thread, shared by the ESM
 * and CJS copies of this package.
 */
interface SharedLockEntry {
  lock: SharedLock
  /** Values of this thread using it. */
  users: number
  /** Whether the last user closes it (it was opened here, not given by the user). */
  close: boolean
}

const REGISTRY = Symbol.for('@ipc/shared/given-locks')

function givenLocks(): Map<string, SharedLockEntry> {
  const holder = globalThis as unknown as Record<symbol, Map<string, SharedLockEntry> | undefined>
  let found = holder[REGISTRY]
  if (found === undefined) {
    found = new Map()
    holder[REGISTRY] = found
  }
  return found
}

function lockKey(kind: string, name: string): string {
  return `${kind}/${name}`
}

/**
 * The lock object an attaching value uses for `record`. A lock made with
 * `lock: true` is opened per value object (and created again if it vanished:
 * it is the value's own, so nobody can be attached to an older one); a lock
 * given at creation is shared by the values of this thread.
 */
function attachLock(record: LockRecord): SharedLock {
  const open = (): SharedLock => {
    const options = record.owned ? { create: true } : undefined
    return record.kind === 'lock' ? Lock.open(record.name, options) : RLock.open(record.name, options)
  }
  if (record.owned) return open()
  const registry = givenLocks()
  const key = lockKey(record.kind, record.name)
  const entry = registry.get(key)
  if (entry !== undefined && !entry.lock.closed) {
    entry.users++
    return entry.lock
  }
  const lock = open()
  registry.set(key, { lock, users: 1, close: true })
  return lock
}

/** Registers a value of this thread that uses the lock object given at its creation. */
function useGivenLock(lock: SharedLock): void {
  const registry = givenLocks()
  const key = lockKey(lock.handle.kind, lock.name)
  const entry = registry.get(key)
  if (entry !== undefined && entry.lock === lock) entry.users++
  else registry.set(key, { lock, users: 1, close: false })
}

/** A value stops using `lock`: closes it if nothing else of this thread uses it and the value layer opened it. */
function detachLock(lock: SharedLock, record: LockRecord): void {
  if (record.owned) {
    lock.close()
    return
  }
  const registry = givenLocks()
  const key = lockKey(record.kind, record.name)
  const entry = registry.get(key)
  if (entry === undefined || entry.lock !== lock) return
  if (--entry.users > 0) return
  registry.delete(key)
  if (entry.close) lock.close()
}

/** Removes a lock made for an object that was not made after all (it may be persistent: unlink it). */
function discard(made: RLock | undefined): void {
  if (made === undefined) return
  made.unlink()
  made.close()
}

/**
 * The options a RawValue/RawArray constructor passes to its parent: the same
 * object without the lock. When attaching (`type` is ATTACH), marks `attached`
 * lock-free instead.
 */
export function withoutLock(
  type: unknown,
  attached: unknown,
  options: RawOptions | undefined,
): SharedOptions | undefined {
  if (type === ATTACH) {
    ;(attached as Attached).lock = false
    return undefined
  }
  checkOptionsObject(options)
  return { name: options?.name as string, persistent: options?.persistent as boolean, lock: false }
}

/**
 * One kind of shared object (value or array): its segment kind, its name in
 * messages and the lengths its header may hold. Creates and opens segments
 * of that kind.
 */
export class SharedKind {
  readonly segment: SegmentKind
  /** 'shared value' or 'shared array', as error messages name it. */
  readonly label: string
  readonly #fits: (length: number, type: ElementType, segment: Segment) => boolean

  /** `fits` tells whether `length` elements of `type` are a valid header for this kind in `segment`. */
  constructor(
    segment: SegmentKind,
    label: string,
    fits: (length: number, type: ElementType, segment: Segment) => boolean,
  ) {
    this.segment = segment
    this.label = label
    this.#fits = fits
  }

  /**
   * Validates `type`, then `options`, then (through `contents`) the initial
   * elements, and creates the segment: header first, then `contents.fill`,
   * all before the segment is published.
   * @throws {TypeError} for an unknown type or bad options.
   * @throws {ExistsError} when the name is taken.
   */
  create(type: unknown, options: SharedOptions | undefined, contents: (type: ElementType) => SharedContents): Attached {
    return this.#make(type, options, contents, undefined)
  }

  /**
   * `open(name, type)`, or when no segment has that name, `create` with
   * `options` and `contents`: atomic under races (exactly one process creates
   * the name, all attach to it). A lock made for a creation that lost the
   * race is closed again.
   * @throws {TypeError} for an unknown type or bad options.
   * @throws {IncompatibleError} when the name holds another kind or type.
   */
  openOrCreate(
    name: string,
    type: unknown,
    options: SharedOptions | undefined,
    contents: (type: ElementType) => SharedContents,
  ): Attached {
    // Most calls find the name: open without making a lock that would be thrown away.
    try {
      return this.open(name, type as ValueType)
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error
    }
    return this.#make(type, options, contents, name)
  }

  /** `create` (`openName` undefined) or `openOrCreate` (the name to open or create). */
  #make(
    type: unknown,
    options: SharedOptions | undefined,
    contents: (type: ElementType) => SharedContents,
    openName: string | undefined,
  ): Attached {
    const elementTypeOf = elementType(type)
    checkOptionsObject(options)
    const option = options?.lock ?? true
    const given = typeof option === 'boolean' ? undefined : givenLock(option)
    const persistent = options?.persistent
    if (persistent !== undefined && typeof persistent !== 'boolean')
      throw invalidArgType(`The "persistent" option must be a boolean, received ${typeof persistent}`)
    const { length, dataBytes, fill } = contents(elementTypeOf)
    // lock: true makes an RLock for this object (as Python's Value), before
    // the segment that names it; it is removed again if the segment is not made.
    const made = option === true ? new RLock({ persistent: persistent === true }) : undefined
    const lockObject = made ?? given
    const record: LockRecord | undefined =
      lockObject === undefined
        ? undefined
        : { kind: lockObject.handle.kind, name: lockObject.name, owned: made !== undefined }
    const creation = {
      name: openName ?? options?.name,
      persistent: persistent === true,
      init(created: Segment) {
        writeSharedHeader(created, { typeId: elementTypeOf.id, length, lock: record })
        fill(created)
      },
    }
    let segment: Segment
    try {
      if (openName === undefined) segment = Segment.create(this.segment, OFFSET_ELEMENTS + dataBytes, creation)
      else {
        const result = Segment.openOrCreate(this.segment, openName, OFFSET_ELEMENTS + dataBytes, creation)
        if (!result.created) {
          discard(made)
          return this.#attach(result.segment, openName, elementTypeOf)
        }
        segment = result.segment
      }
    } catch (error) {
      discard(made)
      throw error
    }
    const attached: Attached = { segment, type: elementTypeOf, length, record, lock: record !== undefined }
    if (lockObject !== undefined) attached.lockObject = lockObject
    return attached
  }

  /**
   * Opens the segment called `name` and checks its header (and its type, when given).
   * @throws {NotFoundError} when no segment has that name.
   * @throws {IncompatibleError} when it is not of this kind or holds another type.
   * @throws {CorruptError} when its header breaks the layout's rules.
   */
  open(name: string, type: ValueType | undefined): Attached {
    const expected = type === undefined ? undefined : elementType(type)
    return this.#attach(Segment.open(this.segment, name), name, expected)
  }

  /** Checks the header of an opened `segment` (and its type, when `expected`); closes it on error. */
  #attach(segment: Segment, name: string, expected: ElementType | undefined): Attached {
    try {
      const header = readSharedHeader(
        segment,
        (what) => new CorruptError(`Cannot open ${this.label} "${name}": its shared memory is corrupt: ${what}`),
      )
      const stored = header === undefined ? undefined : elementTypeById(header.typeId)
      if (header === undefined || stored === undefined || !this.#fits(header.length, stored, segment))
        throw new IncompatibleError(`Cannot open ${this.label} "${name}": its header is not a ${this.label}'s`)
      if (expected !== undefined && expected !== stored)
        throw new IncompatibleError(`Cannot open ${this.label} "${name}" as ${expected.name}: it holds ${stored.name}`)
      return { segment, type: stored, length: header.length, record: header.lock, lock: header.lock !== undefined }
    } catch (error) {
      segment.close()
      throw error
    }
  }

  /** The error every member of a closed object of this kind throws. */
  closedError(name: string): ClosedError {
    return new ClosedError(`Cannot use ${this.label} "${name}": it was closed`)
  }
}

/** Lock and RLock have the same withLock/withLockSync; this type calls them on the union. */
interface LockLike {
  withLock<R>(fn: (lock: SharedLock) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>>
  withLockSync<R>(fn: (lock: SharedLock) => R, options?: AcquireSyncOptions): R
}

/**
 * The base of SharedValue and SharedArray: a name, an element type, an
 * optional Lock or RLock that every object attached to the same memory uses,
 * and the object's lifetime.
 */
export abstract class SharedObject {
  /** The name other processes open it by. */
  readonly name: string
  readonly #kind: SharedKind
  readonly #segment: Segment
  readonly #type: ElementType
  readonly #lock: SharedLock | undefined
  readonly #record: LockRecord | undefined
  #closed = false

  /**
   * For SharedValue and SharedArray: wraps a segment that `kind.create` or
   * `kind.open` returned, and attaches to the lock its header names (closing
   * the segment if that fails).
   */
  protected constructor(attached: Attached, kind: SharedKind) {
    const { segment, record } = attached
    this.name = segment.name
    this.#kind = kind
    this.#segment = segment
    this.#type = attached.type
    this.#record = record
    let lock: SharedLock | undefined
    if (attached.lockObject !== undefined) {
      lock = attached.lockObject
      if (!record?.owned) useGivenLock(lock)
    } else if (attached.lock && record !== undefined) {
      try {
        lock = attachLock(record)
      } catch (error) {
        segment.close()
        throw error
      }
    }
    this.#lock = lock
  }

  /** The element type's name ('int32', …; typecodes are resolved). */
  get type(): TypeName {
    return this.#type.name
  }

  /** Whether this object has a lock (false for RawValue, RawArray and `lock: false`). */
  get hasLock(): boolean {
    return this.#lock !== undefined
  }

  /** True once `close()` ran. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * The lock of this object: an `RLock` made for it (`lock: true`, the
   * default, as in Python), or the `Lock` or `RLock` given as `options.lock`
   * (the same object), in every process the same lock. Single reads and
   * writes need no lock; hold it around read-modify-write sequences and
   * multi-element snapshots or updates.
   * @throws {ValueError} when this object has no lock (RawValue, RawArray, `lock: false`).
   * @throws {ClosedError} after `close()`.
   * @example
   * ```ts
   * const total = new SharedValue('float64', 0)
   * const lock = total.getLock()
   * lock.acquireSync()
   * try {
   *   total.value += 0.5
   * } finally {
   *   lock.release()
   * }
   * ```
   */
  getLock(): SharedLock {
    if (this.#lock === undefined)
      throw new ValueError(
        `Cannot get the lock of ${this.#kind.label} "${this.name}": it was opened without a lock (lock: false)`,
      )
    if (this.#closed) throw this.#kind.closedError(this.name)
    return this.#lock
  }

  /**
   * Runs `fn` holding the lock and releases it when `fn` returns, throws or
   * (async `fn`) settles. Waits for the lock without blocking the event loop.
   * `fn` gets the lock: check `lock.previousOwnerDied` to learn that a holder
   * died mid-update.
   * @throws {ValueError} when this object has no lock.
   * @throws {TimeoutError} when `timeout` ms pass before the lock is taken (`fn` does not run).
   * @example
   * ```ts
   * const xs = new SharedArray('int32', [1, 2])
   * await xs.withLock(() => {
   *   const [a, b] = xs.toArray()
   *   xs.set(0, b as number)
   *   xs.set(1, a as number)
   * })
   * ```
   */
  withLock<R>(fn: (lock: SharedLock) => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    try {
      return (this.getLock() as LockLike).withLock(fn, options)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Blocks the thread until it holds the lock, runs `fn`, releases. For
   * worker threads and scripts; an `fn` returning a promise keeps the lock
   * until it settles.
   * @throws {ValueError} when this object has no lock, or holds its `Lock` (not RLock) already.
   * @throws {TimeoutError} when `timeout` ms pass before the lock is taken (`fn` does not run).
   * @example
   * ```ts
   * const counter = new SharedValue('int32', 0)
   * counter.withLockSync(() => {
   *   counter.value += 1
   * })
   * ```
   */
  withLockSync<R>(fn: (lock: SharedLock) => R, options?: AcquireSyncOptions): R {
    return (this.getLock() as LockLike).withLockSync(fn, options)
  }

  /**
   * Detaches this object (idempotent); later calls throw ClosedError. It
   * closes the lock object it opened or made (a lock it still holds is given
   * up: the next holder sees `previousOwnerDied`); a lock given as
   * `options.lock` stays open for its owner. The shared memory is removed
   * when the last attached object closes or its process dies.
   * @example
   * ```ts
   * const flag = new SharedValue('bool', false)
   * flag.close()
   * ```
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    try {
      if (this.#lock !== undefined && this.#record !== undefined) detachLock(this.#lock, this.#record)
    } finally {
      this.#segment.close()
    }
  }

  /** Alias of `close()`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /**
   * Removes the name now: later `open(name)` calls throw NotFoundError, and
   * attached objects keep working until they close. A lock made for the
   * object (`lock: true`) is unlinked with it; a given lock is not.
   */
  unlink(): void {
    this.#segment.unlink()
    const record = this.#record
    if (record?.owned !== true) return
    if (this.#lock !== undefined) {
      this.#lock.unlink()
      return
    }
    // A RawValue/RawArray does not use the lock, but must not strand a persistent one.
    let lock: SharedLock
    try {
      lock = record.kind === 'lock' ? Lock.open(record.name) : RLock.open(record.name)
    } catch (error) {
      if (error instanceof NotFoundError) return
      throw error
    }
    lock.unlink()
    lock.close()
  }
}
