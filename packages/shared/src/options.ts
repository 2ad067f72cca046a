/**
 * Options of @ipc/shared. Times are milliseconds.
 */
import type { Lock, RLock } from '@ipc/semaphore'

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
}
