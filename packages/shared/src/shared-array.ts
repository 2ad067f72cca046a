/**
 * SharedArray and RawArray: Python's multiprocessing.Array / RawArray, a
 * fixed-length array of numbers (or bigints, or booleans) in shared memory,
 * with a live typed-array view (zero copy).
 */
import { type InspectOptionsStylized, inspect } from 'node:util'
import { ClosedError, IncompatibleError, ValueError } from '@ipc/core'
import {
  checkHandle,
  type Handle,
  invalidArgType,
  outOfRange,
  type RobustLock,
  Segment,
  TRANSFER,
  type TransferDescriptor,
} from '@ipc/core/internal'
import {
  checkElement,
  type ElementOf,
  type ElementType,
  elementType,
  elementTypeById,
  loadElement,
  storeElement,
  type TypedArrayOf,
  type TypeName,
  type ValueType,
} from './element-types.js'
import { ARRAY_KIND, OFFSET_DATA, readSharedHeader, writeSharedHeader } from './layout.js'
import type { RawOptions, SharedOptions } from './options.js'
import { type LockWaitOptions, lockOf, type SharedLock, type SyncWaitOptions } from './shared-lock.js'

/** The plain JSON handle of a SharedArray: pass it anywhere, then `SharedArray.from(handle)`. */
export interface SharedArrayHandle extends Handle {
  kind: 'shared-array'
  name: string
  /** The element type name. */
  type: TypeName
  /** The number of elements. */
  length: number
  /** Whether the object that made the handle uses the lock. */
  lock: boolean
}

const ATTACH: unique symbol = Symbol('attach')

interface Attached {
  segment: Segment
  type: ElementType
  length: number
  lock: boolean
}

type AnyView =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array

/** Most elements `inspect` shows. */
const INSPECT_MAX = 20

function closedError(name: string): ClosedError {
  return new ClosedError(`Cannot use shared array "${name}": it was closed`)
}

function attach(name: string, type: ValueType | undefined): Attached {
  const expected = type === undefined ? undefined : elementType(type)
  const segment = Segment.open(ARRAY_KIND, name)
  try {
    const header = readSharedHeader(segment)
    const stored = header === undefined ? undefined : elementTypeById(header.typeId)
    if (header === undefined || stored === undefined || OFFSET_DATA + header.length * stored.bytes > segment.dataBytes)
      throw new IncompatibleError(`Cannot open shared array "${name}": its header is not a shared array's`)
    if (expected !== undefined && expected !== stored)
      throw new IncompatibleError(`Cannot open shared array "${name}" as ${expected.name}: it holds ${stored.name}`)
    return { segment, type: stored, length: header.length, lock: header.lock }
  } catch (error) {
    segment.close()
    throw error
  }
}

/** Validates `lengthOrValues`: a length, or values that all fit the type (checked before anything is created). */
function initialValues(
  type: ElementType,
  lengthOrValues: unknown,
): { length: number; values: (number | bigint)[] | undefined } {
  if (typeof lengthOrValues === 'number') {
    if (!Number.isSafeInteger(lengthOrValues) || lengthOrValues < 0)
      throw outOfRange(`The length must be a non-negative integer, received ${lengthOrValues}`)
    return { length: lengthOrValues, values: undefined }
  }
  if (
    lengthOrValues === null ||
    typeof lengthOrValues !== 'object' ||
    typeof (lengthOrValues as Iterable<unknown>)[Symbol.iterator] !== 'function'
  )
    throw invalidArgType(
      `The "lengthOrValues" argument must be a length or an iterable of values, received ${lengthOrValues === null ? 'null' : typeof lengthOrValues}`,
    )
  const given = Array.from(lengthOrValues as Iterable<unknown>)
  const values = given.map((value, index) => checkElement(type, value, `The value at index ${index}`))
  return { length: values.length, values }
}

/**
 * A fixed-length array in shared memory that every attached process and
 * thread reads and writes in place (Python's `multiprocessing.Array`).
 *
 * Guarantees:
 * - `.array` is a typed array over the shared memory itself (zero copy): a
 *   write through it in one process is seen by every other.
 * - `get(i)` and `set(i, v)` read and write one element whole (atomically),
 *   64-bit types included. Element operations are not ordered as a group:
 *   hold the lock (`withLock`) for a consistent multi-element snapshot or update.
 * - `set` checks the kind and range like SharedValue: nothing is written on error.
 * - The lock is robust: a holder that dies does not block the others, who learn
 *   it through `previousOwnerDied`.
 *
 * Integer arrays also work with `Atomics` directly: `Atomics.add(arr.array, i, 1)`.
 *
 * @throws {TypeError} for an unknown type (the message lists the valid ones) or a wrong value.
 * @throws {RangeError} for a negative or non-integer length, or an integer out of the type's range.
 * @example
 * ```ts
 * const scores = new SharedArray('float64', [1.5, 2.5, 3.5])
 * scores.set(0, 10)
 * scores.get(0) // => 10
 * scores.array[1] // => 2.5
 * scores.toArray() // => [10, 2.5, 3.5]
 * ```
 */
export class SharedArray<T extends ValueType = ValueType> {
  /** The name other processes open it by. */
  readonly name: string
  /** The number of elements (fixed). */
  readonly length: number
  readonly #segment: Segment
  readonly #type: ElementType
  readonly #view: AnyView
  readonly #atomic: AnyView
  readonly #lock: RobustLock | undefined
  #closed = false

  /**
   * Creates an array of `type`: `lengthOrValues` is a length (elements start
   * at 0, 0n or false) or the initial values (any iterable).
   */
  constructor(type: T, lengthOrValues: number | Iterable<ElementOf<T>>, options?: SharedOptions)
  constructor(type: T | typeof ATTACH, lengthOrValues: unknown, options?: SharedOptions) {
    let attached: Attached
    if (type === ATTACH) {
      attached = lengthOrValues as Attached
    } else {
      const elementTypeOf = elementType(type)
      if (options !== undefined && (typeof options !== 'object' || options === null))
        throw invalidArgType(`The options must be an object, received ${options === null ? 'null' : typeof options}`)
      const lock = options?.lock ?? true
      if (typeof lock !== 'boolean')
        throw invalidArgType(`The "lock" option must be a boolean, received ${typeof lock}`)
      const { length, values } = initialValues(elementTypeOf, lengthOrValues)
      const dataBytes = Math.ceil((length * elementTypeOf.bytes) / 8) * 8
      const segment = Segment.create(ARRAY_KIND, OFFSET_DATA + dataBytes, {
        name: options?.name,
        init(created) {
          writeSharedHeader(created, { typeId: elementTypeOf.id, length, lock })
          if (values !== undefined && length > 0) {
            const view = new elementTypeOf.View(created.buffer, created.dataOffset + OFFSET_DATA, length)
            ;(view as { set(values: ArrayLike<number | bigint>): void }).set(values)
          }
        },
      })
      attached = { segment, type: elementTypeOf, length, lock }
    }
    const { segment, type: elementTypeOf, length } = attached
    this.name = segment.name
    this.length = length
    this.#segment = segment
    this.#type = elementTypeOf
    this.#view = new elementTypeOf.View(segment.buffer, segment.dataOffset + OFFSET_DATA, length) as AnyView
    this.#atomic =
      elementTypeOf.View === elementTypeOf.AtomicView
        ? this.#view
        : (new elementTypeOf.AtomicView(segment.buffer, segment.dataOffset + OFFSET_DATA, length) as AnyView)
    this.#lock = attached.lock ? lockOf(segment, `shared array "${segment.name}"`) : undefined
  }

  /**
   * Attaches to the array called `name` from any process or thread. With
   * `type`, also checks that it holds that type.
   * @throws {NotFoundError} when no array has that name.
   * @throws {IncompatibleError} when `name` is not a shared array (a SharedValue, a queue…) or holds another type.
   * @example
   * ```ts
   * const pixels = SharedArray.open('frame', 'uint8')
   * ```
   */
  static open<T extends ValueType = ValueType>(name: string, type?: T): SharedArray<T> {
    return new SharedArray<T>(ATTACH as never, attach(name, type) as never)
  }

  /**
   * Attaches to the array a `.handle` describes.
   * @throws {TypeError} when `handle` is not a shared array's handle.
   * @example
   * ```ts
   * const pixels = SharedArray.from(workerData.pixels)
   * ```
   */
  static from<T extends ValueType = ValueType>(handle: SharedArrayHandle): SharedArray<T> {
    const h = checkHandle<SharedArrayHandle>(handle, 'shared-array')
    const attached = attach(h.name, h.type)
    if (h.lock === false) return new RawArray<T>(ATTACH as never, attached as never)
    return new SharedArray<T>(ATTACH as never, attached as never)
  }

  /** The element type's name ('int32', …; typecodes are resolved). */
  get type(): TypeName {
    return this.#type.name
  }

  /** Whether this object has a lock (false for RawArray). */
  get hasLock(): boolean {
    return this.#lock !== undefined
  }

  /** True once `close()` ran. */
  get closed(): boolean {
    return this.#closed
  }

  /** A small plain JSON object; `SharedArray.from(handle)` attaches to the same array. */
  get handle(): SharedArrayHandle {
    return {
      kind: 'shared-array',
      name: this.name,
      type: this.#type.name,
      length: this.length,
      lock: this.#lock !== undefined,
    }
  }

  /**
   * A typed array over the shared memory itself (zero copy): Int32Array for
   * int32, Float64Array for float64, BigInt64Array for int64, a Uint8Array of
   * 0/1 for bool… Reads and writes through it are plain memory accesses (use
   * `Atomics` on integer views for atomic ones). A view kept past `close()`
   * never dangles (it is emptied, or keeps the memory mapped until it is
   * garbage-collected), but do not use it.
   * @throws {ClosedError} after `close()`.
   */
  get array(): TypedArrayOf<T> {
    if (this.#closed) throw closedError(this.name)
    return this.#view as TypedArrayOf<T>
  }

  /**
   * Element `index`, read whole.
   * @throws {RangeError} when `index` is not an integer in [0, length).
   * @example
   * ```ts
   * new SharedArray('int64', [1n, 2n]).get(1) // => 2n
   * ```
   */
  get(index: number): ElementOf<T> {
    if (!(index >= 0 && index < this.length && Math.trunc(index) === index)) throw this.#badIndex(index)
    if (this.#closed) throw closedError(this.name)
    return loadElement(this.#type, this.#atomic, index) as ElementOf<T>
  }

  /**
   * Writes element `index` whole, after checking the value's kind and range.
   * @throws {RangeError} when `index` is not an integer in [0, length), or an integer value is out of the type's range.
   * @throws {TypeError} for a value of the wrong kind (1.5 into int32, a number into int64…).
   * @example
   * ```ts
   * const flags = new SharedArray('bool', 2)
   * flags.set(1, true)
   * ```
   */
  set(index: number, value: ElementOf<T>): void {
    if (!(index >= 0 && index < this.length && Math.trunc(index) === index)) throw this.#badIndex(index)
    const stored = checkElement(this.#type, value, 'The value')
    if (this.#closed) throw closedError(this.name)
    storeElement(this.#type, this.#atomic, index, stored)
  }

  #badIndex(index: unknown): Error {
    if (typeof index !== 'number') return invalidArgType(`The index must be a number, received ${typeof index}`)
    return outOfRange(`The index must be an integer in [0, ${this.length}), received ${index}`)
  }

  /**
   * A copy of the elements as a plain array (numbers, bigints or booleans),
   * each read whole. Hold the lock for a snapshot no writer is in the middle of.
   * @throws {ClosedError} after `close()`.
   * @example
   * ```ts
   * new SharedArray('bool', [true, false]).toArray() // => [true, false]
   * ```
   */
  toArray(): ElementOf<T>[] {
    if (this.#closed) throw closedError(this.name)
    const type = this.#type
    // Integer reads of a typed array are whole (tear-free) by the JS memory model.
    if (type.family === 'int') return Array.from(this.#view as Int32Array) as ElementOf<T>[]
    if (type.family === 'bool') return Array.from(this.#view as Uint8Array, (b) => b !== 0) as ElementOf<T>[]
    const out = new Array<ElementOf<T>>(this.length)
    for (let i = 0; i < this.length; i++) out[i] = loadElement(type, this.#atomic, i) as ElementOf<T>
    return out
  }

  /** Iterates the elements (each read whole when reached). */
  *[Symbol.iterator](): IterableIterator<ElementOf<T>> {
    for (let i = 0; i < this.length; i++) yield this.get(i)
  }

  /**
   * The lock shared by every object attached to this array.
   * @throws {ValueError} when this object has no lock (RawArray, `lock: false`).
   * @example
   * ```ts
   * const xs = new SharedArray('int32', 4)
   * const lock = xs.getLock()
   * lock.acquireSync()
   * try {
   *   xs.array.fill(7)
   * } finally {
   *   lock.release()
   * }
   * ```
   */
  getLock(): SharedLock {
    if (this.#lock === undefined)
      throw new ValueError(
        `Cannot get the lock of shared array "${this.name}": it was opened without a lock (lock: false)`,
      )
    if (this.#closed) throw closedError(this.name)
    return this.#lock
  }

  /**
   * Runs `fn` holding the lock and releases it when `fn` returns, throws or
   * (async `fn`) settles. Waits without blocking the event loop; `fn` gets
   * the lock (check `previousOwnerDied`).
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
   * Blocks the thread until it holds the lock, runs `fn`, releases.
   * @throws {ValueError} when this object has no lock, or this thread holds it already.
   * @throws {DOMException} named TimeoutError when `timeout` ms pass before the lock is taken.
   * @example
   * ```ts
   * const xs = new SharedArray('int32', 3)
   * xs.withLockSync(() => xs.array.fill(1))
   * ```
   */
  withLockSync<R>(fn: (lock: SharedLock) => R, options?: SyncWaitOptions): R {
    return this.getLock().withLockSync(fn, options)
  }

  /**
   * Detaches this object (idempotent); later calls throw ClosedError. If it
   * holds the lock, the lock is given up and the next holder sees
   * `previousOwnerDied`. The memory is removed when the last object closes
   * or its process dies.
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

  /** Removes the name now; attached objects keep working until they close. */
  unlink(): void {
    this.#segment.unlink()
  }

  /** For `Process`: how to attach to this array in a child. */
  [TRANSFER](): TransferDescriptor {
    return {
      module: import.meta.url,
      export: this instanceof RawArray ? 'RawArray' : 'SharedArray',
      handle: this.handle,
    }
  }

  [inspect.custom](depth: number, options: InspectOptionsStylized, nested: typeof inspect): string {
    const kind = this instanceof RawArray ? 'RawArray' : 'SharedArray'
    const head = `${kind} { name: ${options.stylize(`'${this.name}'`, 'string')}, type: '${this.#type.name}', length: ${this.length}`
    if (this.#closed) return `${head}, closed: true }`
    if (depth < 0) return `${head} }`
    const shown = this.length > INSPECT_MAX ? this.toArray().slice(0, INSPECT_MAX) : this.toArray()
    const more = this.length > INSPECT_MAX ? ` (and ${this.length - INSPECT_MAX} more)` : ''
    const body = (nested ?? inspect)(shown, {
      ...options,
      depth: 0,
      maxArrayLength: INSPECT_MAX,
      breakLength: Number.POSITIVE_INFINITY,
    })
    return `${head}, values: ${body}${more} }`
  }
}

/**
 * A SharedArray without a lock (Python's `multiprocessing.RawArray`).
 *
 * @example
 * ```ts
 * const samples = new RawArray('float32', 1024)
 * samples.array[0] = 0.5
 * ```
 */
export class RawArray<T extends ValueType = ValueType> extends SharedArray<T> {
  constructor(type: T, lengthOrValues: number | Iterable<ElementOf<T>>, options?: RawOptions)
  constructor(type: T, lengthOrValues: unknown, options?: RawOptions) {
    if ((type as unknown) === ATTACH) {
      ;(lengthOrValues as Attached).lock = false
      super(type, lengthOrValues as never)
    } else {
      if (options !== undefined && (typeof options !== 'object' || options === null))
        throw invalidArgType(`The options must be an object, received ${options === null ? 'null' : typeof options}`)
      super(type, lengthOrValues as never, { name: options?.name as string, lock: false })
    }
  }

  /**
   * Attaches to the array called `name`, without its lock.
   * @throws {NotFoundError} when no array has that name.
   * @throws {IncompatibleError} when `name` is not a shared array or holds another type.
   */
  static override open<T extends ValueType = ValueType>(name: string, type?: T): RawArray<T> {
    return new RawArray<T>(ATTACH as never, attach(name, type) as never)
  }

  /** Attaches to the array a `.handle` describes, without its lock. */
  static override from<T extends ValueType = ValueType>(handle: SharedArrayHandle): RawArray<T> {
    const h = checkHandle<SharedArrayHandle>(handle, 'shared-array')
    return new RawArray<T>(ATTACH as never, attach(h.name, h.type) as never)
  }
}
