/**
 * Lock: Python's multiprocessing.Lock, with an owner and crash recovery.
 */
import { checkHandle, type Handle, invalidArgType } from '@ipc/core/internal'
import type { AcquireOptions, LockOptions } from './options.js'
import { attach, counterOf, type Flavor, SemaphoreBase } from './semaphore-base.js'

const LOCK: Flavor = { kind: 'lock', label: 'lock', className: 'Lock', module: import.meta.url }

/** The `.handle` of a Lock. */
export interface LockHandle extends Handle {
  kind: 'lock'
}

/**
 * A mutual-exclusion lock shared by processes and threads: Python's
 * `multiprocessing.Lock`. Not reentrant: acquiring it again from the object
 * that holds it waits (as in Python).
 *
 * Guarantees:
 * - At most one holder at a time, across every process and thread.
 * - Only the object that acquired it may release it (stricter than Python):
 *   each object belongs to one thread, so another thread or process gets
 *   `ValueError`.
 * - A holder that dies (even by SIGKILL) releases it; waiters see that within
 *   about 200 ms. Fair as Semaphore (handoff after 2 ms of waiting).
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
export class Lock extends SemaphoreBase {
  constructor(options?: LockOptions) {
    super(LOCK, () => {
      if (options !== undefined && (typeof options !== 'object' || options === null))
        throw invalidArgType(`The options must be an object, received ${options === null ? 'null' : typeof options}`)
      return { value: 1, bound: 1, reclaim: true, name: options?.name }
    })
  }

  /**
   * Attaches to the lock called `name`.
   * @throws {NotFoundError} No lock has that name.
   * @throws {IncompatibleError} It is not a Lock.
   * @example
   * ```ts
   * const lock = Lock.open('db')
   * ```
   */
  static open(name: string): Lock {
    return attach(LOCK, name, () => new Lock())
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
    return Lock.open(checkHandle<LockHandle>(handle, 'lock').name)
  }

  /** True while some object (here or in another process) holds the lock. */
  get locked(): boolean {
    return counterOf(this).value === 0
  }

  /** True while this object holds the lock. */
  get owned(): boolean {
    return counterOf(this).held > 0
  }

  /**
   * Releases the lock, waking one waiter.
   * @throws {ValueError} This object does not hold the lock (it is unlocked,
   * or another object, thread or process holds it).
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const lock = new Lock()
   * lock.acquireSync()
   * lock.release()
   * lock.release() // throws ValueError: it is not locked
   * ```
   */
  release(): void {
    this.releasePermits(1)
  }

  /**
   * Runs `fn` holding the lock and releases it when `fn` returns, throws or
   * settles; the same as `withPermit`.
   * @throws {TimeoutError} Not acquired within `timeout` ms (`fn` does not run).
   * @example
   * ```ts
   * const lock = new Lock()
   * const result = await lock.withLock(async () => 42) // => 42
   * lock.close()
   * ```
   */
  withLock<R>(fn: () => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    return this.withPermit(fn, options)
  }

  protected inspectFields(): Record<string, unknown> {
    return { owner: this.holderPid() ?? null }
  }
}
