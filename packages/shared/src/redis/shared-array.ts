/**
 * SharedArray on Redis: @ipc/shared's SharedArray (Python's
 * multiprocessing.Array) kept on a Redis server as a hash of its elements,
 * shared by processes on any number of machines. Every element read and
 * write is a round trip, so `get(i)`, `set(i, v)` and `toArray()` are async
 * and there is no `.array` view.
 */

import { CorruptError } from '@ipc/core'
import { checkOptionsObject, invalidArgType, outOfRange } from '@ipc/core/internal'
import { attachWith, takePending } from '@ipc/core/redis'
import { checkElement, type ElementOf, type ValueType } from '../element-types.js'
import { decodeElement, encodeElement } from './encoding.js'
import { MAX_REDIS_ARRAY_LENGTH } from './library.js'
import {
  REDIS_ARRAY_CREATION_OPTIONS,
  type RedisSharedArrayCreation,
  type RedisSharedArrayOpenOptions,
  type RedisSharedOptions,
} from './options.js'
import {
  type AttachSpec,
  checkIndex,
  createSpec,
  handleSpec,
  openOrCreateSpec,
  type RedisSharedHandle,
  RedisSharedObject,
  type SharedKind,
} from './shared-object.js'

/** The plain JSON handle of a Redis SharedArray: pass it anywhere, then `SharedArray.from(handle)`. */
export interface RedisSharedArrayHandle extends RedisSharedHandle {
  kind: 'shared-array'
  /** The number of elements. */
  length: number
}

/** SharedArray's kind: a length (zeros) or values, each checked against the type before anything is sent. */
const ARRAY: SharedKind = {
  kind: 'shared-array',
  className: 'SharedArray',
  module: import.meta.url,
  creation(create) {
    if (create === undefined) return undefined
    if (typeof create !== 'object' || create === null || !('lengthOrValues' in create))
      throw invalidArgType(
        `The "create" option must be an object with "lengthOrValues" (an array has no default length), received ${create === null ? 'null' : typeof create}`,
      )
    const creation = create as RedisSharedArrayCreation
    checkOptionsObject(creation, REDIS_ARRAY_CREATION_OPTIONS, '"create" option')
    return { lock: creation.lock, persistent: creation.persistent, contents: creation.lengthOrValues }
  },
  contents: (lengthOrValues) => (type) => {
    if (typeof lengthOrValues === 'number') {
      if (!Number.isSafeInteger(lengthOrValues) || lengthOrValues < 0 || lengthOrValues > MAX_REDIS_ARRAY_LENGTH)
        throw outOfRange(
          `The length must be an integer from 0 to ${MAX_REDIS_ARRAY_LENGTH} on Redis, received ${lengthOrValues}`,
        )
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
    const values: string[] = []
    for (const value of lengthOrValues as Iterable<unknown>) {
      if (values.length === MAX_REDIS_ARRAY_LENGTH)
        throw outOfRange(`An array on Redis holds at most ${MAX_REDIS_ARRAY_LENGTH} elements, received more`)
      values.push(encodeElement(type, checkElement(type, value, `The value at index ${values.length}`)))
    }
    return { length: values.length, values: values.length === 0 ? undefined : values }
  },
}

/**
 * A fixed-length array on a Redis server that every process that opens it
 * reads and writes, on any machine (`@ipc/shared`'s `SharedArray`, every
 * element access async). Stored as a hash, field `"<index>"` → element as
 * text, so any Redis client reads it (`HGET ipc:{name}:items 3`).
 *
 * Guarantees (while the server is up):
 * - `get(i)` and `set(i, v)` read and write one element whole.
 * - `toArray()` reads every element in one atomic step on the server: a
 *   snapshot no single `set` is half-way through. A group of `set`s is not
 *   atomic: hold the lock (`withLock`) for a multi-element update.
 * - `set` checks the kind and range like SharedValue: nothing is sent on error.
 * - What the server holds is checked on every read: a garbled element is a CorruptError.
 *
 * @throws {RangeError} A negative or non-integer length, or more than 1048576 elements.
 * @example
 * ```ts
 * import { SharedArray } from '@ipc/shared/redis'
 * const scores = new SharedArray('float64', [1.5, 2.5, 3.5])
 * await scores.set(0, 10)
 * await scores.get(0) // => 10
 * await scores.toArray() // => [10, 2.5, 3.5]
 * await scores.close()
 * ```
 */
export class SharedArray<T extends ValueType = ValueType> extends RedisSharedObject {
  /**
   * Creates an array of `type` on the server: `lengthOrValues` is a length
   * (elements start at 0, 0n or false) or the initial values (any iterable).
   */
  constructor(type: T, lengthOrValues: number | Iterable<ElementOf<T>>, options?: RedisSharedOptions)
  constructor(type: T, lengthOrValues: unknown, options?: RedisSharedOptions) {
    super(ARRAY, takePending<AttachSpec>() ?? createSpec('new', type, options, ARRAY.contents(lengthOrValues)))
  }

  /**
   * Attaches to the array called `name`, on any machine. With `type`, also
   * checks that it holds that type. With `{ create: { lengthOrValues, … } }`,
   * creates it (of `type`) when the name does not exist, atomically.
   * @throws {NotFoundError} No array has that name (and `create` is not set).
   * @throws {IncompatibleError} The name holds another kind or another type.
   * @throws {ConnectionError} The server cannot be reached.
   */
  static open<T extends ValueType = ValueType>(
    name: string,
    type?: T,
    options?: RedisSharedArrayOpenOptions<T>,
  ): Promise<SharedArray<T>> {
    return attachWith(
      () => openOrCreateSpec(ARRAY, name, type, options),
      () => newArray<T>(),
    )
  }

  /** Attaches to the array a `.handle` describes, in any process on any machine. */
  static from<T extends ValueType = ValueType>(handle: RedisSharedArrayHandle): Promise<SharedArray<T>> {
    return attachWith(
      () => handleSpec(handle, ARRAY.kind),
      () => newArray<T>(),
    )
  }

  /** A small plain JSON object; `SharedArray.from(handle)` attaches to the same array in any process, on any machine. */
  override get handle(): RedisSharedArrayHandle {
    return super.handle as RedisSharedArrayHandle
  }

  /** The number of elements (fixed; known once `ready()` resolved when opened by name). */
  get length(): number {
    return this.elementCount
  }

  /**
   * Element `index` (one round trip).
   * @throws {RangeError} `index` is not an integer in [0, length).
   * @throws {CorruptError} The server holds something that is not an element of the type.
   */
  async get(index: number): Promise<ElementOf<T>> {
    await this.ready()
    checkIndex(index, this.length)
    const [text] = await this.request('get', 'read', [index])
    return decodeElement(this.elementType, text, this.where(index)) as ElementOf<T>
  }

  /**
   * Writes element `index` whole, after checking the value's kind and range.
   * @throws {RangeError} `index` is not an integer in [0, length), or an integer value is out of the type's range.
   * @throws {TypeError} A value of the wrong kind.
   */
  async set(index: number, value: ElementOf<T>): Promise<void> {
    await this.ready()
    checkIndex(index, this.length)
    const text = encodeElement(this.elementType, checkElement(this.elementType, value, 'The value'))
    await this.request('set', 'write', [index, text])
  }

  /**
   * A copy of the elements as a plain array (numbers, bigints or booleans),
   * read in one atomic step on the server.
   * @throws {CorruptError} An element on the server is not one of the type.
   */
  async toArray(): Promise<ElementOf<T>[]> {
    await this.ready()
    const texts = await this.request('all', 'read', [])
    if (texts.length !== this.length)
      throw new CorruptError(
        `Cannot read shared array "${this.name}": the server sent ${texts.length} elements, not ${this.length}`,
      )
    return texts.map((text, index) => decodeElement(this.elementType, text, this.where(index))) as ElementOf<T>[]
  }

  /** Iterates a snapshot of the elements (`for await (const x of arr)`). */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<ElementOf<T>> {
    yield* await this.toArray()
  }

  /** `length` joins `type` and `lock`. */
  protected override handleFields(): Record<string, unknown> {
    return { ...super.handleFields(), length: this.length }
  }
}

// Outside the class body (see shared-value.ts).
function newArray<T extends ValueType>(): SharedArray<T> {
  return new SharedArray<T>(undefined as never, 0)
}
