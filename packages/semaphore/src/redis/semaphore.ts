/**
 * Semaphore and BoundedSemaphore on Redis: the same classes as
 * @ipc/semaphore's, shared by processes on many machines.
 */
import { checkHandle, checkOptionsObject, checkPersistent, invalidArgType, outOfRange } from '@ipc/core/internal'
import { attachSpec, attachWith, checkRedisName, REDIS_OPEN_OPTIONS, takePending } from '@ipc/core/redis'
import {
  REDIS_SEMAPHORE_CREATE_OPTIONS,
  REDIS_SEMAPHORE_OPTIONS,
  type RedisAcquireOptions,
  type RedisSemaphoreCreateOptions,
  type RedisSemaphoreOpenOptions,
  type RedisSemaphoreOptions,
} from './options.js'
import type { Permit } from './permit.js'
import { type AttachSpec, MAX_VALUE, RedisSemaphoreBase, type RedisSemaphoreHandle } from './semaphore-base.js'

function checkValue(value: unknown, bounded: boolean): number {
  if (typeof value !== 'number') throw invalidArgType(`The "value" argument must be a number, received ${typeof value}`)
  if (!Number.isInteger(value) || value < 0 || value > MAX_VALUE)
    throw outOfRange(`The "value" argument must be an integer from 0 to ${MAX_VALUE}, received ${value}`)
  if (bounded && value === 0)
    throw outOfRange('The "value" argument of a BoundedSemaphore must be at least 1, received 0')
  return value
}

function checkReclaim(reclaim: unknown): boolean {
  if (reclaim === undefined) return true
  if (typeof reclaim !== 'boolean')
    throw invalidArgType(`The "reclaim" option must be a boolean, received ${typeof reclaim}`)
  return reclaim
}

/** The attach spec of `new Semaphore(value, options)`. */
function newSpec(value: unknown, options: RedisSemaphoreOptions | undefined, bounded: boolean): AttachSpec {
  checkOptionsObject(options, REDIS_SEMAPHORE_OPTIONS)
  const checked = checkValue(value, bounded)
  return {
    ...attachSpec('new', options?.name, options),
    value: checked,
    bound: bounded ? checked : 0,
    persistent: checkPersistent(options?.persistent),
    reclaim: checkReclaim(options?.reclaim),
  }
}

/** The attach spec of `Semaphore.open(name, options)`. */
function openSpec(name: string, options: RedisSemaphoreOpenOptions | undefined, bounded: boolean): AttachSpec {
  checkOptionsObject(options, REDIS_OPEN_OPTIONS)
  const create = options?.create ?? false
  const createOptions: RedisSemaphoreCreateOptions = typeof create === 'object' && create !== null ? create : {}
  checkOptionsObject(createOptions, REDIS_SEMAPHORE_CREATE_OPTIONS, '"create" option')
  const value = checkValue(createOptions.value ?? 1, bounded)
  return {
    ...attachSpec(create === false ? 'open' : 'create', checkRedisName(name), options),
    value,
    bound: bounded ? value : 0,
    persistent: checkPersistent(createOptions.persistent),
    reclaim: checkReclaim(createOptions.reclaim),
  }
}

/** The attach spec of `X.from(handle)`. */
export function handleSpec(handle: unknown, kind: string): AttachSpec {
  const checked = checkHandle<RedisSemaphoreHandle>(handle, kind)
  return {
    ...attachSpec('open', checkRedisName(checked.name), checked),
    value: 1,
    bound: 0,
    persistent: false,
    reclaim: true,
    awaitCreator: checked.creating === true,
  }
}

/**
 * A counting semaphore on a Redis server, shared by processes on any number
 * of machines: `@ipc/semaphore`'s `Semaphore` with every call async.
 *
 * Guarantees (while the server is up):
 * - Never more holders than permits: a permit is a lease on the server.
 * - A holder that dies or is cut off loses its permits when its lease ends
 *   (`lease`, by the server's clock); this object renews its leases every
 *   `lease / 3` ms while its process runs.
 * - Waiters are served in the order they queued (FIFO), and sleep until
 *   woken (pub/sub), never polling.
 * - Every grant has a `token` larger than all before it (fencing; see `permit()`).
 * - A lost connection rejects pending calls with `ConnectionError`; the
 *   client reconnects by itself and later calls work again.
 *
 * @throws {RangeError} `value` is not an integer from 0 to 8388607, or `lease` is out of range.
 * @example
 * ```ts
 * import { Semaphore } from '@ipc/semaphore/redis'
 * const sem = new Semaphore(2, { name: 'jobs', url: 'redis://127.0.0.1:6379' })
 * if (await sem.acquire({ timeout: 1000 })) {
 *   try {
 *     // at most 2 holders on every machine
 *   } finally {
 *     await sem.release()
 *   }
 * }
 * await sem.close()
 * ```
 */
export class Semaphore extends RedisSemaphoreBase {
  constructor(value = 1, options?: RedisSemaphoreOptions) {
    const bounded = new.target === BoundedSemaphore
    const spec = takePending<AttachSpec>() ?? newSpec(value, options, bounded)
    super(
      bounded ? 'bounded-semaphore' : 'semaphore',
      bounded ? 'BoundedSemaphore' : 'Semaphore',
      import.meta.url,
      spec,
    )
  }

  /**
   * Attaches to the semaphore called `name` on the server; with `{ create }`,
   * creates it when no object has that name (atomically).
   * @throws {NotFoundError} No object has that name (and `create` is not given).
   * @throws {IncompatibleError} The name holds another kind (a Lock, a BoundedSemaphore…).
   * @throws {ConnectionError} The server cannot be reached.
   * @example
   * ```ts
   * const sem = await Semaphore.open('jobs', { create: { value: 4 } })
   * ```
   */
  static open(name: string, options?: RedisSemaphoreOpenOptions): Promise<Semaphore> {
    return attachWith(
      () => openSpec(name, options, false),
      () => new Semaphore(),
    )
  }

  /**
   * Attaches to the semaphore a `.handle` describes (from another process or machine).
   * @throws {TypeError} `handle` is not a Redis Semaphore's handle.
   * @throws {NotFoundError} The semaphore no longer exists.
   */
  static from(handle: RedisSemaphoreHandle): Promise<Semaphore> {
    return attachWith(
      () => handleSpec(handle, 'semaphore'),
      () => new Semaphore(),
    )
  }

  /**
   * Waits for a permit. Resolves `true` with it, or `false` when `timeout`
   * passed (also when the server did not answer in time).
   *
   * Aborting rejects with `signal.reason` and takes no permit; if the permit
   * was already granted, the signal is ignored and the call resolves `true`.
   *
   * @throws {ConnectionError} The connection is down or was lost while waiting.
   * @throws {ClosedError} The object was closed (also rejects pending acquires).
   * @throws {NotFoundError} The semaphore was unlinked.
   */
  async acquire(options?: RedisAcquireOptions): Promise<boolean> {
    return (await this.takeToken(options, false)) !== false
  }

  /**
   * Takes a permit if one is free now and nobody queues before this call (one round trip).
   * @throws {ConnectionError} The server cannot be reached, or did not answer within `lease` ms, at least 5 s (a permit granted later is given back).
   */
  async tryAcquire(): Promise<boolean> {
    return (await this.takeToken(undefined, true)) !== false
  }

  /**
   * Gives back `n` permits: the ones this object holds first, then new ones
   * (any object may release, as in Python). A permit whose lease lapsed
   * was given back already and is not given twice. Resolves once the
   * server applied it: another process's acquire made after that finds the permits.
   * @throws {ValueError} The value would pass 8388607 (a BoundedSemaphore: its initial value).
   * @throws {ConnectionError} The server cannot be reached, or did not answer within `lease` ms, at least 5 s (it may still release; else this object gives back the permits it named once the connection is back: it holds them no more either way. Do not call `release()` again for them: if the first landed, the permits would be added twice).
   */
  async release(n = 1): Promise<void> {
    if (typeof n !== 'number') throw invalidArgType(`The "n" argument must be a number, received ${typeof n}`)
    if (!Number.isInteger(n) || n < 1 || n > MAX_VALUE)
      throw outOfRange(`The "n" argument must be an integer from 1 to ${MAX_VALUE}, received ${n}`)
    const held = this.releasableTokens
    await this.releaseTokens(held.slice(Math.max(0, held.length - n)), n)
  }

  /** The number of permits free now, on the server (Python's `get_value()`). */
  async getValue(): Promise<number> {
    return (await this.readState()).free
  }

  /**
   * Waits for a permit and returns it as a `Permit` with its fencing `token`,
   * given back once at the end of an `await using` scope (or by `permit.release()`).
   * @throws {TimeoutError} No permit within `timeout` ms.
   * @example
   * ```ts
   * await using permit = await sem.permit({ timeout: 1000 })
   * await storage.write(data, { fencingToken: permit.token })
   * ```
   */
  async permit(options?: RedisAcquireOptions): Promise<Permit> {
    const token = await this.takeToken(options, false)
    if (token === false) throw this.timeoutError(options)
    return this.makePermit(token)
  }

  /**
   * Runs `fn` holding one permit and gives it back afterwards, also when `fn` throws.
   * @throws {TimeoutError} No permit within `timeout` ms.
   */
  async withPermit<R>(fn: (permit: Permit) => R | PromiseLike<R>, options?: RedisAcquireOptions): Promise<Awaited<R>> {
    const permit = await this.permit(options)
    try {
      return await fn(permit)
    } finally {
      await permit.release()
    }
  }
}

/**
 * A Redis `Semaphore` whose `release()` past its initial value throws
 * `ValueError` (Python's `BoundedSemaphore`).
 * @example
 * ```ts
 * const sem = new BoundedSemaphore(2)
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  /** @see Semaphore.open */
  static override open(name: string, options?: RedisSemaphoreOpenOptions): Promise<BoundedSemaphore> {
    return attachWith(
      () => openSpec(name, options, true),
      () => new BoundedSemaphore(),
    )
  }

  /** @see Semaphore.from */
  static override from(handle: RedisSemaphoreHandle): Promise<BoundedSemaphore> {
    return attachWith(
      () => handleSpec(handle, 'bounded-semaphore'),
      () => new BoundedSemaphore(),
    )
  }
}
