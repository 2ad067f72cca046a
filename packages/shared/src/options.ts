/**
 * Options of @ipc/shared. Times are milliseconds.
 */

/** Options of `new SharedValue()` and `new SharedArray()`. */
export interface SharedOptions {
  /**
   * Whether the object gets a robust cross-process lock (`getLock()`,
   * `withLock()`). Single reads and writes are whole either way; the lock is
   * for read-modify-write sequences (Python's `with v.get_lock(): v.value += 1`).
   * `RawValue`/`RawArray` are the same with `false`.
   * @default true
   */
  lock?: boolean
  /**
   * The name other processes open it by (`SharedValue.open(name)`). Creating
   * a name that exists throws `ExistsError`.
   * @default a random, unguessable name
   */
  name?: string
}

/** Options of `RawValue`/`RawArray`: no lock. */
export interface RawOptions {
  /**
   * The name other processes open it by.
   * @default a random, unguessable name
   */
  name?: string
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
   * removed with its last process.
   * @default false
   */
  persistent?: boolean
}

/** Options of `SharedMemory.open(name, options)`. */
export interface SharedMemoryOpenOptions {
  /**
   * Create the block when no object has this name, with these options
   * (`size` required; `name` aside). Atomic: of processes racing on one name
   * exactly one creates it and all attach to that one. A block that exists
   * keeps its own size.
   * @default undefined (attach only; `NotFoundError` when the name does not exist)
   */
  create?: false | Omit<SharedMemoryOptions, 'name'>
}
