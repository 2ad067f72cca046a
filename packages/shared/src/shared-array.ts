/**
 * SharedArray and RawArray: Python's multiprocessing.Array / RawArray, a
 * fixed-length array of numbers (or bigints, or booleans) in shared memory,
 * with a live typed-array view (zero copy).
 */
import { type InspectOptionsStylized, inspect } from 'node:util'
import { checkOptionsObject, type Handle, invalidArgType, MAX_MAPPED_BYTES, outOfRange } from '@ipc/core/internal'
import {
  type AnyTypedArray,
  checkElement,
  type ElementOf,
  type ElementType,
  loadElement,
  storeElement,
  type TypedArrayOf,
  type TypeName,
  type ValueType,
} from './element-types.js'
import { ARRAY_KIND, OFFSET_ELEMENTS } from './layout.js'
import {
  ARRAY_CREATION_OPTIONS,
  type RawOptions,
  type SharedArrayCreation,
  type SharedArrayOpenOptions,
  type SharedOptions,
} from './options.js'
import {
  creationOptions,
  elementsFit,
  fromSharedHandle,
  openShared,
  type SharedCreation,
  SharedObject,
  sharedKind,
} from './shared-object.js'

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

/** An array's header holds a length whose elements fit the segment. */
const ARRAY = sharedKind(ARRAY_KIND, 'SharedArray', import.meta.url, true, elementsFit)
const RAW_ARRAY = sharedKind(ARRAY_KIND, 'RawArray', import.meta.url, false, elementsFit)

/** Most elements `inspect` shows. */
const INSPECT_MAX = 20

/** Validates `lengthOrValues`: a length, or values that all fit the type (checked before anything is created). */
function initialValues(
  type: ElementType,
  lengthOrValues: unknown,
): { length: number; values: ArrayLike<number | bigint> | undefined } {
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
  // Read into a typed array of the type, which doubles as it fills: at most twice the array's own
  // bytes, and never more values than a segment this Node.js can map holds (an endless or huge
  // iterable gets RangeError, not a heap exhausted by a JS array of it).
  const most = Math.floor((MAX_MAPPED_BYTES - OFFSET_ELEMENTS) / type.bytes)
  const View = type.View as unknown as new (length: number) => AnyTypedArray
  let values = new View(Math.min(most, 64))
  let length = 0
  for (const value of lengthOrValues as Iterable<unknown>) {
    if (length === most)
      throw outOfRange(
        `The "lengthOrValues" iterable must have at most ${most} values of type ${type.name} (what this Node.js can map)`,
      )
    const element = checkElement(type, value, `The value at index ${length}`)
    if (length === values.length) {
      const grown = new View(Math.min(most, 2 * length))
      grown.set(values as never)
      values = grown
    }
    values[length++] = element as never
  }
  return { length, values: values.subarray(0, length) as ArrayLike<number | bigint> }
}

/** Validates the `create` option of `SharedArray.open`: `lengthOrValues` is required (an array has no default length). */
function arrayCreation(create: unknown): SharedCreation {
  if (typeof create !== 'object' || create === null || !('lengthOrValues' in create))
    throw invalidArgType(
      `The "create" option must be an object with "lengthOrValues" (an array has no default length), received ${create === null ? 'null' : typeof create}`,
    )
  const options = create as SharedArrayCreation
  checkOptionsObject(options, ARRAY_CREATION_OPTIONS, '"create" option')
  // sharedSpec checks the rest against the constructor's names: `lengthOrValues` goes to the contents.
  return { options: creationOptions(options), contents: arrayContents(options.lengthOrValues) }
}

/** What a new array's segment holds: `lengthOrValues` elements, validated against the type. */
function arrayContents(lengthOrValues: unknown): SharedCreation['contents'] {
  return (elementTypeOf) => {
    const { length, values } = initialValues(elementTypeOf, lengthOrValues)
    return {
      length,
      dataBytes: Math.ceil((length * elementTypeOf.bytes) / 8) * 8,
      fill(created) {
        if (values === undefined || length === 0) return
        const view = new elementTypeOf.View(created.buffer, created.dataOffset + OFFSET_ELEMENTS, length)
        ;(view as { set(values: ArrayLike<number | bigint>): void }).set(values)
      },
    }
  }
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
 * Elements are read and written with `get(i)`/`set(i, v)`, or through the typed
 * array `arr.array[i]`. Python's `arr[i] = v` on the object itself throws a
 * TypeError (strict code) and never writes a property that only this process
 * would see.
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
export class SharedArray<T extends ValueType = ValueType> extends SharedObject<SharedArrayHandle> {
  /** Not elements: use `get(i)`/`set(i, v)` or `array[i]`. `arr[i] = v` throws a TypeError. */
  readonly [index: number]: never
  /** The number of elements (fixed). */
  readonly length: number
  readonly #type: ElementType
  readonly #view: AnyTypedArray
  readonly #atomic: AnyTypedArray

  /**
   * Creates an array of `type`: `lengthOrValues` is a length (elements start
   * at 0, 0n or false) or the initial values (any iterable).
   */
  constructor(type: T, lengthOrValues: number | Iterable<ElementOf<T>>, options?: SharedOptions)
  constructor(type: T, lengthOrValues: unknown, options?: SharedOptions) {
    super(isRaw(new.target) ? RAW_ARRAY : ARRAY, type, options, arrayContents(lengthOrValues))
    const { segment, type: elementTypeOf, length } = this.attachment
    this.length = length
    this.#type = elementTypeOf
    this.#view = new elementTypeOf.View(segment.buffer, segment.dataOffset + OFFSET_ELEMENTS, length)
    this.#atomic =
      elementTypeOf.View === elementTypeOf.AtomicView
        ? this.#view
        : new elementTypeOf.AtomicView(segment.buffer, segment.dataOffset + OFFSET_ELEMENTS, length)
    // `arr[0] = 99` (the Python habit) must not make a property that only this
    // process sees: with no new properties allowed it throws a TypeError in
    // strict code (every ES module, TypeScript's output). Costs nothing on
    // get/set (measured). Subclasses of users keep their own fields.
    if (isOwnClass(new.target)) Object.preventExtensions(this)
  }

  /**
   * Attaches to the array called `name` from any process or thread. With
   * `type`, also checks that it holds that type.
   * With `{ create: { lengthOrValues, … } }`, creates it (of `type`) when the
   * name does not exist, atomically: of processes racing on one name exactly
   * one creates it and all attach to it.
   * @throws {NotFoundError} when no array has that name (and `create` is not set).
   * @throws {IncompatibleError} when `name` is not a shared array (a SharedValue, a queue…) or holds another type.
   * @throws {TypeError} with `create` but no `type` or no `lengthOrValues`.
   * @example
   * ```ts
   * const pixels = SharedArray.open('frame', 'uint8')
   * const slots = SharedArray.open('slots', 'int32', { create: { lengthOrValues: 8 } })
   * ```
   */
  static open<T extends ValueType = ValueType>(
    name: string,
    type?: T,
    options?: SharedArrayOpenOptions<T>,
  ): SharedArray<T> {
    return openShared(() => newSharedArray<T>(), ARRAY, name, type, options, arrayCreation)
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
    if ((handle as { lock?: unknown } | undefined)?.lock === false)
      return fromSharedHandle(() => newRawArray<T>(), RAW_ARRAY, handle)
    return fromSharedHandle(() => newSharedArray<T>(), ARRAY, handle)
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
    if (this.closed) throw this.closedError()
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
    if (this.closed) throw this.closedError()
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
    if (this.closed) throw this.closedError()
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
    if (this.closed) throw this.closedError()
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

  /** `type`, `length` and `lock` (whether this object uses the lock) join `kind` and `name`. */
  protected override handleFields(): Record<string, unknown> {
    return { type: this.#type.name, length: this.length, lock: this.hasLock }
  }

  /** The first INSPECT_MAX values, on one line, and how many more there are. */
  protected inspectFields(): Record<string, unknown> {
    const shown = this.length > INSPECT_MAX ? this.toArray().slice(0, INSPECT_MAX) : this.toArray()
    const more = this.length > INSPECT_MAX ? ` (and ${this.length - INSPECT_MAX} more)` : ''
    const values = {
      [inspect.custom]: (_depth: number, options: InspectOptionsStylized) =>
        `${inspect(shown, { ...options, depth: 0, maxArrayLength: INSPECT_MAX, compact: true, breakLength: Number.POSITIVE_INFINITY })}${more}`,
    }
    return { type: this.#type.name, length: this.length, values }
  }

  protected override closedFields(): Record<string, unknown> {
    return { type: this.#type.name, length: this.length }
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
    super(type, lengthOrValues as never, options)
  }

  /**
   * Attaches to the array called `name`, without its lock.
   * @throws {NotFoundError} when no array has that name.
   * @throws {IncompatibleError} when `name` is not a shared array or holds another type.
   */
  static override open<T extends ValueType = ValueType>(name: string, type?: T): RawArray<T> {
    return openShared(() => newRawArray<T>(), RAW_ARRAY, name, type)
  }

  /** Attaches to the array a `.handle` describes, without its lock. */
  static override from<T extends ValueType = ValueType>(handle: SharedArrayHandle): RawArray<T> {
    return fromSharedHandle(() => newRawArray<T>(), RAW_ARRAY, handle)
  }
}

// Outside the class bodies: a class that names itself inside its body is
// renamed by esbuild (`_SharedArray`), and `SharedArray.name` would print that.
function newSharedArray<T extends ValueType>(): SharedArray<T> {
  return new SharedArray<T>(undefined as never, 0)
}

function newRawArray<T extends ValueType>(): RawArray<T> {
  return new RawArray<T>(undefined as never, 0)
}

/** Whether the class constructed is RawArray or a subclass of it (no lock). */
function isRaw(target: unknown): boolean {
  return target === RawArray || (target as { prototype?: unknown }).prototype instanceof RawArray
}

/** SharedArray or RawArray itself, not a user's subclass (which may add its own fields). */
function isOwnClass(target: unknown): boolean {
  return target === SharedArray || target === RawArray
}
