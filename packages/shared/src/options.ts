/**
 * Options of @ipc/shared. Times are milliseconds.
 */
import { optionNames } from '@ipc/core/internal'
import type { Lock, RLock } from '@ipc/semaphore'
import type { ElementOf, ValueType } from './element-types.js'

/** Options of `new SharedValue()` and `new SharedArray()`. */
export interface SharedOptions {
  /**
   * The lock of `getLock()` and `withLock()`: `true` makes an `RLock` for
   * this object (as Python's `Value`), which lives and dies with it; a `Lock`
   * or `RLock` of `@ipc/semaphore` puts several values under one lock (this
   * object uses it, and does not close it); `false` gives no lock
   * (`RawValue`/`RawArray` are the same). Single reads and writes are whole
   * either way; the lock is for read-modify-write sequences (Python's
   * `with v.get_lock(): v.value += 1`). Every process that opens the object
   * by name or handle gets the same lock.
   * @default true
   * @example
   * ```ts
   * const lock = new Lock()
   * const a = new SharedValue('int32', 0, { lock })
   * const b = new SharedValue('int32', 0, { lock })
   * a.getLock() === lock // => true
   * ```
   */
  lock?: boolean | Lock | RLock
  /**
   * The name other processes open it by (`SharedValue.open(name)`). Creating
   * a name that exists throws `ExistsError`.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the memory (and the lock made for it with `lock: true`) after the
   * last process detaches or dies, until `unlink()` (Python's
   * `SharedMemory(track=False)`). A lock given as `lock` keeps its own lifetime.
   * @default false (removed with its last process)
   */
  persistent?: boolean
}

/** The creation options of `SharedValue.open(name, type, { create })`: the constructor's, and the initial value. */
export interface SharedValueCreation<T extends ValueType = ValueType> extends Omit<SharedOptions, 'name'> {
  /** The value to start with. @default 0, 0n or false */
  initial?: ElementOf<T>
}

/** Options of `SharedValue.open(name, type?, options)`. */
export interface SharedValueOpenOptions<T extends ValueType = ValueType> {
  /**
   * Create the value when no value has that name (`type` is then required),
   * atomically: of processes racing on one name exactly one creates it and
   * all attach to it. `true` creates it with the defaults.
   * @default false (throw NotFoundError when the name does not exist)
   */
  create?: boolean | SharedValueCreation<T>
}

/** The creation options of `SharedArray.open(name, type, { create })`: the constructor's, and the length or values. */
export interface SharedArrayCreation<T extends ValueType = ValueType> extends Omit<SharedOptions, 'name'> {
  /** A length (elements start at 0, 0n or false) or the initial values. Required. */
  lengthOrValues: number | Iterable<ElementOf<T>>
}

/** Options of `SharedArray.open(name, type?, options)`. */
export interface SharedArrayOpenOptions<T extends ValueType = ValueType> {
  /**
   * Create the array when no array has that name (`type` is then required),
   * atomically under races, with these options (`lengthOrValues` required).
   * @default undefined (throw NotFoundError when the name does not exist)
   */
  create?: SharedArrayCreation<T>
}

/** Options of `RawValue`/`RawArray`: no lock. */
export interface RawOptions {
  /**
   * The name other processes open it by.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the memory after the last process detaches or dies, until `unlink()`.
   * @default false (removed with its last process)
   */
  persistent?: boolean
}

/** Options of `SharedMemory.create()`. */
export interface SharedMemoryOptions {
  /** Size of `buf` in bytes: a positive integer. Required. */
  size: number
  /**
   * The name other processes open it by (`SharedMemory.open(name)`).
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the block (and its bytes) after its last process detaches or dies,
   * until `unlink()` (Python's `SharedMemory(track=False)`). By default it is
   * removed with its last process. For a `raw` block: not unlinked when
   * this creator closes it or exits.
   * @default false
   */
  persistent?: boolean
  /**
   * `true` makes a block with no @ipc header whose name is used as is, the
   * way Python's `shared_memory.SharedMemory(name=…)` opens it: `buf` is the
   * whole object. Same user only (mode 0600). Names starting with `ipc-`
   * are refused. No attach table: the creator's `close()` (or normal exit)
   * unlinks it unless `persistent`; a SIGKILLed creator leaves the name.
   * @default false
   * @example SharedMemory.create({ size: 1024, name: 'frames', raw: true }) // Python: SharedMemory(name='frames')
   */
  raw?: boolean
}

/** Options of `SharedMemory.open(name, options)`. */
export interface SharedMemoryOpenOptions {
  /**
   * `true` attaches to a block with no @ipc header by its exact name, such
   * as one Python made with `shared_memory.SharedMemory(create=True, …)`:
   * `buf` is the whole object, `size` its size. Only a regular file of this
   * user with mode 0600 is mapped (else `PermissionError`). Closing never
   * unlinks it; `unlink()` does. Cannot be combined with `create`.
   * @default false
   * @example SharedMemory.open('psm_3f2a', { raw: true })
   */
  raw?: boolean
  /**
   * Create the block when no object has this name, with these options
   * (`size` required; `name` aside). Atomic: of processes racing on one name
   * exactly one creates it and all attach to that one. A block that exists
   * keeps its own size.
   * @default undefined (attach only; `NotFoundError` when the name does not exist)
   */
  create?: false | Omit<SharedMemoryOptions, 'name' | 'raw'>
}

/** The option names of each options type (an unknown name is a TypeError). */
export const SHARED_OPTIONS = optionNames<SharedOptions>({ lock: true, name: true, persistent: true })
export const VALUE_CREATION_OPTIONS = optionNames<SharedValueCreation>({ initial: true, lock: true, persistent: true })
export const ARRAY_CREATION_OPTIONS = optionNames<SharedArrayCreation>({
  lengthOrValues: true,
  lock: true,
  persistent: true,
})
/** `open(name, type, options)` of SharedValue and SharedArray. */
export const SHARED_OPEN_OPTIONS = optionNames<{ create?: unknown }>({ create: true })
export const RAW_OPTIONS = optionNames<RawOptions>({ name: true, persistent: true })
export const MEMORY_OPTIONS = optionNames<SharedMemoryOptions>({ size: true, name: true, persistent: true, raw: true })
/** `open`'s create options with the name `open` adds (`raw` is refused before, with its own message). */
export const MEMORY_CREATE_OPTIONS = optionNames<Omit<SharedMemoryOptions, 'raw'>>({
  size: true,
  name: true,
  persistent: true,
})
export const MEMORY_OPEN_OPTIONS = optionNames<SharedMemoryOpenOptions>({ raw: true, create: true })
