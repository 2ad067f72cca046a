/**
 * Semaphore: Python's multiprocessing.Semaphore, shared by processes and threads.
 */
import {
  checkOptionsObject,
  checkPersistent,
  fromHandle,
  type Handle,
  invalidArgType,
  type OptionNames,
  openPrimitive,
  outOfRange,
} from '@ipc/core/internal'
import { MAX_VALUE } from './layout.js'
import {
  SEMAPHORE_CREATE_OPTIONS,
  SEMAPHORE_OPTIONS,
  type SemaphoreCreateOptions,
  type SemaphoreOpenOptions,
  type SemaphoreOptions,
} from './options.js'
import { type CreateSpec, checkValue, type Flavor, kindOf, SemaphoreBase } from './semaphore-base.js'

const SEMAPHORE: Flavor = { kind: 'semaphore', label: 'semaphore', className: 'Semaphore', module: import.meta.url }

/** The `.handle` of a Semaphore. */
export interface SemaphoreHandle extends Handle {
  kind: 'semaphore'
}

/** Validates the `n` of `release(n)`. */
function checkReleaseCount(n: unknown): number {
  if (typeof n !== 'number') throw invalidArgType(`The "n" argument must be a number, received ${typeof n}`)
  if (!Number.isInteger(n) || n < 1 || n > MAX_VALUE)
    throw outOfRange(`The "n" argument must be an integer from 1 to ${MAX_VALUE}, received ${n}`)
  return n
}

/** Validates the options of a Semaphore or BoundedSemaphore and builds the creation spec. */
function semaphoreSpec<O extends SemaphoreOptions>(
  value: unknown,
  options: O | undefined,
  names: OptionNames<O>,
  bounded: boolean,
): CreateSpec {
  const checked = checkValue(value)
  checkOptionsObject(options, names)
  const reclaim = options?.reclaim ?? true
  if (typeof reclaim !== 'boolean')
    throw invalidArgType(`The "reclaim" option must be a boolean, received ${typeof reclaim}`)
  if (bounded && checked === 0)
    throw outOfRange('The "value" argument of a BoundedSemaphore must be at least 1, received 0')
  const persistent = checkPersistent(options?.persistent)
  return { value: checked, bound: bounded ? checked : 0, reclaim, name: options?.name, persistent }
}

/** The creation spec of `open(name, { create })`: `value` (default 1) travels in the options. */
export function createSpec(
  create: SemaphoreCreateOptions & { name: string },
  bounded: boolean,
): CreateSpec & { persistent: boolean } {
  const spec = semaphoreSpec(create.value ?? 1, create, SEMAPHORE_CREATE_OPTIONS, bounded)
  return { ...spec, persistent: spec.persistent ?? false }
}

/**
 * A counting semaphore that any number of processes and threads share:
 * Python's `multiprocessing.Semaphore`. `value` permits; `acquire` takes one,
 * waiting while none is free; `release` gives permits back (any object may
 * release, as in Python).
 *
 * Guarantees:
 * - Never more permits out than the value allows, across every process and thread.
 * - Uncontended `acquire`/`release` make no system call.
 * - No waiter starves: a waiter that has waited 2 ms switches the semaphore to
 *   handoff mode, where free permits go to waiters oldest first.
 * - The permits an object holds come back when its process dies, even by
 *   SIGKILL (unless `reclaim: false`); waiters see them within about 100 ms.
 *
 * @throws {RangeError} `value` is not an integer from 0 to 8388607.
 * @throws {ExistsError} `options.name` is taken.
 * @example
 * ```ts
 * const sem = new Semaphore(2)
 * await sem.acquire()
 * sem.value // => 1
 * sem.release()
 * sem.close()
 * ```
 */
export class Semaphore extends SemaphoreBase {
  /** Which kind of segment the class creates and opens (BoundedSemaphore overrides it). */
  protected static readonly flavor: Flavor = SEMAPHORE

  constructor(value = 1, options?: SemaphoreOptions) {
    const flavor = (new.target as typeof Semaphore).flavor
    super(flavor, () => semaphoreSpec(value, options, SEMAPHORE_OPTIONS, flavor.kind === 'bounded-semaphore'))
  }

  /**
   * Attaches to the semaphore called `name`, created in this or any process.
   * With `{ create }`, creates it when no object has that name, from the
   * options in `create` (`true`: value 1), atomically: of processes racing on
   * one name exactly one creates it (its `created` is true) and all share it.
   * @throws {NotFoundError} No semaphore has that name (and `create` is not given).
   * @throws {IncompatibleError} It is not a Semaphore (a Lock, a queue…) or has another layout version.
   * @throws {RangeError} An option in `create` is out of range (nothing is created).
   * @example
   * ```ts
   * const sem = Semaphore.open('jobs', { create: { value: 4 } })
   * ```
   */
  static open(name: string, options?: SemaphoreOpenOptions): Semaphore {
    return openPrimitive(
      () => new Semaphore(),
      kindOf(SEMAPHORE),
      name,
      options,
      (c) => createSpec(c, false),
      SEMAPHORE_CREATE_OPTIONS,
    )
  }

  /**
   * Attaches to the semaphore a `.handle` describes (sent by `postMessage`,
   * `process.send`, `workerData`…).
   * @throws {TypeError} `handle` is not a Semaphore's handle.
   * @throws {NotFoundError} The semaphore no longer exists.
   * @example
   * ```ts
   * const sem = Semaphore.from(workerData.sem)
   * ```
   */
  static from(handle: SemaphoreHandle | Handle): Semaphore {
    return fromHandle(() => new Semaphore(), kindOf(SEMAPHORE), handle)
  }

  /**
   * The number of permits free now (Python's `get_value()`). At 0 it first
   * looks for holders that died (at most every 50 ms per object), so their
   * permits count as free.
   * @throws {ClosedError} The object was closed.
   * @throws {CorruptError} That look found the shared memory corrupt.
   */
  get value(): number {
    return this.permitsFree()
  }

  /**
   * Gives back `n` permits and wakes up to `n` waiters. Any object may
   * release, also one that never acquired (as in Python).
   *
   * Guarantee: the release happens-before the acquire that takes the permit.
   *
   * @throws {RangeError} `n` is not an integer from 1 to 8388607.
   * @throws {ValueError} The value would pass 8388607 (or, for a
   * BoundedSemaphore, its initial value); nothing is released.
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const sem = new Semaphore(0)
   * sem.release(2)
   * sem.value // => 2
   * sem.close()
   * ```
   */
  release(n = 1): void {
    this.releasePermits(n === 1 ? 1 : checkReleaseCount(n))
  }

  protected inspectFields(): Record<string, unknown> {
    return { value: this.value }
  }
}
