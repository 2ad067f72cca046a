/**
 * What SharedValue and SharedArray have in common. Both are a segment with
 * the shared header of layout.ts (element type, length, lock flag), elements
 * after it, and an optional robust lock. SharedKind creates and opens such
 * segments; SharedObject, the base of both classes, holds the lock and the
 * lifetime (`close`, `unlink`) and status members.
 */
import { ClosedError, IncompatibleError, ValueError } from '@ipc/core'
import { invalidArgType, type RobustLock, Segment, type SegmentKind } from '@ipc/core/internal'
import { type ElementType, elementType, elementTypeById, type TypeName, type ValueType } from './element-types.js'
import { OFFSET_DATA, readSharedHeader, writeSharedHeader } from './layout.js'
import type { RawOptions, SharedOptions } from './options.js'
import { type LockWaitOptions, lockOf, type SharedLock, type SyncWaitOptions } from './shared-lock.js'

/** Passed as the type to a constructor: attach to the opened segment in the next argument instead of creating one. */
export const ATTACH: unique symbol = Symbol('attach')

/** A created or opened segment and what its header says. */
export interface Attached {
  segment: Segment
  type: ElementType
  length: number
  /** Whether this object uses the lock (false for RawValue/RawArray even when the segment has one). */
  lock: boolean
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
  return { name: options?.name as string, lock: false }
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
    const elementTypeOf = elementType(type)
    checkOptionsObject(options)
    const lock = options?.lock ?? true
    if (typeof lock !== 'boolean') throw invalidArgType(`The "lock" option must be a boolean, received ${typeof lock}`)
    const { length, dataBytes, fill } = contents(elementTypeOf)
    const segment = Segment.create(this.segment, OFFSET_DATA + dataBytes, {
      name: options?.name,
      init(created) {
        writeSharedHeader(created, { typeId: elementTypeOf.id, length, lock })
        fill(created)
      },
    })
    return { segment, type: elementTypeOf, length, lock }
  }

  /**
   * Opens the segment called `name` and checks its header (and its type, when given).
   * @throws {NotFoundError} when no segment has that name.
   * @throws {IncompatibleError} when it is not of this kind or holds another type.
   */
  open(name: string, type: ValueType | undefined): Attached {
    const expected = type === undefined ? undefined : elementType(type)
    const segment = Segment.open(this.segment, name)
    try {
      const header = readSharedHeader(segment)
      const stored = header === undefined ? undefined : elementTypeById(header.typeId)
      if (header === undefined || stored === undefined || !this.#fits(header.length, stored, segment))
        throw new IncompatibleError(`Cannot open ${this.label} "${name}": its header is not a ${this.label}'s`)
      if (expected !== undefined && expected !== stored)
        throw new IncompatibleError(`Cannot open ${this.label} "${name}" as ${expected.name}: it holds ${stored.name}`)
      return { segment, type: stored, length: header.length, lock: header.lock }
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

/**
 * The base of SharedValue and SharedArray: a name, an element type, an
 * optional robust lock shared by every object attached to the same memory,
 * and the object's lifetime.
 */
export abstract class SharedObject {
  /** The name other processes open it by. */
  readonly name: string
  readonly #kind: SharedKind
  readonly #segment: Segment
  readonly #type: ElementType
  readonly #lock: RobustLock | undefined
  #closed = false

  /** For SharedValue and SharedArray: wraps a segment that `kind.create` or `kind.open` returned. */
  protected constructor(attached: Attached, kind: SharedKind) {
    const { segment } = attached
    this.name = segment.name
    this.#kind = kind
    this.#segment = segment
    this.#type = attached.type
    this.#lock = attached.lock ? lockOf(segment, `${kind.label} "${segment.name}"`) : undefined
  }

  /** The element type's name ('int32', …; typecodes are resolved). */
  get type(): TypeName {
    return this.#type.name
  }

  /** Whether this object has a lock (false for RawValue and RawArray). */
  get hasLock(): boolean {
    return this.#lock !== undefined
  }

  /** True once `close()` ran. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * The lock shared by every object attached to the same memory. Single
   * reads and writes need no lock; hold it around read-modify-write
   * sequences and multi-element snapshots or updates.
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
   * @throws {DOMException} named TimeoutError when `timeout` ms pass before the lock is taken.
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
  withLock<R>(fn: (lock: SharedLock) => R | PromiseLike<R>, options?: LockWaitOptions): Promise<R> {
    try {
      return this.getLock().withLock(fn, options)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Blocks the thread until it holds the lock, runs `fn`, releases. For
   * worker threads and scripts; an `fn` returning a promise keeps the lock
   * until it settles.
   * @throws {ValueError} when this object has no lock, or this thread holds it already.
   * @throws {DOMException} named TimeoutError when `timeout` ms pass before the lock is taken.
   * @example
   * ```ts
   * const counter = new SharedValue('int32', 0)
   * counter.withLockSync(() => {
   *   counter.value += 1
   * })
   * ```
   */
  withLockSync<R>(fn: (lock: SharedLock) => R, options?: SyncWaitOptions): R {
    return this.getLock().withLockSync(fn, options)
  }

  /**
   * Detaches this object (idempotent); later calls throw ClosedError. If it
   * holds the lock, the lock is given up and the next holder sees
   * `previousOwnerDied`. The shared memory is removed when the last attached
   * object closes or its process dies.
   * @example
   * ```ts
   * const flag = new SharedValue('bool', false)
   * flag.close()
   * ```
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#lock?.abandon()
    this.#segment.close()
  }

  /** Alias of `close()`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /**
   * Removes the name now: later `open(name)` calls throw NotFoundError, and
   * attached objects keep working until they close.
   */
  unlink(): void {
    this.#segment.unlink()
  }
}
