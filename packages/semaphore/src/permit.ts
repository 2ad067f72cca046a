/**
 * Permit: one acquired permit as a disposable value, for `using` and
 * `await using` (tokio's SemaphorePermit, Deno's disposable permits).
 */

/**
 * One permit of a Semaphore (or a held Lock), returned by `permit()`.
 *
 * Guarantees:
 * - The permit is given back exactly once: by `release()`, `[Symbol.dispose]`
 *   or `[Symbol.asyncDispose]`, whichever runs first; later calls do nothing.
 * - If the semaphore object was closed first, its permits were given back by
 *   `close()`, and releasing the permit does nothing.
 *
 * @example
 * ```ts
 * const sem = new Semaphore(2)
 * {
 *   await using permit = await sem.permit()
 *   // at most 2 holders here
 * } // released here
 * sem.close()
 * ```
 */
export class Permit implements Disposable, AsyncDisposable {
  #release: (() => void) | undefined

  /** @internal Permits come from `permit()`. */
  constructor(release: () => void) {
    this.#release = release
  }

  /** True once the permit was given back. */
  get released(): boolean {
    return this.#release === undefined
  }

  /**
   * Gives the permit back. Idempotent.
   * @throws {ValueError} From a BoundedSemaphore whose value is already at its
   * initial value (other code released more than it acquired).
   */
  release(): void {
    const release = this.#release
    if (release === undefined) return
    this.#release = undefined
    release()
  }

  /** Alias of `release()`, for `using`. */
  [Symbol.dispose](): void {
    this.release()
  }

  /** Alias of `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    try {
      this.release()
      return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
  }
}
