/**
 * RLock: Python's multiprocessing.RLock, the re-entrant twin of Lock
 * (segment kind 'rlock'; the layout and what it shares with Lock are in
 * lock-base.ts).
 */
import { fromHandle, type Handle, openPrimitive } from '@ipc/core/internal'
import { LOCK_VERSION, LockBase, lockKind, lockSpec } from './lock-base.js'
import type { LockOpenOptions, LockOptions } from './options.js'

const RLOCK = lockKind({ kind: 'rlock', version: LOCK_VERSION, label: 'rlock' }, 'RLock', import.meta.url)

/** The `.handle` of an RLock. */
export interface RLockHandle extends Handle {
  kind: 'rlock'
}

/**
 * A re-entrant lock shared by processes and threads: Python's
 * `multiprocessing.RLock`. Its holder may acquire it again and must release
 * it as many times; the last release frees it. The holder is the object in
 * its thread for the blocking calls (`acquireSync`, `tryAcquire`,
 * `withLockSync` enter again at once, as in Python), and the async call chain
 * inside its `withLock` for the async ones: another task of the same thread
 * that calls `acquire()` or `withLock()` waits, so concurrent tasks are kept
 * apart. It is the lock behind `SharedValue.getLock()` by default.
 *
 * Guarantees: those of `Lock` (one holder at a time, only the holder
 * releases, a dead or closed holder is taken over with `previousOwnerDied`,
 * not FIFO), with re-entrance instead of `ValueError`.
 *
 * @throws {ExistsError} `options.name` is taken.
 * @example
 * ```ts
 * const lock = new RLock()
 * lock.acquireSync()
 * lock.acquireSync() // => true: the holder enters again
 * lock.release()
 * lock.locked // => true: released once of twice
 * lock.release()
 * lock.close()
 * ```
 */
export class RLock extends LockBase<RLockHandle> {
  constructor(options?: LockOptions) {
    super(RLOCK, true, options)
  }

  /**
   * Attaches to the RLock called `name`; with `create`, creates it when the
   * name does not exist (atomically), with the options in `create` (`true`: the defaults).
   * @throws {NotFoundError} No RLock has that name (and `create` is not set).
   * @throws {IncompatibleError} It is not an RLock (a Lock, a Semaphore…).
   * @example
   * ```ts
   * const lock = RLock.open('config', { create: true })
   * ```
   */
  static open(name: string, options?: LockOpenOptions): RLock {
    return openPrimitive(newRLock, RLOCK, name, options, lockSpec)
  }

  /**
   * Attaches to the RLock a `.handle` describes.
   * @throws {TypeError} `handle` is not an RLock's handle.
   * @example
   * ```ts
   * const lock = RLock.from(workerData.lock)
   * ```
   */
  static from(handle: RLockHandle | Handle): RLock {
    return fromHandle(newRLock, RLOCK, handle)
  }
}

// Outside the class body, as Lock's (esbuild would rename a self-naming class).
function newRLock(): RLock {
  return new RLock()
}
