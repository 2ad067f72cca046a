/**
 * RLock: Python's multiprocessing.RLock, the re-entrant twin of Lock (same
 * segment layout, documented in lock.ts; segment kind 'rlock').
 */
import { checkHandle, type Handle } from '@ipc/core/internal'
import { attachLock, LockBase, type LockFlavor } from './lock.js'
import type { LockOpenOptions, LockOptions } from './options.js'

const RLOCK: LockFlavor = {
  segment: { kind: 'rlock', version: 2, label: 'rlock' },
  className: 'RLock',
  recursive: true,
  module: import.meta.url,
}

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
export class RLock extends LockBase {
  constructor(options?: LockOptions) {
    super(RLOCK, options)
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
    return openRLock(name, options)
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
    return openRLock(checkHandle<RLockHandle>(handle, 'rlock').name, undefined)
  }

  override get handle(): RLockHandle {
    return { kind: 'rlock', name: this.name }
  }
}

// Outside the class body: a class that names itself inside its body is renamed
// by esbuild (`_RLock`), and `RLock.name` would print that.
function openRLock(name: string, options: LockOpenOptions | undefined): RLock {
  return attachLock(RLOCK, name, options, () => new RLock())
}
