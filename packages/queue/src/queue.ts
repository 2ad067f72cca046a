/**
 * Queue: Python's multiprocessing.Queue over a shared-memory ring (@ipc/core's
 * MpmcRing). `put` copies the item straight into shared memory before it
 * returns, so there is no feeder thread to flush and nothing is lost when a
 * process exits right after `put`.
 */
import { ClosedError, CorruptError } from '@ipc/core'
import {
  checkMpmcCapacity,
  checkName,
  checkOptionsObject,
  checkPersistent,
  checkWaitOptions,
  type Encoded,
  fromHandle,
  type Handle,
  invalidArgType,
  MPMC_EMPTY,
  MPMC_PUT_FULL,
  MPMC_PUT_OK,
  MPMC_PUT_SHUTDOWN,
  MPMC_SHUTDOWN,
  type MpmcPutStatus,
  type MpmcRing,
  openPrimitive,
  outOfRange,
  Primitive,
  PutBatch,
  type Segment,
  syncTimeoutOf,
  WAIT_OPTIONS,
} from '@ipc/core/internal'
import { Empty, Full, ShutDown } from './errors.js'
import { type Attached, type Flavor, QUEUE, type QueueSpec } from './layout.js'
import {
  checkMaxsize,
  DEFAULT_CAPACITY,
  GET_MANY_OPTIONS,
  type GetManyOptions,
  type GetOptions,
  type PutManyOptions,
  type PutOptions,
  QUEUE_OPTIONS,
  type QueueOpenOptions,
  type QueueOptions,
  SHUTDOWN_OPTIONS,
  type ShutdownOptions,
} from './options.js'

/** The plain JSON description of a queue: pass it anywhere, then `Queue.from(handle)`. */
export interface QueueHandle extends Handle {
  kind: 'queue' | 'joinable-queue' | 'simple-queue'
  name: string
}

/** What a Queue object holds; shared with JoinableQueue and SimpleQueue (not exported from the package). */
export interface QueueState {
  readonly flavor: Flavor
  readonly segment: Segment
  readonly ring: MpmcRing
  /** i32 index of the queue's data area. */
  readonly base: number
  /** `joinable queue "jobs"`, for messages. */
  readonly what: string
  /**
   * Runs after each item this object's `shutdown({ immediate })` drops, at
   * once (JoinableQueue counts it done): a shutdown that throws part-way has
   * counted what it dropped.
   */
  onDropped?: (() => void) | undefined
  /** Runs after this object shut the queue down, also when that threw: JoinableQueue wakes its joiners. */
  onShutdown?: (() => void) | undefined
}

const RESOLVED = Promise.resolve()

let stateOfQueue: (queue: Queue<unknown>) => QueueState

/** The internal state of a queue object. */
export function queueState(queue: Queue<unknown>): QueueState {
  return stateOfQueue(queue)
}

/** Validates the creation options of a queue (constructor, or `open`'s `create`). */
export function checkQueueOptions(options: QueueOptions | undefined): QueueSpec {
  checkOptionsObject(options, QUEUE_OPTIONS)
  const maxsize = checkMaxsize(options?.maxsize, 0x7fffffff)
  const capacity = options?.capacity ?? DEFAULT_CAPACITY
  if (typeof capacity !== 'number')
    throw invalidArgType(`The "capacity" option must be a number, received ${typeof capacity}`)
  const name = options?.name === undefined ? undefined : checkName(options.name, 'name')
  const persistent = checkPersistent(options?.persistent)
  return { maxsize, capacity: checkMpmcCapacity(capacity), name, persistent }
}

/** getMany's `max`: a positive integer or Infinity (the default). */
function checkMax(max: unknown): number {
  if (max === undefined) return Number.POSITIVE_INFINITY
  if (typeof max !== 'number') throw invalidArgType(`The "max" option must be a number, received ${typeof max}`)
  if (!(max === Number.POSITIVE_INFINITY || (Number.isInteger(max) && max >= 1)))
    throw outOfRange(`The "max" option must be a positive integer or Infinity, received ${max}`)
  return max
}

/**
 * A CorruptError met by a batch after some of its items went in (found by a
 * wake-up after a round, thrown by the next round): says how many went in,
 * so that the caller does not put them again.
 */
function partlyPut(error: unknown, batch: { done: number; values: readonly unknown[] }): unknown {
  if (batch.done === 0 || !(error instanceof CorruptError)) return error
  return new CorruptError(
    `${error.message}; the first ${batch.done} of the batch's ${batch.values.length} items were put, the rest were not`,
    { cause: error },
  )
}

function waited(timeout: number): string {
  return timeout === Number.POSITIVE_INFINITY || timeout <= 0 ? '' : ` after waiting ${timeout} ms`
}

/**
 * A FIFO queue that any number of processes and threads put to and get from,
 * Python's `multiprocessing.Queue`.
 *
 * Guarantees:
 * - Each item is returned by exactly one `get`, in any process or thread.
 * - Items from one producer arrive in the order they were put.
 * - `put` has copied the item into shared memory when it resolves (or
 *   returns); a process may exit right after it and the item stays queued.
 * - A process killed by SIGKILL never wedges the queue: a producer killed in
 *   `put` leaves that item wholly queued or not at all, a consumer killed in
 *   `get` loses at most the one item it was taking. Others go on.
 * - `qsize()` works on every platform.
 * - Memory scribbled on by another process never hangs, spins or crashes
 *   this one: a word out of range makes the call throw `CorruptError` (within
 *   its timeout), and this object is unusable from then on; `close()` works.
 *
 * @throws {Full} `putNowait` on a full queue, or `put` when `timeout` expires.
 * @throws {Empty} `getNowait` on an empty queue, or `get` when `timeout` expires.
 * @throws {ShutDown} `put` after `shutdown()`; `get` once a shut down queue is empty.
 * @example
 * ```ts
 * const queue = new Queue<string>({ maxsize: 2 })
 * await queue.put('job-1')
 * queue.getNowait() // => 'job-1'
 * queue.close()
 * ```
 */
export class Queue<T = unknown> extends Primitive<Attached, QueueHandle> implements AsyncIterable<T>, Disposable {
  /** The flavor `new` creates (JoinableQueue overrides it). */
  protected static readonly flavor: Flavor = QUEUE
  readonly #state: QueueState
  readonly #segment: Segment
  readonly #ring: MpmcRing
  readonly #what: string
  readonly #maxsize: number

  static {
    stateOfQueue = (queue) => queue.#state
  }

  /**
   * Creates a queue in shared memory.
   *
   * @throws {ExistsError} when `name` is taken.
   * @throws {RangeError} when `maxsize` or `capacity` is out of range.
   */
  constructor(options?: QueueOptions) {
    super((new.target as typeof Queue).flavor, () => checkQueueOptions(options))
    const attached = this.attachment
    const flavor = attached.flavor
    this.#segment = attached.segment
    this.#ring = attached.ring
    this.#what = `${flavor.segment.label} "${attached.segment.name}"`
    this.#maxsize = attached.ring.maxItems
    this.#state = { flavor, segment: attached.segment, ring: attached.ring, base: attached.base, what: this.#what }
  }

  /**
   * Attaches to the queue called `name`, created by any process. With
   * `{ create }`, creates it when no object has that name (atomically: of
   * processes racing on one name exactly one creates it; `created` tells
   * which), with the options in `create` (`true` for the defaults).
   *
   * @throws {NotFoundError} when no queue has that name (and `create` is not given).
   * @throws {IncompatibleError} when `name` is another kind of primitive, or another layout version.
   * @throws {CorruptError} when the queue's shared memory breaks its layout (capacity, positions, counts, states).
   * @throws {RangeError} when an option in `create` is out of range (nothing is created).
   * @example
   * ```ts
   * const queue = Queue.open<string>('jobs', { create: { maxsize: 100, persistent: true } })
   * ```
   */
  static open<T = unknown>(name: string, options?: QueueOpenOptions): Queue<T> {
    return openPrimitive(() => new Queue<T>(), QUEUE, name, options, checkQueueOptions, QUEUE_OPTIONS)
  }

  /**
   * Attaches to the queue a `.handle` describes (from `workerData`,
   * `postMessage`, `process.send`, argv…).
   *
   * @throws {TypeError} when `handle` is not a queue handle.
   * @throws {NotFoundError} when the queue no longer exists.
   */
  static from<T = unknown>(handle: QueueHandle | Handle): Queue<T> {
    return fromHandle(() => new Queue<T>(), QUEUE, handle)
  }

  /** The most items the queue holds (0 = no limit but `capacity`). */
  get maxsize(): number {
    return this.#maxsize
  }

  /** Size of the shared ring in bytes. */
  get capacity(): number {
    return this.#ring.capacity
  }

  #assertOpen(): void {
    if (this.#segment.closed) throw new ClosedError(`Cannot use ${this.#what}: it was closed`)
  }

  #putError(status: MpmcPutStatus, item: unknown, timeout: number): Error {
    if (status === MPMC_PUT_FULL) return new Full(`Cannot put to ${this.#what}: it is full${waited(timeout)}`, { item })
    return new ShutDown(`Cannot put to ${this.#what}: it was shut down`, { item })
  }

  /** The error of a putMany that ended before all its items were put; `.item` holds the ones it did not put. */
  #batchError(status: MpmcPutStatus, batch: PutBatch, timeout: number): Error {
    const item = batch.values.slice(batch.done)
    const done = `; the first ${batch.done} of its ${batch.values.length} items were put, the rest are in .item`
    if (status === MPMC_PUT_FULL)
      return new Full(`Cannot put to ${this.#what}: it is full${waited(timeout)}${done}`, { item })
    return new ShutDown(`Cannot put to ${this.#what}: it was shut down${done}`, { item })
  }

  /** putMany of no items: nothing to put, but a shut down queue still refuses it. */
  #emptyBatch(): Promise<void> {
    if (!this.#ring.isShutdown()) return RESOLVED
    return Promise.reject(this.#batchError(MPMC_PUT_SHUTDOWN, new PutBatch([], []), 0))
  }

  /** Encodes every item (so a bad one throws before any is put) into one batch. */
  #batchOf(items: Iterable<T>): PutBatch {
    this.#assertOpen()
    if (items === null || typeof (items as Iterable<T>)?.[Symbol.iterator] !== 'function')
      throw invalidArgType(`The items must be an array or another iterable, received ${typeof items}`)
    const values = Array.from(items)
    return new PutBatch(
      values,
      values.map((value) => this.#ring.prepare(value)),
    )
  }

  #getError(taken: unknown, timeout: number): Error {
    if (taken === MPMC_EMPTY) return new Empty(`Cannot get from ${this.#what}: it is empty${waited(timeout)}`)
    return new ShutDown(`Cannot get from ${this.#what}: it was shut down and is empty`)
  }

  #prepare(item: T): Encoded | undefined {
    this.#assertOpen()
    return this.#ring.prepare(item)
  }

  /**
   * Puts `item`, waiting (without blocking the event loop) while the queue is
   * full, or while another process holds the queue's producer lock (within
   * the same `timeout` and `signal`). The item is copied into shared memory
   * before the promise settles; when there is room (and the lock is free) it
   * is copied before `put` even returns. A put that still waits when the
   * process exits gets one last try at exit (up to 2 s for the lock). A
   * `put` waits behind an earlier `put` of the same object that still waits,
   * so puts that are not awaited keep their order.
   *
   * Aborting `signal` rejects with `signal.reason` and puts nothing; if the
   * item was already put, the signal is ignored.
   *
   * @throws {Full} when `timeout` ms pass and the queue is still full.
   * @throws {ShutDown} after `shutdown()`, carrying the item in `.item`.
   * @throws {DataCloneError} when `item` cannot be cloned (nothing is put).
   * @throws {RangeError} when `item` is larger than the queue's capacity (nothing is put).
   * @throws {ClosedError} after `close()` in this process.
   * @example
   * ```ts
   * const queue = new Queue<number>({ maxsize: 1 })
   * await queue.put(1)
   * await queue.put(2, { timeout: 10 }).catch((error) => error.name) // => 'Full'
   * queue.close()
   * ```
   */
  put(item: T, options?: PutOptions): Promise<void> {
    try {
      let timeout = Number.POSITIVE_INFINITY
      let signal: AbortSignal | undefined
      if (options !== undefined) ({ timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS))
      if (signal?.aborted) return Promise.reject(signal.reason)
      const encoded = this.#prepare(item)
      const result = this.#ring.put(item, encoded, timeout, signal)
      if (typeof result === 'number')
        return result === MPMC_PUT_OK ? RESOLVED : Promise.reject(this.#putError(result, item, timeout))
      return result.then((status) => {
        if (status !== MPMC_PUT_OK) throw this.#putError(status, item, timeout)
      })
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Puts `item`, blocking the calling thread while the queue is full or
   * another process holds its producer lock, at most `timeout` ms in all. For
   * worker threads and scripts; prefer `put` on an event loop. `signal` is
   * checked once, on entry.
   *
   * @throws {Full} when `timeout` ms pass and the queue is still full.
   * @throws {ShutDown} after `shutdown()`, carrying the item in `.item`.
   * @throws {DataCloneError} when `item` cannot be cloned (nothing is put).
   * @throws {RangeError} when `item` is larger than the queue's capacity (nothing is put).
   * @example
   * ```ts
   * const queue = new Queue<string>()
   * queue.putSync('job-1')
   * queue.close()
   * ```
   */
  putSync(item: T, options?: PutOptions): void {
    const timeout = syncTimeoutOf(options, WAIT_OPTIONS)
    const encoded = this.#prepare(item)
    const status = this.#ring.putSync(item, encoded, timeout)
    if (status !== MPMC_PUT_OK) throw this.#putError(status, item, timeout)
  }

  /**
   * Puts `item` if there is room now, else throws `Full`. Same as
   * `putSync(item, { timeout: 0 })`. Waits for nothing, not even the
   * producer lock beyond a spin of microseconds: as in Python, "now" fails
   * when another process holds it (stopped, or descheduled mid-copy).
   *
   * @throws {Full} when the queue is full, or its producer lock is held now (nothing was put).
   * @throws {ShutDown} after `shutdown()`, carrying the item in `.item`.
   * @example
   * ```ts
   * const queue = new Queue<string>({ maxsize: 1 })
   * queue.putNowait('a')
   * try { queue.putNowait('b') } catch (error) { console.log((error as Error).name) } // => 'Full'
   * queue.close()
   * ```
   */
  putNowait(item: T): void {
    const status = this.#ring.tryPut(item, this.#prepare(item))
    if (status !== MPMC_PUT_OK) throw this.#putError(status, item, 0)
  }

  /**
   * Puts `items` in order, as many at a time as there is room for: each
   * batch is copied in with one publish and at most one wake-up of the
   * consumers, so a producer with many items pays those once per batch
   * instead of once per item. Waits (without blocking the event loop) while
   * the queue is full, like `put`; each item counts toward `maxsize`. Items
   * of one `putMany` stay in order, and after the items of earlier `put`s of
   * this object that still wait.
   *
   * Every item is encoded before any is put: one that cannot be cloned, or
   * is larger than the queue's capacity, throws and nothing is put. When the
   * call ends early (timeout, shutdown, abort), the items put so far are
   * the first ones and stay in the queue; `Full` and `ShutDown` hand back
   * the others in `.item` (an array). An abort before any item was put
   * rejects with `signal.reason`; after some were, with `Full` (its `.item`
   * the rest, its `cause` the reason).
   *
   * @throws {Full} when `timeout` ms pass before all are put (`.item`: the items not put).
   * @throws {ShutDown} after `shutdown()` (`.item`: the items not put).
   * @throws {DataCloneError} when an item cannot be cloned (nothing is put).
   * @throws {RangeError} when an item is larger than the queue's capacity (nothing is put).
   * @throws {ClosedError} when this object is closed, also while the call waits for room (its
   * message then says how many of the items were put: the first ones).
   * @example
   * ```ts
   * const queue = new Queue<number>()
   * await queue.putMany([1, 2, 3])
   * await queue.getMany({ max: 10 }) // => [1, 2, 3]
   * queue.close()
   * ```
   */
  putMany(items: Iterable<T>, options?: PutManyOptions): Promise<void> {
    try {
      let timeout = Number.POSITIVE_INFINITY
      let signal: AbortSignal | undefined
      if (options !== undefined) ({ timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS))
      if (signal?.aborted) return Promise.reject(signal.reason)
      const batch = this.#batchOf(items)
      if (batch.values.length === 0) return this.#emptyBatch()
      const result = this.#ring.putBatch(batch, timeout, signal)
      if (typeof result === 'number')
        return result === MPMC_PUT_OK ? RESOLVED : Promise.reject(this.#batchError(result, batch, timeout))
      return result.then(
        (status) => {
          if (status !== MPMC_PUT_OK) throw this.#batchError(status, batch, timeout)
        },
        (error) => {
          // Aborted after some items went in: say which (the reason is the cause).
          if (batch.done > 0 && error === signal?.reason)
            throw new Full(
              `Cannot put to ${this.#what}: the wait for room was aborted; the first ${batch.done} of its ${batch.values.length} items were put, the rest are in .item`,
              { item: batch.values.slice(batch.done), cause: error },
            )
          // Closed while it waited for room: say how many went in (this object cannot put the rest).
          if (batch.done > 0 && error instanceof ClosedError)
            throw new ClosedError(
              `Cannot put to ${this.#what}: it was closed while the call waited for room; the first ${batch.done} of its ${batch.values.length} items were put, the rest were not`,
              { cause: error },
            )
          throw partlyPut(error, batch)
        },
      )
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * `putMany`, blocking the calling thread while the queue is full, at most
   * `timeout` ms in all. `signal` is checked once, on entry.
   *
   * @throws {Full} when `timeout` ms pass before all are put (`.item`: the items not put).
   * @throws {ShutDown} after `shutdown()` (`.item`: the items not put).
   * @throws {DataCloneError} when an item cannot be cloned (nothing is put).
   * @throws {RangeError} when an item is larger than the queue's capacity (nothing is put).
   */
  putManySync(items: Iterable<T>, options?: PutManyOptions): void {
    const timeout = syncTimeoutOf(options, WAIT_OPTIONS)
    const batch = this.#batchOf(items)
    if (batch.values.length === 0) {
      if (this.#ring.isShutdown()) throw this.#batchError(MPMC_PUT_SHUTDOWN, batch, timeout)
      return
    }
    let status: MpmcPutStatus
    try {
      status = this.#ring.putBatchSync(batch, timeout)
    } catch (error) {
      throw partlyPut(error, batch)
    }
    if (status !== MPMC_PUT_OK) throw this.#batchError(status, batch, timeout)
  }

  /**
   * Removes and returns the oldest item, waiting (without blocking the event
   * loop) while the queue is empty. When an item is there, the promise is
   * already settled with it (no timer, no thread hop). While another process
   * holds the queue's consumer lock (for microseconds; for as long as it is
   * stopped, if it was stopped holding it) the call waits for the lock the
   * same way, within the same `timeout` and `signal`.
   *
   * Aborting `signal` rejects with `signal.reason` and takes nothing.
   *
   * @throws {Empty} when `timeout` ms pass and the queue is still empty.
   * @throws {ShutDown} when the queue was shut down and is empty.
   * @throws {ClosedError} after `close()` in this process.
   * @throws {CorruptError} when a word of the queue's shared memory is out of range, or the item
   * cannot be revived (it is dropped so other processes go on); every later call throws it too.
   * @throws {DataCloneError} when the item is nested too deep for this thread's stack to revive (put
   * wrote it: v8's serializer goes deeper than its deserializer). It is dropped (a
   * JoinableQueue counts it done) and the queue goes on: only this call fails.
   * @example
   * ```ts
   * const queue = new Queue<string>()
   * await queue.put('job-1')
   * await queue.get() // => 'job-1'
   * queue.close()
   * ```
   */
  get(options?: GetOptions): Promise<T> {
    try {
      let timeout = Number.POSITIVE_INFINITY
      let signal: AbortSignal | undefined
      if (options !== undefined) ({ timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS))
      if (signal?.aborted) return Promise.reject(signal.reason)
      this.#assertOpen()
      const taken = this.#ring.get(timeout, signal)
      if (taken instanceof Promise)
        return taken.then((value) => {
          if (value === MPMC_EMPTY || value === MPMC_SHUTDOWN) throw this.#getError(value, timeout)
          return value as T
        })
      if (taken === MPMC_EMPTY || taken === MPMC_SHUTDOWN) return Promise.reject(this.#getError(taken, timeout))
      return Promise.resolve(taken as T)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Removes and returns the oldest item, blocking the calling thread while
   * the queue is empty or another process holds its consumer lock, at most
   * `timeout` ms in all. `signal` is checked once, on entry.
   *
   * @throws {Empty} when `timeout` ms pass and the queue is still empty.
   * @throws {ShutDown} when the queue was shut down and is empty.
   * @example
   * ```ts
   * const queue = new Queue<number>()
   * queue.putSync(7)
   * queue.getSync({ timeout: 100 }) // => 7
   * queue.close()
   * ```
   */
  getSync(options?: GetOptions): T {
    const timeout = syncTimeoutOf(options, WAIT_OPTIONS)
    this.#assertOpen()
    const taken = this.#ring.getSync(timeout)
    if (taken === MPMC_EMPTY || taken === MPMC_SHUTDOWN) throw this.#getError(taken, timeout)
    return taken as T
  }

  /**
   * Removes and returns the oldest item if there is one, else throws `Empty`.
   * Same as `getSync({ timeout: 0 })`. Waits for nothing, not even the
   * consumer lock beyond a spin of microseconds: as in Python's `get_nowait`,
   * "now" fails when another process holds it (stopped, or descheduled
   * mid-copy).
   *
   * @throws {Empty} when the queue is empty, or its consumer lock is held now (nothing was taken).
   * @throws {ShutDown} when the queue was shut down and is empty.
   * @example
   * ```ts
   * const queue = new Queue<string>()
   * try { queue.getNowait() } catch (error) { console.log((error as Error).name) } // => 'Empty'
   * queue.close()
   * ```
   */
  getNowait(): T {
    this.#assertOpen()
    const taken = this.#ring.tryGet()
    if (taken === MPMC_EMPTY || taken === MPMC_SHUTDOWN) throw this.#getError(taken, 0)
    return taken as T
  }

  /**
   * Removes and returns the oldest items: waits (without blocking the event
   * loop) while the queue is empty, like `get`, then returns every item that
   * is there, up to `max`, taken with one publish (one wake-up of waiting
   * producers). Always at least one item; in the order they were put.
   *
   * @throws {Empty} when `timeout` ms pass and the queue is still empty.
   * @throws {ShutDown} when the queue was shut down and is empty.
   * @throws {RangeError} when `max` is not a positive integer or Infinity.
   * @throws {CorruptError} as `get`; an item that cannot be revived ends the batch (it is dropped) and
   * the items before it are returned; every later call throws.
   * @throws {DataCloneError} as `get`, when the first item is too deep to revive; one later in the
   * batch ends it, and the next call throws for it.
   * @example
   * ```ts
   * const queue = new Queue<string>()
   * await queue.putMany(['a', 'b', 'c'])
   * await queue.getMany({ max: 2 }) // => ['a', 'b']
   * queue.close()
   * ```
   */
  getMany(options?: GetManyOptions): Promise<T[]> {
    try {
      let timeout = Number.POSITIVE_INFINITY
      let signal: AbortSignal | undefined
      if (options !== undefined) ({ timeout, signal } = checkWaitOptions(options, GET_MANY_OPTIONS))
      const max = checkMax(options?.max)
      if (signal?.aborted) return Promise.reject(signal.reason)
      this.#assertOpen()
      const taken = this.#ring.getMany(max, timeout, signal)
      if (taken instanceof Promise)
        return taken.then((value) => {
          if (value === MPMC_EMPTY || value === MPMC_SHUTDOWN) throw this.#getError(value, timeout)
          return value as T[]
        })
      if (taken === MPMC_EMPTY || taken === MPMC_SHUTDOWN) return Promise.reject(this.#getError(taken, timeout))
      return Promise.resolve(taken as T[])
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * `getMany`, blocking the calling thread while the queue is empty, at most
   * `timeout` ms. `signal` is checked once, on entry.
   *
   * @throws {Empty} when `timeout` ms pass and the queue is still empty.
   * @throws {ShutDown} when the queue was shut down and is empty.
   * @throws {RangeError} when `max` is not a positive integer or Infinity.
   */
  getManySync(options?: GetManyOptions): T[] {
    const timeout = syncTimeoutOf(options, GET_MANY_OPTIONS)
    const max = checkMax(options?.max)
    this.#assertOpen()
    const taken = this.#ring.getManySync(max, timeout)
    if (taken === MPMC_EMPTY || taken === MPMC_SHUTDOWN) throw this.#getError(taken, timeout)
    return taken as T[]
  }

  /**
   * The number of items in the queue now, across all processes. Exact when
   * no put or get is in progress; a put in progress may already count.
   *
   * @example
   * ```ts
   * const queue = new Queue<number>()
   * queue.putSync(1)
   * queue.qsize() // => 1
   * queue.close()
   * ```
   */
  qsize(): number {
    this.#assertOpen()
    return this.#ring.count()
  }

  /** True when the queue holds no item now. */
  empty(): boolean {
    return this.qsize() === 0
  }

  /**
   * True when the queue holds `maxsize` items now (always false without a
   * `maxsize`: such a queue is bounded only by its bytes, see `capacity`).
   */
  full(): boolean {
    return this.#maxsize > 0 && this.qsize() >= this.#maxsize
  }

  /**
   * Shuts the queue down in every process (Python 3.13's `Queue.shutdown`):
   * later puts throw `ShutDown`, puts waiting now reject with `ShutDown`
   * (carrying their item), gets return what is left and then throw
   * `ShutDown`, and `for await` loops end. With `immediate: true` the items
   * still queued are dropped (a JoinableQueue counts each as done, releasing
   * `join`). Idempotent.
   *
   * @throws {TimeoutError} with `immediate: true`, when another process has held a lock of the
   * queue for 2 s (it is stopped): the queue is shut down, and the items left were not dropped
   * (those dropped before stay dropped; a JoinableQueue counted them done). Calling it again drops them.
   * @example
   * ```ts
   * const queue = new Queue<string>()
   * queue.putSync('last')
   * queue.shutdown()
   * queue.getSync() // => 'last'
   * queue.close()
   * ```
   */
  shutdown(options?: ShutdownOptions): void {
    checkOptionsObject(options, SHUTDOWN_OPTIONS)
    const immediate = options?.immediate ?? false
    if (typeof immediate !== 'boolean')
      throw invalidArgType(`The "immediate" option must be a boolean, received ${typeof immediate}`)
    this.#assertOpen()
    try {
      this.#ring.shutdown(immediate, this.#state.onDropped)
    } finally {
      this.#state.onShutdown?.()
    }
  }

  /**
   * Detaches this process from the queue (idempotent). Calls waiting in this
   * process reject with `ClosedError` (a waiting `put` puts nothing). The
   * queue itself lives on while another process has it open, and is removed
   * when the last one closes or dies (unless it is `persistent`).
   */
  override close(): void {
    super.close()
  }

  /** Leaves the ring (its sleeper shares) before the segment slot is freed. */
  protected override detach(): void {
    this.#ring.detach()
  }

  /**
   * Yields items as `get()` does, and ends when the queue is shut down and
   * empty.
   *
   * @example
   * ```ts
   * const queue = new Queue<number>()
   * queue.putSync(1)
   * queue.shutdown()
   * for await (const n of queue) console.log(n) // prints 1, then the loop ends
   * queue.close()
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      let item: T
      try {
        item = await this.get()
      } catch (error) {
        if (error instanceof ShutDown) return
        throw error
      }
      yield item
    }
  }

  /** Live state, e.g. `Queue { name: 'jobs', size: 2, maxsize: 10, capacity: 1048576, shutdown: false }`. */
  protected inspectFields(): Record<string, unknown> {
    return {
      size: this.#ring.count(),
      maxsize: this.#maxsize,
      capacity: this.#ring.capacity,
      shutdown: this.#ring.isShutdown(),
    }
  }
}
