/**
 * Lock and RLock on Redis: the same classes as @ipc/semaphore's, held by one
 * object at a time across machines.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { checkOptionsObject, checkPersistent, checkWaitOptions, WAIT_OPTIONS } from '@ipc/core/internal'
import { attachSpec, attachWith, checkRedisName, REDIS_OPEN_OPTIONS, takePending } from '@ipc/core/redis'
import {
  REDIS_LOCK_CREATE_OPTIONS,
  REDIS_LOCK_OPTIONS,
  type RedisAcquireOptions,
  type RedisLockOpenOptions,
  type RedisLockOptions,
} from './options.js'
import type { Permit } from './permit.js'
import { handleSpec } from './semaphore.js'
import { type AttachSpec, RedisSemaphoreBase, type RedisSemaphoreHandle } from './semaphore-base.js'

/**
 * The RLocks whose `withLock` scope the current async task runs in. An RLock
 * is entered again only from inside its own scope (as the shared-memory
 * RLock): any other task of this process waits for it like another holder.
 */
const scopes = new AsyncLocalStorage<ReadonlySet<Lock>>()

function newLockSpec(options: RedisLockOptions | undefined): AttachSpec {
  checkOptionsObject(options, REDIS_LOCK_OPTIONS)
  return {
    ...attachSpec('new', options?.name, options),
    value: 1,
    bound: 0,
    persistent: checkPersistent(options?.persistent),
    reclaim: true,
  }
}

function openLockSpec(name: string, options: RedisLockOpenOptions | undefined): AttachSpec {
  checkOptionsObject(options, REDIS_OPEN_OPTIONS)
  const create = options?.create ?? false
  const createOptions = typeof create === 'object' && create !== null ? create : {}
  checkOptionsObject(createOptions, REDIS_LOCK_CREATE_OPTIONS, '"create" option')
  return {
    ...attachSpec(create === false ? 'open' : 'create', checkRedisName(name), options),
    value: 1,
    bound: 0,
    persistent: checkPersistent(createOptions.persistent),
    reclaim: true,
  }
}

/**
 * A lock on a Redis server: held by one object at a time, on any machine
 * (`@ipc/semaphore`'s `Lock` with every call async). The holder is this
 * object; `release()` by another object throws `ValueError`.
 *
 * Guarantees (while the server is up): at most one holder; waiters served
 * FIFO without polling; a holder that dies or is cut off loses the lock when
 * its lease ends; every grant's `token` (from `permit()`) is larger than the
 * ones before (fencing).
 *
 * @example
 * ```ts
 * import { Lock } from '@ipc/semaphore/redis'
 * const lock = await Lock.open('deploy', { create: true })
 * await lock.withLock(async () => {
 *   // one holder on every machine
 * })
 * await lock.close()
 * ```
 */
export class Lock extends RedisSemaphoreBase {
  constructor(options?: RedisLockOptions) {
    const recursive = new.target === RLock
    super(
      recursive ? 'rlock' : 'lock',
      recursive ? 'RLock' : 'Lock',
      import.meta.url,
      takePending<AttachSpec>() ?? newLockSpec(options),
    )
  }

  /**
   * Attaches to the lock called `name`; with `{ create }`, creates it when no object has that name (atomically).
   * @throws {NotFoundError} No object has that name.
   * @throws {IncompatibleError} The name holds another kind.
   * @throws {ConnectionError} The server cannot be reached.
   */
  static open(name: string, options?: RedisLockOpenOptions): Promise<Lock> {
    return attachWith(
      () => openLockSpec(name, options),
      () => new Lock(),
    )
  }

  /** Attaches to the lock a `.handle` describes. */
  static from(handle: RedisSemaphoreHandle): Promise<Lock> {
    return attachWith(
      () => handleSpec(handle, 'lock'),
      () => new Lock(),
    )
  }

  /** True while this object holds the lock (as far as it knows: a lapsed lease is learnt at the next renewal). */
  get owned(): boolean {
    return this.heldTokens.length > 0
  }

  /** True when some object holds the lock now (asks the server). */
  async locked(): Promise<boolean> {
    return (await this.readState()).free === 0
  }

  /**
   * Waits for the lock. Resolves `true` holding it, or `false` when
   * `timeout` passed. A `Lock` this object holds is not re-entered: the call
   * waits (another task may release it); an `RLock` is, from inside its own
   * `withLock` scope (see `RLock`).
   * @throws {ConnectionError} The connection is down or was lost while waiting.
   * @throws {ClosedError} The object was closed.
   */
  async acquire(options?: RedisAcquireOptions): Promise<boolean> {
    return (await this.takeToken(options, false)) !== false
  }

  /**
   * Takes the lock if it is free now (one round trip).
   * @throws {ConnectionError} The server cannot be reached, or did not answer within `lease` ms, at least 5 s (a grant that comes later is given back).
   */
  async tryAcquire(): Promise<boolean> {
    return (await this.takeToken(undefined, true)) !== false
  }

  /**
   * Releases the lock (an RLock: one level of it).
   * @throws {ValueError} This object does not hold it, or its lease lapsed (another holder may have it).
   * @throws {ConnectionError} The server cannot be reached, or did not answer within `lease` ms, at least 5 s (it may still release; else this object gives the lock back once the connection is back: it holds it no more either way).
   */
  async release(): Promise<void> {
    const token = this.heldTokens[0]
    await this.releaseTokens(token === undefined ? [] : [token], 1)
  }

  /**
   * Waits for the lock and returns it as a `Permit` with its fencing `token`.
   * @throws {TimeoutError} Not acquired within `timeout` ms.
   */
  async permit(options?: RedisAcquireOptions): Promise<Permit> {
    const token = await this.takeToken(options, false)
    if (token === false) throw this.timeoutError(options)
    return this.makePermit(token)
  }

  /**
   * Runs `fn` holding the lock and releases it afterwards, also when `fn` throws.
   * @throws {TimeoutError} Not acquired within `timeout` ms.
   */
  async withLock<R>(fn: (lock: this) => R | PromiseLike<R>, options?: RedisAcquireOptions): Promise<Awaited<R>> {
    if (!(await this.acquire(options))) throw this.timeoutError(options)
    try {
      const inside = new Set(scopes.getStore())
      inside.add(this)
      return await scopes.run(inside, () => fn(this))
    } finally {
      await this.release()
    }
  }

  /** Alias of `withLock` (the name the semaphores use). */
  withPermit<R>(fn: (lock: this) => R | PromiseLike<R>, options?: RedisAcquireOptions): Promise<Awaited<R>> {
    return this.withLock(fn, options)
  }
}

/**
 * A re-entrant Redis lock: the object that holds it may acquire again and
 * must release as many times (Python's `RLock`). As the shared-memory RLock,
 * it is entered again from inside its own `withLock` scope; another task of
 * this process that calls `acquire()` waits for it like another holder.
 *
 * The levels are counted in this object, as the shared-memory RLock counts
 * them: the server holds the lock once. A re-entry resolves `true` at once
 * with no server call (also while the server is unreachable), and so does a
 * `release()` above the last level; the last one releases on the server, and
 * `close()` gives the lock back at any level. A re-entry trusts what this
 * object knows, as `owned` does: once a renewal told it its lease lapsed, the
 * call is an ordinary acquire, sent to the server.
 * @example
 * ```ts
 * const lock = new RLock()
 * await lock.withLock(async () => {
 *   await lock.withLock(async () => {}) // entered again: its own scope
 * })
 * // Outside its scope, a second `await lock.acquire()` waits like another holder would.
 * await lock.close()
 * ```
 */
export class RLock extends Lock {
  /** @see Lock.open */
  static override open(name: string, options?: RedisLockOpenOptions): Promise<RLock> {
    return attachWith(
      () => openLockSpec(name, options),
      () => new RLock(),
    )
  }

  /** @see Lock.from */
  static override from(handle: RedisSemaphoreHandle): Promise<RLock> {
    return attachWith(
      () => handleSpec(handle, 'rlock'),
      () => new RLock(),
    )
  }

  /** The levels above the first of the hold with token `#of`: counted here only. */
  #above = 0
  #of = 0

  /**
   * As `Lock.acquire`; from inside this object's own `withLock` scope, while
   * it holds the lock, enters again at once (no server call).
   */
  override async acquire(options?: RedisAcquireOptions): Promise<boolean> {
    return this.#reenter(options) || super.acquire(options)
  }

  /**
   * As `Lock.tryAcquire`; from inside this object's own `withLock` scope,
   * while it holds the lock, enters again at once (no server call).
   */
  override async tryAcquire(): Promise<boolean> {
    return this.#reenter(undefined) || super.tryAcquire()
  }

  /** As `Lock.release`; a level above the last is released in this object only (no server call). */
  override async release(): Promise<void> {
    const above = this.#levelsAbove()
    if (above === 0) return super.release()
    // A closed or faulted object (unlinked, corrupt) throws as a server call would.
    this.assertOpen('release')
    this.#above = above - 1
  }

  /** How many times this object holds it, counted here (0: not held; a lapsed lease is learnt as for `owned`). */
  get level(): number {
    return this.owned ? 1 + this.#levelsAbove() : 0
  }

  /** The levels above the first of the hold this object has now (none: 0). */
  #levelsAbove(): number {
    return this.#of === this.heldTokens[0] ? this.#above : 0
  }

  /**
   * Enters again with no server call when the call comes from inside this
   * object's own `withLock` scope while it holds the lock, and no release of
   * it is in flight (then it is an ordinary acquire). False: not entered.
   */
  #reenter(options: RedisAcquireOptions | undefined): boolean {
    const token = this.heldTokens[0]
    if (token === undefined || this.releasableTokens[0] !== token || scopes.getStore()?.has(this) !== true) return false
    // Checked in a first acquire's order (options, then a closed or faulted object: unlinked, corrupt,
    // then an aborted signal), though none waits.
    const { signal } = checkWaitOptions(options, WAIT_OPTIONS)
    this.assertOpen('acquire')
    if (signal?.aborted) throw signal.reason
    this.#above = this.#levelsAbove() + 1
    this.#of = token
    return true
  }
}
