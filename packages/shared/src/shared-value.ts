/**
 * SharedValue and RawValue: Python's multiprocessing.Value / RawValue, one
 * number (or bigint, or boolean) in shared memory that every attached process
 * and thread reads and writes in place.
 */
import { checkOptionsObject, type Handle, invalidArgType, type Segment } from '@ipc/core/internal'
import {
  checkElement,
  type ElementOf,
  type ElementType,
  type IntegerType,
  loadElement,
  storeElement,
  type TypeName,
  type ValueType,
} from './element-types.js'
import { OFFSET_ELEMENTS, VALUE_KIND } from './layout.js'
import {
  type RawOptions,
  type SharedOptions,
  type SharedValueCreation,
  type SharedValueOpenOptions,
  VALUE_CREATION_OPTIONS,
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

/** The plain JSON handle of a SharedValue: pass it anywhere, then `SharedValue.from(handle)`. */
export interface SharedValueHandle extends Handle {
  kind: 'shared-value'
  name: string
  /** The element type name. */
  type: TypeName
  /** Whether the object that made the handle uses the lock. */
  lock: boolean
}

/** A value's header holds one element, and the segment has room for it. */
const fitsValue = (length: number, type: ElementType, segment: Segment): boolean =>
  length === 1 && elementsFit(length, type, segment)
const VALUE = sharedKind(VALUE_KIND, 'SharedValue', import.meta.url, true, fitsValue)
const RAW_VALUE = sharedKind(VALUE_KIND, 'RawValue', import.meta.url, false, fitsValue)

type AnyInt = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
type AnyBig = BigInt64Array | BigUint64Array

const OP_ADD = 0
const OP_SUB = 1

/** Validates the `create` option of `SharedValue.open` (`true`: the defaults; `false`: open only). */
function valueCreation(create: unknown): SharedCreation | undefined {
  if (create === false) return undefined
  if (create !== true && (typeof create !== 'object' || create === null))
    throw invalidArgType(`The "create" option must be a boolean or an object, received ${typeof create}`)
  const options: SharedValueCreation = create === true ? {} : create
  checkOptionsObject(options, VALUE_CREATION_OPTIONS, '"create" option')
  // sharedSpec checks the rest against the constructor's names: `initial` goes to the contents.
  return { options: creationOptions(options), contents: valueContents(options.initial) }
}

/** What a new value's segment holds: `initial` (checked against the type), or 0, 0n or false. */
function valueContents(initial: unknown): SharedCreation['contents'] {
  return (elementTypeOf) => {
    const first =
      initial === undefined
        ? elementTypeOf.family === 'bigint'
          ? 0n
          : 0
        : checkElement(elementTypeOf, initial, 'The initial value')
    return {
      length: 1,
      dataBytes: 8,
      fill(created) {
        const atomic = new elementTypeOf.AtomicView(created.buffer, created.dataOffset + OFFSET_ELEMENTS, 1)
        storeElement(elementTypeOf, atomic, 0, first)
      },
    }
  }
}

/**
 * One number, bigint or boolean in shared memory, read and written in place
 * by every process and thread that opens it (Python's `multiprocessing.Value`).
 *
 * Guarantees:
 * - Each read and each write of `.value` is whole: a reader never sees half
 *   of a write, 64-bit types included.
 * - `add`, `sub`, `exchange` and `compareExchange` (integer types) are atomic
 *   read-modify-writes without the lock; they wrap around on overflow of the
 *   result, as C atomics do.
 * - A value written with the wrong kind (1.5 or a bigint into int32, a number
 *   into int64, a bigint into float64) throws TypeError and an integer out of
 *   the type's range throws RangeError: nothing is written, nothing wraps.
 * - The lock (`getLock()`, `withLock()`) is robust: a holder that dies does not
 *   block the others, who learn it through `previousOwnerDied`.
 *
 * @throws {TypeError} for an unknown type (the message lists the valid ones) or a wrong initial value.
 * @throws {ExistsError} when `name` is taken.
 * @example
 * ```ts
 * const counter = new SharedValue('int32', 0)
 * counter.add(1) // => 0 (the previous value)
 * await counter.withLock(() => {
 *   counter.value = counter.value * 2
 * })
 * counter.value // => 2
 * ```
 */
export class SharedValue<T extends ValueType = ValueType> extends SharedObject<SharedValueHandle> {
  readonly #type: ElementType
  /** The view Atomics work on: the element's own type, or its bit pattern for floats. */
  readonly #atomic: AnyInt | AnyBig
  /** The integer view for the fast add/sub path; undefined for other types. */
  readonly #ints: AnyInt | undefined
  readonly #min: number
  readonly #max: number

  /**
   * Creates a value of `type` holding `initial` (default 0, 0n or false).
   * `type` is a name ('int32', 'float64', 'bool', …) or a Python typecode
   * ('i', 'd', …).
   */
  constructor(type: T, initial?: ElementOf<T>, options?: SharedOptions)
  constructor(type: T, initial?: unknown, options?: SharedOptions) {
    super(isRaw(new.target) ? RAW_VALUE : VALUE, type, options, valueContents(initial))
    const { segment, type: elementTypeOf } = this.attachment
    this.#type = elementTypeOf
    this.#atomic = new elementTypeOf.AtomicView(segment.buffer, segment.dataOffset + OFFSET_ELEMENTS, 1) as
      | AnyInt
      | AnyBig
    this.#ints = elementTypeOf.family === 'int' ? (this.#atomic as AnyInt) : undefined
    this.#min = elementTypeOf.family === 'int' ? (elementTypeOf.min as number) : 0
    this.#max = elementTypeOf.family === 'int' ? (elementTypeOf.max as number) : -1
  }

  /**
   * Attaches to the value called `name` from any process or thread. With
   * `type`, also checks that it holds that type. With `{ create }`, creates
   * it (of `type`, with the options in `create`) when the name does not
   * exist, atomically: of processes racing on one name exactly one creates
   * it and all attach to it.
   * @throws {NotFoundError} when no value has that name (and `create` is not set).
   * @throws {IncompatibleError} when `name` is not a shared value (an array, a queue…) or holds another type.
   * @throws {TypeError} with `create` but no `type`.
   * @example
   * ```ts
   * const counter = SharedValue.open('jobs-done', 'int32')
   * const total = SharedValue.open('total', 'float64', { create: { initial: 0, persistent: true } })
   * ```
   */
  static open<T extends ValueType = ValueType>(
    name: string,
    type?: T,
    options?: SharedValueOpenOptions<T>,
  ): SharedValue<T> {
    return openShared(() => newSharedValue<T>(), VALUE, name, type, options, valueCreation)
  }

  /**
   * Attaches to the value a `.handle` describes (sent through `postMessage`,
   * `workerData`, `process.send`…).
   * @throws {TypeError} when `handle` is not a shared value's handle.
   * @example
   * ```ts
   * const counter = SharedValue.from(workerData.counter)
   * ```
   */
  static from<T extends ValueType = ValueType>(handle: SharedValueHandle): SharedValue<T> {
    if ((handle as { lock?: unknown } | undefined)?.lock === false)
      return fromSharedHandle(() => newRawValue<T>(), RAW_VALUE, handle)
    return fromSharedHandle(() => newSharedValue<T>(), VALUE, handle)
  }

  /**
   * The current value, read whole (an atomic load). Setting it writes whole
   * (an atomic store) after checking the kind and range.
   * @throws {TypeError} on set, for a value of the wrong kind (1.5 into int32, a number into int64…).
   * @throws {RangeError} on set, for an integer outside the type's range.
   * @throws {ClosedError} after `close()`.
   */
  get value(): ElementOf<T> {
    if (this.closed) throw this.closedError()
    return loadElement(this.#type, this.#atomic, 0) as ElementOf<T>
  }

  set value(value: ElementOf<T>) {
    if (this.closed) throw this.closedError()
    storeElement(this.#type, this.#atomic, 0, checkElement(this.#type, value, 'The value'))
  }

  /**
   * Atomically adds `n` (no lock needed) and returns the previous value. `n`
   * must be an integer in the type's range (a bigint for 64-bit types); the
   * sum wraps around on overflow, as C atomics do.
   * @throws {TypeError} for a non-integer type, or an `n` of the wrong kind.
   * @throws {RangeError} when `n` is outside the type's range.
   * @example
   * ```ts
   * const hits = new SharedValue('uint32', 0)
   * hits.add(5) // => 0
   * hits.value // => 5
   * ```
   */
  add<U extends IntegerType>(this: SharedValue<U>, n: ElementOf<U>): ElementOf<U> {
    const ints = this.#ints
    if (typeof n === 'number' && n >= this.#min && n <= this.#max && ints !== undefined && !this.closed) {
      if (Math.trunc(n) === n) return Atomics.add(ints, 0, n) as ElementOf<U>
    }
    return this.#readModifyWrite(OP_ADD, n) as ElementOf<U>
  }

  /**
   * Atomically subtracts `n` and returns the previous value; wraps on
   * overflow like `add`.
   * @throws {TypeError} for a non-integer type, or an `n` of the wrong kind.
   * @throws {RangeError} when `n` is outside the type's range.
   * @example
   * ```ts
   * const left = new SharedValue('int32', 10)
   * left.sub(3) // => 10
   * ```
   */
  sub<U extends IntegerType>(this: SharedValue<U>, n: ElementOf<U>): ElementOf<U> {
    const ints = this.#ints
    if (typeof n === 'number' && n >= this.#min && n <= this.#max && ints !== undefined && !this.closed) {
      if (Math.trunc(n) === n) return Atomics.sub(ints, 0, n) as ElementOf<U>
    }
    return this.#readModifyWrite(OP_SUB, n) as ElementOf<U>
  }

  #readModifyWrite(op: number, n: unknown): number | bigint {
    const type = this.#type
    if (type.family !== 'int' && type.family !== 'bigint')
      throw invalidArgType(
        `Cannot ${op === OP_ADD ? 'add to' : 'subtract from'} shared value "${this.name}": it holds ${type.name}, not an integer type`,
      )
    const operand = checkElement(type, n, 'The operand')
    if (this.closed) throw this.closedError()
    if (type.family === 'bigint') {
      const big = this.#atomic as AnyBig
      return op === OP_ADD ? Atomics.add(big, 0, operand as bigint) : Atomics.sub(big, 0, operand as bigint)
    }
    const ints = this.#atomic as AnyInt
    return op === OP_ADD ? Atomics.add(ints, 0, operand as number) : Atomics.sub(ints, 0, operand as number)
  }

  /**
   * Atomically stores `value` and returns the previous value.
   * @throws {TypeError} for a non-integer type, or a value of the wrong kind.
   * @throws {RangeError} when `value` is outside the type's range.
   * @example
   * ```ts
   * const state = new SharedValue('int32', 1)
   * state.exchange(2) // => 1
   * ```
   */
  exchange<U extends IntegerType>(this: SharedValue<U>, value: ElementOf<U>): ElementOf<U> {
    const stored = this.#integerOperand(value, 'exchange', 'The value')
    return Atomics.exchange(this.#atomic as Int32Array, 0, stored as number) as ElementOf<U>
  }

  /**
   * Atomically stores `value` if the current value equals `expected`;
   * returns the previous value either way (it equals `expected` on success).
   * @throws {TypeError} for a non-integer type, or arguments of the wrong kind.
   * @throws {RangeError} when an argument is outside the type's range.
   * @example
   * ```ts
   * const owner = new SharedValue('int32', 0)
   * owner.compareExchange(0, 42) // => 0 (stored)
   * owner.compareExchange(0, 7) // => 42 (not stored)
   * ```
   */
  compareExchange<U extends IntegerType>(
    this: SharedValue<U>,
    expected: ElementOf<U>,
    value: ElementOf<U>,
  ): ElementOf<U> {
    const want = this.#integerOperand(expected, 'compareExchange', 'The expected value')
    const stored = this.#integerOperand(value, 'compareExchange', 'The value')
    return Atomics.compareExchange(this.#atomic as Int32Array, 0, want as number, stored as number) as ElementOf<U>
  }

  #integerOperand(value: unknown, method: string, what: string): number | bigint {
    const type = this.#type
    if (type.family !== 'int' && type.family !== 'bigint')
      throw invalidArgType(`Cannot ${method} shared value "${this.name}": it holds ${type.name}, not an integer type`)
    const checked = checkElement(type, value, what)
    if (this.closed) throw this.closedError()
    return checked
  }

  /** `type` and `lock` (whether this object uses the lock) join `kind` and `name`. */
  protected override handleFields(): Record<string, unknown> {
    return { type: this.#type.name, lock: this.hasLock }
  }

  protected inspectFields(): Record<string, unknown> {
    return { type: this.#type.name, value: this.value, lock: this.hasLock }
  }
}

/**
 * A SharedValue without a lock (Python's `multiprocessing.RawValue`): reads
 * and writes are still whole and `add`/`sub`/… still atomic, but there is no
 * `getLock()`/`withLock()`.
 *
 * @example
 * ```ts
 * const ready = new RawValue('bool', false)
 * ready.value = true
 * ```
 */
export class RawValue<T extends ValueType = ValueType> extends SharedValue<T> {
  constructor(type: T, initial?: ElementOf<T>, options?: RawOptions)
  constructor(type: T, initial?: unknown, options?: RawOptions) {
    super(type, initial as never, options)
  }

  /**
   * Attaches to the value called `name`, without its lock.
   * @throws {NotFoundError} when no value has that name.
   * @throws {IncompatibleError} when `name` is not a shared value or holds another type.
   */
  static override open<T extends ValueType = ValueType>(name: string, type?: T): RawValue<T> {
    return openShared(() => newRawValue<T>(), RAW_VALUE, name, type)
  }

  /** Attaches to the value a `.handle` describes, without its lock. */
  static override from<T extends ValueType = ValueType>(handle: SharedValueHandle): RawValue<T> {
    return fromSharedHandle(() => newRawValue<T>(), RAW_VALUE, handle)
  }
}

// Outside the class bodies: a class that names itself inside its body is
// renamed by esbuild (`_SharedValue`), and `SharedValue.name` would print that.
function newSharedValue<T extends ValueType>(): SharedValue<T> {
  return new SharedValue<T>(undefined as never)
}

function newRawValue<T extends ValueType>(): RawValue<T> {
  return new RawValue<T>(undefined as never)
}

/** Whether the class constructed is RawValue or a subclass of it (no lock). */
function isRaw(target: unknown): boolean {
  return target === RawValue || (target as { prototype?: unknown }).prototype instanceof RawValue
}
