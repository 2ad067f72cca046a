/**
 * BoundedSemaphore: Python's multiprocessing.BoundedSemaphore.
 */
import { fromHandle, type Handle, openPrimitive } from '@ipc/core/internal'
import { SEMAPHORE_CREATE_OPTIONS, type SemaphoreOpenOptions, type SemaphoreOptions } from './options.js'
import { createSpec, Semaphore } from './semaphore.js'
import { counterOf, type Flavor, kindOf } from './semaphore-base.js'

const BOUNDED: Flavor = {
  kind: 'bounded-semaphore',
  label: 'bounded semaphore',
  className: 'BoundedSemaphore',
  module: import.meta.url,
}

/** The `.handle` of a BoundedSemaphore. */
export interface BoundedSemaphoreHandle extends Handle {
  kind: 'bounded-semaphore'
}

/**
 * A Semaphore whose value can never exceed its initial value: a `release`
 * that would push it past throws `ValueError` (Python's
 * `multiprocessing.BoundedSemaphore`), which catches releasing more than was
 * acquired.
 *
 * Guarantees: those of Semaphore, and the bound check is atomic with the
 * release (no two releases can both pass it).
 *
 * @throws {RangeError} `value` is not an integer from 1 to 8388607.
 * @throws {ExistsError} `options.name` is taken.
 * @example
 * ```ts
 * const pool = new BoundedSemaphore(2)
 * pool.tryAcquire() // => true
 * pool.release()
 * pool.release() // throws ValueError: its value is already 2
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  protected static override readonly flavor: Flavor = BOUNDED

  constructor(value = 1, options?: SemaphoreOptions) {
    super(value, options)
  }

  /**
   * Attaches to the bounded semaphore called `name`; with `{ create }`,
   * creates it when the name does not exist (atomically, as `Semaphore.open`).
   * @throws {NotFoundError} No bounded semaphore has that name (and `create` is not given).
   * @throws {IncompatibleError} It is not a BoundedSemaphore.
   * @example
   * ```ts
   * const pool = BoundedSemaphore.open('pool', { create: { value: 2 } })
   * ```
   */
  static override open(name: string, options?: SemaphoreOpenOptions): BoundedSemaphore {
    return openPrimitive(
      () => new BoundedSemaphore(),
      kindOf(BOUNDED),
      name,
      options,
      (c) => createSpec(c, true),
      SEMAPHORE_CREATE_OPTIONS,
    )
  }

  /**
   * Attaches to the bounded semaphore a `.handle` describes.
   * @throws {TypeError} `handle` is not a BoundedSemaphore's handle.
   * @example
   * ```ts
   * const pool = BoundedSemaphore.from(workerData.pool)
   * ```
   */
  static override from(handle: BoundedSemaphoreHandle | Handle): BoundedSemaphore {
    return fromHandle(() => new BoundedSemaphore(), kindOf(BOUNDED), handle)
  }

  /** The initial value, which `release` never lets the value exceed. */
  get initialValue(): number {
    return counterOf(this).bound
  }

  protected override inspectFields(): Record<string, unknown> {
    return { value: this.value, initialValue: this.initialValue }
  }
}
