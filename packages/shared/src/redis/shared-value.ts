/**
 * SharedValue on Redis: @ipc/shared's SharedValue (Python's
 * multiprocessing.Value) kept on a Redis server, shared by processes on any
 * number of machines. Every read and write is a round trip, so `.value`
 * becomes `get()`/`set(v)`; `add`, `sub`, `exchange` and `compareExchange`
 * run atomically on the server.
 */

import { checkOptionsObject, invalidArgType } from '@ipc/core/internal'
import { attachWith, takePending } from '@ipc/core/redis'
import { checkElement, type ElementOf, type IntegerType, type ValueType } from '../element-types.js'
import { decodeElement, encodeElement } from './encoding.js'
import {
  REDIS_VALUE_CREATION_OPTIONS,
  type RedisSharedOptions,
  type RedisSharedValueCreation,
  type RedisSharedValueOpenOptions,
} from './options.js'
import {
  type AttachSpec,
  createSpec,
  handleSpec,
  openOrCreateSpec,
  type RedisSharedHandle,
  RedisSharedObject,
  type SharedKind,
} from './shared-object.js'

/** The plain JSON handle of a Redis SharedValue: pass it anywhere, then `SharedValue.from(handle)`. */
export interface RedisSharedValueHandle extends RedisSharedHandle {
  kind: 'shared-value'
}

/** SharedValue's kind: `initial` checked against the type (undefined: 0, 0n or false on the server). */
const VALUE: SharedKind = {
  kind: 'shared-value',
  className: 'SharedValue',
  module: import.meta.url,
  creation(create) {
    if (create === undefined || create === false) return undefined
    if (create !== true && (typeof create !== 'object' || create === null))
      throw invalidArgType(`The "create" option must be a boolean or an object, received ${typeof create}`)
    const creation: RedisSharedValueCreation = create === true ? {} : create
    checkOptionsObject(creation, REDIS_VALUE_CREATION_OPTIONS, '"create" option')
    return { lock: creation.lock, persistent: creation.persistent, contents: creation.initial }
  },
  contents: (initial) => (type) => ({
    length: 1,
    values: initial === undefined ? undefined : [encodeElement(type, checkElement(type, initial, 'The initial value'))],
  }),
}

/**
 * One number, bigint or boolean on a Redis server, read and written by
 * every process that opens it, on any machine (`@ipc/shared`'s
 * `SharedValue`, every call async).
 *
 * Guarantees (while the server is up):
 * - `get()` and `set(v)` read and write the whole value, 64-bit types included.
 * - `add`, `sub`, `exchange` and `compareExchange` (integer types) are atomic
 *   on the server without the lock: concurrent calls from any number of
 *   processes never lose an update. They wrap around on overflow exactly as
 *   `Atomics` on a typed array of the type does.
 * - A value of the wrong kind throws TypeError and an integer out of the
 *   type's range throws RangeError before anything is sent.
 * - What the server holds is checked against the type on every read: a
 *   garbled value (another client wrote it) is a CorruptError.
 * - `withLock(fn)` holds the value's distributed `RLock`: one holder on every
 *   machine; a holder that dies or is cut off loses it within its lease.
 * - A call the server does not answer within `lease` ms rejects with
 *   ConnectionError (a write may still have taken effect).
 *
 * @throws {TypeError} for an unknown type (the message lists the valid ones) or a wrong initial value.
 * @example
 * ```ts
 * import { SharedValue } from '@ipc/shared/redis'
 * const hits = new SharedValue('int32', 0, { url: 'redis://127.0.0.1:6379' })
 * await hits.add(1) // => 0 (the previous value)
 * await hits.withLock(async () => {
 *   await hits.set((await hits.get()) * 2)
 * })
 * await hits.get() // => 2
 * await hits.close()
 * ```
 */
export class SharedValue<T extends ValueType = ValueType> extends RedisSharedObject {
  /**
   * Creates a value of `type` holding `initial` (default 0, 0n or false) on
   * the server (in the background: the first call, or `ready()`, reports an
   * error such as ExistsError). `type` is a name ('int32', 'float64',
   * 'bool', …) or a Python typecode ('i', 'd', …).
   */
  constructor(type: T, initial?: ElementOf<T>, options?: RedisSharedOptions)
  constructor(type: T, initial?: unknown, options?: RedisSharedOptions) {
    super(VALUE, takePending<AttachSpec>() ?? createSpec('new', type, options, VALUE.contents(initial)))
  }

  /**
   * Attaches to the value called `name`, on any machine. With `type`, also
   * checks that it holds that type. With `{ create }`, creates it (of
   * `type`) when the name does not exist, atomically: of processes racing on
   * one name exactly one creates it and all attach to it.
   * @throws {NotFoundError} No value has that name (and `create` is not set).
   * @throws {IncompatibleError} The name holds another kind or another type.
   * @throws {TypeError} `create` without `type`.
   * @throws {ConnectionError} The server cannot be reached.
   * @example
   * ```ts
   * const total = await SharedValue.open('total', 'float64', { create: { initial: 0 } })
   * ```
   */
  static open<T extends ValueType = ValueType>(
    name: string,
    type?: T,
    options?: RedisSharedValueOpenOptions<T>,
  ): Promise<SharedValue<T>> {
    return attachWith(
      () => openOrCreateSpec(VALUE, name, type, options),
      () => newValue<T>(),
    )
  }

  /**
   * Attaches to the value a `.handle` describes, in any process on any machine.
   * @throws {TypeError} `handle` is not a shared value's handle.
   */
  static from<T extends ValueType = ValueType>(handle: RedisSharedValueHandle): Promise<SharedValue<T>> {
    return attachWith(
      () => handleSpec(handle, VALUE.kind),
      () => newValue<T>(),
    )
  }

  /** A small plain JSON object; `SharedValue.from(handle)` attaches to the same value in any process, on any machine. */
  override get handle(): RedisSharedValueHandle {
    return super.handle as RedisSharedValueHandle
  }

  /**
   * The current value (one round trip).
   * @throws {CorruptError} The server holds something that is not a value of the type.
   * @throws {ClosedError} after `close()`.
   */
  async get(): Promise<ElementOf<T>> {
    const [text] = await this.request('get', 'read', [''])
    return decodeElement(this.elementType, text, this.where()) as ElementOf<T>
  }

  /**
   * Writes `value` whole, after checking its kind and range (float32 is
   * rounded as a Float32Array stores it).
   * @throws {TypeError} A value of the wrong kind (1.5 into int32, a number into int64…).
   * @throws {RangeError} An integer outside the type's range.
   */
  async set(value: ElementOf<T>): Promise<void> {
    await this.ready()
    const text = encodeElement(this.elementType, checkElement(this.elementType, value, 'The value'))
    await this.request('set', 'write', ['', text])
  }

  /**
   * Atomically adds `n` on the server (no lock needed) and returns the
   * previous value. `n` must be an integer in the type's range (a bigint for
   * 64-bit types); the sum wraps around on overflow, as `Atomics.add` does.
   * @throws {TypeError} A non-integer type, or an `n` of the wrong kind.
   * @throws {RangeError} `n` is outside the type's range.
   * @throws {CorruptError} The server holds something that is not a value of the type (nothing is written).
   * @example
   * ```ts
   * const hits = new SharedValue('int32', 2147483647)
   * await hits.add(1) // => 2147483647; the value is now -2147483648
   * ```
   */
  add<U extends IntegerType>(this: SharedValue<U>, n: ElementOf<U>): Promise<ElementOf<U>> {
    return this.#update('add', n) as Promise<ElementOf<U>>
  }

  /**
   * Atomically subtracts `n` on the server and returns the previous value;
   * wraps around like `add` (as `Atomics.sub`).
   * @throws {TypeError} A non-integer type, or an `n` of the wrong kind.
   * @throws {RangeError} `n` is outside the type's range.
   * @example
   * ```ts
   * const left = new SharedValue('uint8', 0)
   * await left.sub(1) // => 0; the value is now 255
   * ```
   */
  sub<U extends IntegerType>(this: SharedValue<U>, n: ElementOf<U>): Promise<ElementOf<U>> {
    return this.#update('sub', n) as Promise<ElementOf<U>>
  }

  /**
   * Atomically stores `value` on the server and returns the previous value.
   * @throws {TypeError} A non-integer type, or a value of the wrong kind.
   * @throws {RangeError} `value` is outside the type's range.
   */
  exchange<U extends IntegerType>(this: SharedValue<U>, value: ElementOf<U>): Promise<ElementOf<U>> {
    return this.#update('exchange', value) as Promise<ElementOf<U>>
  }

  /**
   * Atomically stores `value` if the current value equals `expected`;
   * returns the previous value either way (it equals `expected` on success).
   * Of processes racing `compareExchange(0, id)` on any machines, exactly one
   * sees 0 and stores its id.
   * @throws {TypeError} A non-integer type, or arguments of the wrong kind.
   * @throws {RangeError} An argument is outside the type's range.
   * @example
   * ```ts
   * const owner = await SharedValue.open('owner', 'int32', { create: true })
   * const won = (await owner.compareExchange(0, process.pid)) === 0
   * ```
   */
  compareExchange<U extends IntegerType>(
    this: SharedValue<U>,
    expected: ElementOf<U>,
    value: ElementOf<U>,
  ): Promise<ElementOf<U>> {
    return this.#update('compare-exchange', expected, value) as Promise<ElementOf<U>>
  }

  async #update(op: string, operand: unknown, value?: unknown): Promise<number | bigint> {
    await this.ready()
    const type = this.elementType
    if (type.family !== 'int' && type.family !== 'bigint')
      throw invalidArgType(
        `Cannot ${op === 'compare-exchange' ? 'compareExchange' : op} shared value "${this.name}": it holds ${type.name}, not an integer type`,
      )
    const args = [
      '',
      op,
      encodeElement(
        type,
        checkElement(
          type,
          operand,
          op === 'compare-exchange' ? 'The expected value' : op === 'exchange' ? 'The value' : 'The operand',
        ),
      ),
    ]
    if (value !== undefined || op === 'compare-exchange')
      args.push(encodeElement(type, checkElement(type, value, 'The value')))
    const [previous] = await this.request('update', 'update', args)
    return decodeElement(type, previous, this.where()) as number | bigint
  }
}

// Outside the class body: a class that names itself inside its body is
// renamed by esbuild (`_SharedValue`), and `SharedValue.name` would print that.
function newValue<T extends ValueType>(): SharedValue<T> {
  return new SharedValue<T>(undefined as never)
}
