/**
 * The lock of a SharedValue or SharedArray: a robust cross-process mutex kept
 * in the object's own segment (RobustLock from @ipc/core).
 */
import { RobustLock, type Segment, type SyncWaitOptions } from '@ipc/core/internal'
import { OFFSET_LOCK } from './layout.js'

export type { SyncWaitOptions }

/** `{ timeout?, signal? }`: the options of a call that waits without blocking. */
export interface LockWaitOptions {
  /**
   * How long to wait, in milliseconds. `0` does not wait.
   * @default undefined (wait forever)
   */
  timeout?: number
  /** Aborting it rejects with `signal.reason` and leaves the lock as it was. */
  signal?: AbortSignal
}

/**
 * A robust lock shared by every process and thread attached to the same
 * SharedValue/SharedArray (`getLock()`).
 *
 * Guarantees:
 * - At most one holder at a time; `release()` happens-before the next
 *   acquire that succeeds, in any process.
 * - Uncontended acquire and release are one atomic instruction each; a
 *   waiter spins briefly, then sleeps on a futex (no polling).
 * - A holder that is killed (even by SIGKILL), whose worker thread ends, or
 *   that closes its object while holding, does not block the others: the next
 *   acquirer takes the lock over (within about 100 ms) and reads
 *   `previousOwnerDied === true` until it releases: the protected data may be
 *   half-updated.
 *
 * The holder is this object in this thread (per thread, as Python's locks).
 * It is not recursive: `acquireSync()` by the holding thread throws
 * `ValueError` (it would deadlock), `tryAcquire()` returns false, and
 * `acquire()` waits for another task of this thread to release.
 *
 * @example
 * ```ts
 * const counter = new SharedValue('int32', 0)
 * const lock = counter.getLock()
 * lock.acquireSync()
 * try {
 *   counter.value += 1
 * } finally {
 *   lock.release()
 * }
 * ```
 */
export interface SharedLock {
  /**
   * Resolves true once this thread holds the lock, false when `timeout` ms
   * pass first (as Python's `acquire(timeout=…)`). Never blocks the event loop.
   * @throws {ClosedError} when the object was closed, also while waiting.
   */
  acquire(options?: LockWaitOptions): Promise<boolean>
  /**
   * Blocks the thread until it holds the lock; false when `timeout` ms pass
   * first. `signal` is checked on entry only.
   * @throws {ValueError} when this thread holds the lock already.
   */
  acquireSync(options?: SyncWaitOptions): boolean
  /** Takes the lock if it is free (or its holder died); never waits. */
  tryAcquire(): boolean
  /**
   * Releases the lock and wakes one waiter, if any sleeps.
   * @throws {ValueError} when this object and thread do not hold it.
   */
  release(): void
  /**
   * Runs `fn` holding the lock, released when `fn` returns, throws or settles.
   * @throws {DOMException} named TimeoutError when `timeout` ms pass before the lock is taken.
   */
  withLock<R>(fn: (lock: SharedLock) => R | PromiseLike<R>, options?: LockWaitOptions): Promise<R>
  /**
   * Blocks until the lock is held, then runs `fn`; an `fn` that returns a
   * promise keeps the lock until it settles.
   * @throws {DOMException} named TimeoutError when `timeout` ms pass before the lock is taken.
   */
  withLockSync<R>(fn: (lock: SharedLock) => R, options?: SyncWaitOptions): R
  /** True while this object, in this thread, holds the lock. */
  readonly held: boolean
  /** True while anyone holds the lock (a snapshot). */
  readonly locked: boolean
  /**
   * True while this holder took the lock over from a holder that died (or
   * closed, or whose thread ended) without releasing: check or repair the data.
   */
  readonly previousOwnerDied: boolean
}

/** The lock of a value or array segment. */
export function lockOf(segment: Segment, label: string): RobustLock {
  return new RobustLock(segment, segment.dataOffset + OFFSET_LOCK, { label: `the lock of ${label}` })
}
