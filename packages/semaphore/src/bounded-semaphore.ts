/**
 * BoundedSemaphore: Python's multiprocessing.BoundedSemaphore.
 */
import { checkHandle, type Handle } from '@ipc/core/internal'
import type { SemaphoreOptions } from './options.js'
import { Semaphore } from './semaphore.js'
import { attach, counterOf, type Flavor } from './semaphore-base.js'

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
   * Attaches to the bounded semaphore called `name`.
   * @throws {NotFoundError} No bounded semaphore has that name.
   * @throws {IncompatibleError} It is not a BoundedSemaphore.
   * @example
   * ```ts
   * const pool = BoundedSemaphore.open('pool')
   * ```
   */
  static override open(name: string): BoundedSemaphore {
    return attach(BOUNDED, name, () => new BoundedSemaphore())
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
    return BoundedSemaphore.open(checkHandle<BoundedSemaphoreHandle>(handle, 'bounded-semaphore').name)
  }

  /** The initial value, which `release` never lets the value exceed. */
  get initialValue(): number {
    return counterOf(this).bound
  }

  protected override inspectFields(): Record<string, unknown> {
    return { value: this.value, initialValue: this.initialValue }
  }
}
