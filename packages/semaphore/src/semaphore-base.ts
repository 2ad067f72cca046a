/**
 * SemaphoreBase: what Semaphore and BoundedSemaphore share: their
 * primitive kind (segment layout, attach, reaping), sync and async waiting on
 * the permit counter (permit-counter.ts), permits and giving permits back at
 * close. The shell (handle, open/from, close/dispose, unlink, revival,
 * inspect, exit registration) is @ipc/core's Primitive.
 */
import { ClosedError, IncompatibleError, ValueError } from '@ipc/core'
import {
  type Attachment,
  afterTimeout,
  checkWaitOptions,
  deadlineOf,
  invalidArgType,
  NOT_YET,
  outOfRange,
  Primitive,
  type PrimitiveKind,
  type Segment,
  WAIT_OPTIONS,
} from '@ipc/core/internal'
import { CorruptError, TimeoutError } from './errors.js'
import {
  DATA_BYTES,
  FLAG_RECLAIM,
  headerIndex,
  LAYOUT_VERSION,
  MAGIC,
  MAX_VALUE,
  ONE,
  W_BOUND,
  W_FLAGS,
  W_MAGIC,
  W_STATE,
} from './layout.js'
import type { AcquireOptions, AcquireSyncOptions } from './options.js'
import { Permit } from './permit.js'
import { ASYNC_WAIT, BUSY, PermitCounter, reapSlot, SYNC_WAIT, TAKEN } from './permit-counter.js'

/** What distinguishes the two classes. */
export interface Flavor {
  /** Segment kind, also the handle's `kind`. */
  kind: 'semaphore' | 'bounded-semaphore'
  /** Name in messages: 'semaphore', 'bounded semaphore'. */
  label: string
  /** Class name, for inspect and the transfer descriptor. */
  className: 'Semaphore' | 'BoundedSemaphore'
  /** URL of the module that exports the class (`import.meta.url` of its file; dist/index.js once built). */
  module: string
}

/** How to create the segment (from a constructor). */
export interface CreateSpec {
  value: number
  /** 0 = no bound. */
  bound: number
  reclaim: boolean
  name: string | undefined
  /** Keep the semaphore (and its count) after its last process, until `unlink()`. */
  persistent?: boolean
}

/** An attached semaphore segment: the segment and its permit counter. */
export interface SemaphoreAttachment extends Attachment {
  readonly counter: PermitCounter
}

type SemaphoreKind = PrimitiveKind<SemaphoreAttachment, CreateSpec & { persistent: boolean }>

/** A pending async acquire of this object. */
interface Waiter {
  resolve(value: boolean): void
  reject(error: unknown): void
  /** True when a timeout or a signal may take it out of the queue before it is served. */
  cancellable: boolean
  /** Removes its timer and abort listener. */
  cleanup(): void
}

const RESOLVED_TRUE = Promise.resolve(true)

let counterOfObject: (object: SemaphoreBase) => PermitCounter

const kinds = new WeakMap<Flavor, SemaphoreKind>()

/** The primitive kind of a flavor (made once per flavor). */
export function kindOf(flavor: Flavor): SemaphoreKind {
  let kind = kinds.get(flavor)
  if (kind !== undefined) return kind
  kind = {
    segment: { kind: flavor.kind, version: LAYOUT_VERSION, label: flavor.label, minDataBytes: DATA_BYTES },
    className: flavor.className,
    module: flavor.module,
    dataBytes: () => DATA_BYTES,
    init(segment, spec) {
      const base = segment.dataOffset
      Atomics.store(segment.i32, headerIndex(base, W_STATE), spec.value * ONE)
      Atomics.store(segment.i32, headerIndex(base, W_BOUND), spec.bound)
      Atomics.store(segment.i32, headerIndex(base, W_FLAGS), spec.reclaim ? FLAG_RECLAIM : 0)
      Atomics.store(segment.i32, headerIndex(base, W_MAGIC), MAGIC)
    },
    attach(segment: Segment): SemaphoreAttachment {
      if (Atomics.load(segment.i32, headerIndex(segment.dataOffset, W_MAGIC)) !== MAGIC)
        throw new IncompatibleError(`Cannot open ${flavor.label} "${segment.name}": its data is not a semaphore's`)
      // Checks the layout: a corrupt segment throws CorruptError here.
      return { segment, counter: new PermitCounter(segment, flavor.label) }
    },
    onReap: (slot, segment) => reapSlot(segment, slot),
  }
  kinds.set(flavor, kind)
  return kind
}

/** Validates a semaphore's initial value. */
export function checkValue(value: unknown): number {
  if (typeof value !== 'number') throw invalidArgType(`The "value" argument must be a number, received ${typeof value}`)
  if (!Number.isInteger(value) || value < 0 || value > MAX_VALUE)
    throw outOfRange(`The "value" argument must be an integer from 0 to ${MAX_VALUE}, received ${value}`)
  return value
}

/** The permit counter of an object (for the subclasses in this package). */
export function counterOf(object: SemaphoreBase): PermitCounter {
  return counterOfObject(object)
}

/**
 * The part of Semaphore and BoundedSemaphore they have in common. Not
 * exported from the package; use the two classes.
 */
export abstract class SemaphoreBase extends Primitive<SemaphoreAttachment> implements Disposable {
  readonly #flavor: Flavor
  readonly #counter: PermitCounter
  /** Pending async acquires of this object, oldest first; only the first waits in shared memory. */
  readonly #queue: Waiter[] = []
  #pumping = false
  /** Aborts the pump's current futex wait (when the first waiter is cancelled); none while that waiter cannot be. */
  #wakeWait: AbortController | undefined
  #closed = false
  /** False once closed or corrupt: checked before every call (one compare on the fast paths). */
  #usable = true

  static {
    counterOfObject = (object) => object.#counter
  }

  protected constructor(flavor: Flavor, create: () => CreateSpec) {
    super(kindOf(flavor), () => {
      const spec = create()
      return { ...spec, persistent: spec.persistent ?? false }
    })
    this.#flavor = flavor
    this.#counter = this.attachment.counter
    this.#counter.onFault = () => {
      this.#usable = false
    }
  }

  /**
   * Waits for a permit without blocking the event loop. Resolves `true` with
   * the permit, or `false` when `timeout` passes (Python's `acquire(timeout=…)`).
   *
   * Guarantees:
   * - Never more holders than permits, across every process and thread.
   * - Fair: a waiter that has waited 2 ms switches the semaphore to handoff
   *   mode, where permits go to waiters oldest first (see the README).
   * - Aborting rejects with `signal.reason` and takes no permit; if the permit
   *   was already granted, the signal is ignored and the call resolves `true`.
   * - Acquires of one object are served in the order they were called.
   *
   * @throws {ClosedError} The object was closed (also rejects pending acquires).
   * @throws {RangeError} `timeout` is negative.
   * @throws {CorruptError} The semaphore's shared memory breaks its layout's rules; this object is then unusable.
   * @throws {TimeoutError} Another live object kept the semaphore's state word busy for 2 s (it is stuck).
   * @example
   * ```ts
   * const sem = new Semaphore(1)
   * if (await sem.acquire({ timeout: 100 })) {
   *   try {
   *     // ...
   *   } finally {
   *     sem.release()
   *   }
   * }
   * sem.close()
   * ```
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    let timeout: number
    let signal: AbortSignal | undefined
    try {
      ;({ timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS))
      this.#assertOpen('acquire')
    } catch (error) {
      return Promise.reject(error)
    }
    if (signal?.aborted) return Promise.reject(signal.reason)
    const counter = this.#counter
    if (this.#queue.length === 0) {
      try {
        if (counter.tryTake(false) === TAKEN) return RESOLVED_TRUE
        // No sleeping here: a tag still set after the spins means "not now".
        if (timeout === 0) return Promise.resolve(counter.tryOnce(0))
      } catch (error) {
        return Promise.reject(error)
      }
    }
    return new Promise<boolean>((resolve, reject) => {
      let cancelTimer = () => {}
      const onAbort = () => this.#cancel(waiter, () => reject(signal?.reason))
      const waiter: Waiter = {
        resolve,
        reject,
        cancellable: timeout !== Number.POSITIVE_INFINITY || signal !== undefined,
        cleanup() {
          cancelTimer()
          signal?.removeEventListener('abort', onAbort)
        },
      }
      cancelTimer = afterTimeout(timeout, () => this.#cancel(waiter, () => resolve(false)))
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#queue.push(waiter)
      if (!this.#pumping) void this.#pump()
    })
  }

  /**
   * Blocks the calling thread until a permit is free. Returns `true` with the
   * permit, or `false` when `timeout` passes. For worker threads and scripts;
   * `acquire()` never blocks the event loop.
   *
   * Guarantees: as `acquire()`. The `signal` is checked on entry only.
   *
   * @throws {ClosedError} The object was closed.
   * @throws {RangeError} `timeout` is negative.
   * @throws {CorruptError} The semaphore's shared memory breaks its layout's rules; this object is then unusable.
   * @throws {TimeoutError} Another live object kept the semaphore's state word busy for 2 s (it is stuck).
   * @example
   * ```ts
   * const sem = new Semaphore(1)
   * if (sem.acquireSync({ timeout: 50 })) sem.release()
   * sem.close()
   * ```
   */
  acquireSync(options?: AcquireSyncOptions): boolean {
    const counter = this.#counter
    // The uncontended call: no options to check, one CAS.
    if (options === undefined && this.#usable && counter.tryTake(false) === TAKEN) return true
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    this.#assertOpen('acquire')
    if (signal?.aborted) throw signal.reason
    if (counter.tryTake(false) === TAKEN) return true
    // As acquire({ timeout: 0 }): a tag still set after the spins means "not now", not 2 s of waiting.
    if (timeout === 0) return counter.tryOnce(0)
    let took = false
    counter.register()
    try {
      // The one wait loop (see permit-counter.ts, "Waiting").
      const { attempt, rules } = counter.waitFor(SYNC_WAIT, deadlineOf(timeout))
      took = counter.events.waitSync(attempt, rules) === true
      return took
    } finally {
      counter.leave(took)
    }
  }

  /**
   * Takes a permit if one is free now, without waiting. Python's
   * `acquire(block=False)`.
   *
   * Guarantees: in handoff mode (a waiter has waited 2 ms or more) free permits
   * are reserved for the waiters, and this returns `false`. When no permit is
   * free for it, it first looks for objects whose process died (at most every
   * 50 ms per object): a dead holder's permits come back, and a dead waiter
   * no longer keeps a free permit reserved. A call that takes a permit makes
   * no system call.
   *
   * @throws {ClosedError} The object was closed.
   * @throws {CorruptError} The semaphore's shared memory breaks its layout's rules; this object is then unusable.
   * @throws {TimeoutError} Another live object kept the semaphore's state word busy for 2 s (it is stuck).
   * @example
   * ```ts
   * const sem = new Semaphore(1)
   * sem.tryAcquire() // => true
   * sem.tryAcquire() // => false
   * sem.release()
   * sem.close()
   * ```
   */
  tryAcquire(): boolean {
    this.#assertOpen('acquire')
    return this.#counter.tryOnce(Number.POSITIVE_INFINITY)
  }

  /**
   * Runs `fn` holding one permit, and gives it back when `fn` returns, throws,
   * or its promise settles. Resolves with what `fn` returns.
   *
   * @throws {TimeoutError} No permit within `timeout` ms (`fn` does not run).
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const sem = new Semaphore(3)
   * const body = await sem.withPermit(async () => 'at most 3 at once')
   * sem.close()
   * ```
   */
  async withPermit<R>(fn: () => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    if (typeof fn !== 'function') throw invalidArgType(`The "fn" argument must be a function, received ${typeof fn}`)
    await this.#acquireOrThrow(options)
    try {
      return await fn()
    } finally {
      await this.#releaseAsync()
    }
  }

  async #acquireOrThrow(options: AcquireOptions | undefined): Promise<void> {
    if (!(await this.acquire(options))) {
      throw new TimeoutError(
        `Cannot get a permit of ${this.#flavor.label} "${this.name}": none was free within ${options?.timeout} ms`,
      )
    }
  }

  /**
   * `release()` for async callers: while another object's tag is set, it
   * polls on the async runner of this object's EventCount instead of
   * blocking the thread. Closed meanwhile: close gave the permit back.
   */
  async #releaseAsync(): Promise<void> {
    if (this.#closed) return
    this.#assertOpen('release')
    if (this.#release(1, 0, true)) return
    const counter = this.#counter
    try {
      await counter.events.wait(() => {
        if (this.#closed) return true
        this.#assertOpen('release')
        return this.#release(1, 0, true) ? true : NOT_YET
      }, counter.busyRules(ASYNC_WAIT))
    } catch (error) {
      if (!this.#closed) throw error
    }
  }

  /**
   * Waits for a permit and returns it as a disposable `Permit`, given back
   * once at the end of the `using` scope (or by `permit.release()`).
   *
   * @throws {TimeoutError} No permit within `timeout` ms.
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const sem = new Semaphore(2)
   * {
   *   await using permit = await sem.permit({ timeout: 1000 })
   *   // holding one permit
   * }
   * // Without `using` (plain Node 20):
   * const permit = await sem.permit()
   * try {
   *   // holding one permit
   * } finally {
   *   permit.release()
   * }
   * sem.close()
   * ```
   */
  async permit(options?: AcquireOptions): Promise<Permit> {
    await this.#acquireOrThrow(options)
    return new Permit(() => {
      if (this.#closed) return
      this.#assertOpen('release')
      this.#release(1, Number.POSITIVE_INFINITY)
    })
  }

  /**
   * Detaches this object: gives back the permits it holds, rejects its pending acquires with `ClosedError`, and frees its
   * slot. The semaphore is removed when the last object detaches or dies
   * (unless it is persistent). Idempotent.
   */
  override close(): void {
    super.close()
  }

  /** Run once by `close()`, before the segment slot is freed. */
  protected override detach(): void {
    this.#closed = true
    this.#wakeWait?.abort()
    const counter = this.#counter
    this.#usable = false
    try {
      counter.leaveAll()
      counter.giveBackHeld()
    } catch (error) {
      // Corrupt memory or a stuck tag: the permits stay unreturned, but close still detaches.
      if (!(error instanceof CorruptError || error instanceof TimeoutError)) throw error
    }
    const pending = this.#queue.splice(0)
    for (const waiter of pending) {
      waiter.cleanup()
      waiter.reject(new ClosedError(`Cannot acquire ${this.#flavor.label} "${this.name}": it was closed`))
    }
  }

  /**
   * The number of permits free now; at 0, a dead holder's permits are looked
   * for first (at most every 50 ms per object). @throws {ClosedError} after
   * close (its memory is unmapped).
   */
  protected permitsFree(): number {
    if (this.#closed) this.#throwUnusable('read the value of')
    return this.#counter.freeNow()
  }

  /** Releases `n` permits (the checks both classes share). */
  protected releasePermits(n: number): void {
    this.#assertOpen('release')
    this.#release(n, Number.POSITIVE_INFINITY)
  }

  /**
   * Gives `n` permits back. Waits for another object's tag until `deadline`
   * (performance.now() ms; 0: no sleeping; `poll`: see SlotTagWatch.awaitUntag) and returns false when it is still set.
   */
  #release(n: number, deadline: number, poll = false): boolean {
    const counter = this.#counter
    const result = counter.give(n, deadline, poll)
    if (result === TAKEN) return true
    if (result === BUSY) return false
    return this.#throwOverflow(n)
  }

  #throwOverflow(n: number): never {
    const { label } = this.#flavor
    const bound = this.#counter.bound
    if (bound !== 0)
      throw new ValueError(
        `Cannot release ${label} "${this.name}": it would exceed its initial value ${bound} (released more times than acquired)`,
      )
    throw new ValueError(`Cannot release ${label} "${this.name}" by ${n}: its value would exceed ${MAX_VALUE}`)
  }

  /** Throws ClosedError after close(), and the first corruption found after one (one compare when usable). */
  #assertOpen(what: string): void {
    if (!this.#usable) this.#throwUnusable(what)
  }

  #throwUnusable(what: string): never {
    if (this.#closed) throw new ClosedError(`Cannot ${what} ${this.#flavor.label} "${this.name}": it was closed`)
    throw this.#counter.fault
  }

  /** Removes a pending acquire (timeout or abort) and settles it. */
  #cancel(waiter: Waiter, settle: () => void): void {
    const index = this.#queue.indexOf(waiter)
    if (index === -1) return
    this.#queue.splice(index, 1)
    waiter.cleanup()
    settle()
    // The pump waits for the first waiter only; let it move on.
    if (index === 0) this.#wakeWait?.abort()
  }

  /**
   * Serves the queue of async acquires, first to last: the first waiter holds
   * this object's ticket and waits on its EventCount (the async runner).
   * Every acquire gets a fresh ticket, so one object's many acquires take
   * turns with other objects' instead of jumping ahead of them. A cancelled
   * first waiter aborts the wait; the next one keeps the ticket.
   */
  async #pump(): Promise<void> {
    this.#pumping = true
    const counter = this.#counter
    let registered = false
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        if (!this.#usable) throw counter.fault
        if (!registered) {
          counter.register()
          registered = true
        }
        // Only a cancel of the first waiter aborts the wait, so a first waiter with no timeout and
        // no signal needs no controller: the wait then has no abort listener to add and remove
        // (about 3 µs a wake-up). close() ends it all the same: the segment's close cancels the
        // waits on its memory (ClosedError), and the wait checks the segment before any take.
        const controller = (this.#queue[0] as Waiter).cancellable ? new AbortController() : undefined
        this.#wakeWait = controller
        // Resolved in the same synchronous step as the take: no cancel can come in between.
        const { attempt, rules } = counter.waitFor(ASYNC_WAIT, Number.POSITIVE_INFINITY, controller?.signal, () => {
          const waiter = this.#queue.shift() as Waiter
          waiter.cleanup()
          waiter.resolve(true)
        })
        let took = false
        try {
          took = (await counter.events.wait(attempt, rules)) === true
        } catch (error) {
          // Aborted because the first waiter left, or closed: the loop re-checks.
          // Any other error (corrupt memory, a stuck tag, a wait that failed
          // for want of a thread) would come again at once: the pending
          // acquires reject with it below, never spin.
          if (!controller?.signal.aborted && !(error instanceof ClosedError)) throw error
        } finally {
          this.#wakeWait = undefined
        }
        if (took) {
          registered = false
          counter.leave(true)
        }
      }
    } catch (error) {
      for (const waiter of this.#queue.splice(0)) {
        waiter.cleanup()
        waiter.reject(error)
      }
    } finally {
      try {
        if (registered && !this.#closed) counter.leave(false)
      } catch {
        // A corruption found here is recorded in counter.fault; later calls throw it.
      }
      this.#pumping = false
    }
  }
}
