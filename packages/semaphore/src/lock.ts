/**
 * Lock: Python's multiprocessing.Lock (segment kind 'lock'; the layout and
 * everything Lock shares with RLock are in lock-base.ts).
 */
import { fromHandle, type Handle, openPrimitive } from '@ipc/core/internal'
import { LOCK_VERSION, LockBase, lockKind, lockSpec } from './lock-base.js'
import type { LockOpenOptions, LockOptions } from './options.js'

const LOCK = lockKind({ kind: 'lock', version: LOCK_VERSION, label: 'lock' }, 'Lock', import.meta.url)

/** The `.handle` of a Lock. */
export interface LockHandle extends Handle {
  kind: 'lock'
}

/**
 * A mutual-exclusion lock shared by processes and threads: Python's
 * `multiprocessing.Lock`. Not re-entrant: `acquireSync` by the object and
 * thread that hold it throws `ValueError` at once (it could never succeed);
 * an async `acquire` waits, since another task may release it.
 *
 * Guarantees:
 * - At most one holder (one object in one thread) at a time, across every
 *   process and thread; `release()` happens-before the next acquire.
 * - Only the holder may release it (stricter than Python): another object,
 *   thread or process gets `ValueError`.
 * - A holder that dies (even by SIGKILL), whose worker thread ends, or that
 *   closes while holding, never blocks the others: the next acquirer takes
 *   the lock over within about 100 ms and sees `previousOwnerDied === true`.
 * - Not FIFO, as Python's Lock is not: use a Semaphore for handoff fairness.
 *
 * @throws {ExistsError} `options.name` is taken.
 * @example
 * ```ts
 * const lock = new Lock()
 * await lock.withLock(() => {
 *   // one holder at a time
 * })
 * lock.close()
 * ```
 */
export class Lock extends LockBase<LockHandle> {
  constructor(options?: LockOptions) {
    super(LOCK, false, options)
  }

  /**
   * Attaches to the lock called `name`; with `create`, creates it when the
   * name does not exist (atomically: of racing processes exactly one creates
   * it and all attach to it), with the options in `create` (`true`: the defaults).
   * @throws {NotFoundError} No lock has that name (and `create` is not set).
   * @throws {IncompatibleError} It is not a Lock (an RLock, a Semaphore…).
   * @example
   * ```ts
   * const lock = Lock.open('db', { create: true })
   * ```
   */
  static open(name: string, options?: LockOpenOptions): Lock {
    return openPrimitive(newLock, LOCK, name, options, lockSpec)
  }

  /**
   * Attaches to the lock a `.handle` describes.
   * @throws {TypeError} `handle` is not a Lock's handle.
   * @example
   * ```ts
   * const lock = Lock.from(workerData.lock)
   * ```
   */
  static from(handle: LockHandle | Handle): Lock {
    return fromHandle(newLock, LOCK, handle)
  }
}

// Outside the class body: a class that names itself inside its body is renamed
// by esbuild (`_Lock`), and `Lock.name` would print that.
function newLock(): Lock {
  return new Lock()
}
