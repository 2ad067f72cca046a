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
}
