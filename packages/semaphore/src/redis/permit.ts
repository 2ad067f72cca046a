/**
 * Permit (Redis): one granted lease of a Redis semaphore or lock, with its
 * fencing token, for `await using`.
 */

/**
 * One permit of a Redis `Semaphore` (or a held `Lock`), returned by `permit()`.
 *
 * Guarantees:
 * - `token` is larger than the token of every grant of this semaphore before
 *   it (fencing): a resource that remembers the largest token it saw can
 *   refuse a holder whose lease lapsed.
 * - Given back exactly once: by `release()`, `[Symbol.asyncDispose]` or
 *   `[Symbol.dispose]` (which does not wait for the server), whichever runs
 *   first; later calls do nothing.
 * - `signal` aborts when the lease is lost (the holder was cut off from the
 *   server for longer than `lease`): the permit may be someone else's now.
 *
 * @example
 * ```ts
 * const sem = new Semaphore(2, { url: 'redis://127.0.0.1:6379' })
 * {
 *   await using permit = await sem.permit()
 *   await storage.write(data, { fencingToken: permit.token })
 * } // released here
 * await sem.close()
 * ```
 */
export class Permit implements AsyncDisposable, Disposable {
  /** Grows with every grant of this semaphore (fencing token). */
  readonly token: number
  readonly #controller = new AbortController()
  #release: (() => Promise<void>) | undefined

  /** @internal Permits come from `permit()`. */
  constructor(token: number, release: () => Promise<void>) {
    this.token = token
    this.#release = release
  }

  /** Aborts (with a `ConnectionError`) when the lease was lost. */
  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** True once the lease was lost: the server gave the permit to the next waiter. */
  get lost(): boolean {
    return this.#controller.signal.aborted
  }

  /** True once the permit was given back. */
  get released(): boolean {
    return this.#release === undefined
  }

  /** @internal The lease lapsed. */
  lose(reason: Error): void {
    this.#release = undefined
    this.#controller.abort(reason)
  }

  /**
   * Gives the permit back. Idempotent; does nothing after the lease was lost.
   * @throws {ConnectionError} The server cannot be reached or did not answer (the release may still land; else the object gives the permit back once the connection is back).
   */
  release(): Promise<void> {
    const release = this.#release
    if (release === undefined) return Promise.resolve()
    this.#release = undefined
    return release()
  }

  /** Alias of `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release()
  }

  /** Starts `release()` without waiting for it (for `using`); after a failure the object gives the permit back once the connection is back. */
  [Symbol.dispose](): void {
    this.release().catch(() => {})
  }
}
