/**
 * Lock and RLock: Python's multiprocessing.Lock and RLock (segment kinds
 * 'lock' and 'rlock'; the layout and everything but re-entrance are in
 * lock-base.ts).
 */
import type { Handle } from '@ipc/core/internal'
import { LOCK_VERSION, LockBase, lockKind } from './lock-base.js'

const LOCK = lockKind({ kind: 'lock', version: LOCK_VERSION, label: 'lock' }, 'Lock', import.meta.url, false)
const RLOCK = lockKind({ kind: 'rlock', version: LOCK_VERSION, label: 'rlock' }, 'RLock', import.meta.url, true)

/** The `.handle` of a Lock. */
export interface LockHandle extends Handle {
  kind: 'lock'
}

/** The `.handle` of an RLock. */
export interface RLockHandle extends Handle {
  kind: 'rlock'
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
  protected static override readonly lockKind = LOCK
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
  protected static override readonly lockKind = RLOCK
}
