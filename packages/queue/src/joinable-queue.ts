/**
 * JoinableQueue: a Queue that also counts unfinished tasks (Python's
 * multiprocessing.JoinableQueue). Consumers call `taskDone()` for each item
 * they finished; `join()` waits until every item put has been marked done.
 *
 * The task count lives in three words of the queue's data area (layout.ts)
 * and the ring's TAIL_COUNT:
 *
 * | word         | written by                                   | meaning                                        |
 * |--------------|----------------------------------------------|------------------------------------------------|
 * | TASKS_DONE   | taskDone (CAS +1), shutdown (+1 per drop), a get dropping an item it cannot revive (+1) | tasks done ever (int32, wraps)                 |
 * | JOIN_EVENT   | taskDone, shutdown, that get (`EventCount.notify`) | the joiners' event count: bumped when unfinished tasks may have reached 0 |
 * | JOIN_WAITERS | join/joinSync (the kernel's runners)          | joiners registered to sleep on JOIN_EVENT      |
 *
 * unfinished = TAIL_COUNT (items ever put, counted before each item is
 * published) − TASKS_DONE, read as int32 and never below 0.
 *
 * Why no join misses the last taskDone: joiners wait on @ipc/core's
 * EventCount (register in JOIN_WAITERS, re-check unfinished, sleep on
 * JOIN_EVENT); `taskDone` stores TASKS_DONE (seq-cst CAS), then `notify`
 * bumps JOIN_EVENT and reads JOIN_WAITERS. Either the joiner's re-check sees
 * the store, or the notifier sees the joiner and wakes it.
 *
 * What a SIGKILL can lose: a consumer killed between its CAS and its notify
 * leaves joiners asleep until their next look (RECHECK_MS, 1 s); a joiner
 * killed while registered leaves JOIN_WAITERS one too high, so each later
 * notify makes one wake syscall that wakes nobody. A `shutdown({ immediate })`
 * killed between dropping an item and counting it done (one add), or a get
 * killed between dropping an item it cannot revive and counting it, leaves that
 * item unfinished for good: `join()` then never returns true. Otherwise never
 * a wrong answer.
 */
import { ClosedError, ValueError } from '@ipc/core'
import {
  checkWaitOptions,
  deadlineOf,
  EventCount,
  fromHandle,
  type Handle,
  NOT_YET,
  openPrimitive,
  RECHECK_MS,
  syncTimeoutOf,
  TIMED_OUT,
  WAIT_OPTIONS,
  type WaitRules,
} from '@ipc/core/internal'
import { type Flavor, JOINABLE_QUEUE, W_JOIN_EVENT, W_JOIN_WAITERS, W_TASKS_DONE } from './layout.js'
import { type JoinOptions, QUEUE_OPTIONS, type QueueOpenOptions, type QueueOptions } from './options.js'
import { checkQueueOptions, Queue, type QueueHandle, type QueueState, queueState } from './queue.js'

/** The task count of one JoinableQueue object (see the file comment). */
class TaskCount {
  readonly #state: QueueState
  readonly #i32: Int32Array
  readonly #done: number
  /** Joiners wait here until `unfinished()` is 0. */
  readonly #joiners: EventCount

  constructor(state: QueueState) {
    this.#state = state
    this.#i32 = state.segment.i32
    this.#done = state.base + W_TASKS_DONE
    this.#joiners = new EventCount(state.segment, this.#i32, state.base + W_JOIN_EVENT, state.base + W_JOIN_WAITERS)
  }

  /** Items put and not yet marked done (never negative). */
  unfinished(): number {
    const count = (this.#state.ring.putCount() - Atomics.load(this.#i32, this.#done)) | 0
    return Math.max(count, 0)
  }

  /** Marks one task done; wakes the joiners when none is left. */
  taskDone(): void {
    this.#assertOpen()
    for (;;) {
      const done = Atomics.load(this.#i32, this.#done)
      const unfinished = (this.#state.ring.putCount() - done) | 0
      if (unfinished <= 0)
        throw new ValueError(
          `Cannot call taskDone() on ${this.#state.what}: it was called more times than items were put`,
        )
      if (Atomics.compareExchange(this.#i32, this.#done, done, (done + 1) | 0) !== done) continue
      // Decided from the count read before the CAS, not read again: a second putCount() could meet a
      // fault and throw after the task was counted. Puts only add, so a count read earlier can only
      // make this wake the joiners when a put came in between (they look and sleep again), never miss
      // the last task: a later taskDone decides for itself. (A takeover's repair can take back the
      // count of a put whose producer died before publishing; a joiner then sees it at its next look,
      // RECHECK_MS.)
      if (unfinished === 1) this.#joiners.notify()
      return
    }
  }

  /** An item this object's shutdown dropped: it counts as done. */
  dropped(): void {
    Atomics.add(this.#i32, this.#done, 1)
  }

  /** An item a get dropped because it could not be revived (no one will call taskDone): done, and the joiners look. */
  unrevivable(): void {
    Atomics.add(this.#i32, this.#done, 1)
    this.#joiners.notify()
  }

  /** After a shutdown by this object (also one that threw part-way): wakes the joiners. */
  shutDown(): void {
    this.#joiners.notify()
  }

  joinSync(timeout: number): boolean {
    this.#assertOpen()
    if (this.unfinished() === 0) return true
    return this.#joiners.waitSync(this.#allDone, this.#rules(timeout, undefined)) !== TIMED_OUT
  }

  async join(timeout: number, signal: AbortSignal | undefined): Promise<boolean> {
    this.#assertOpen()
    if (this.unfinished() === 0) return true
    return (await this.#joiners.wait(this.#allDone, this.#rules(timeout, signal))) !== TIMED_OUT
  }

  readonly #allDone = (): true | typeof NOT_YET => (this.unfinished() === 0 ? true : NOT_YET)

  /** No spin (a join waits for whole tasks); no peer owes the wake-up, so RECHECK_MS slices. */
  #rules(timeout: number, signal: AbortSignal | undefined): WaitRules {
    return { deadline: deadlineOf(timeout), signal, sliceMs: RECHECK_MS, label: this.#state.what }
  }

  #assertOpen(): void {
    if (this.#state.segment.closed) throw new ClosedError(`Cannot use ${this.#state.what}: it was closed`)
  }
}

/**
 * A FIFO queue whose consumers report each item done, so that a producer can
 * wait until all work is finished. Python's `multiprocessing.JoinableQueue`.
 *
 * Guarantees (beyond Queue's):
 * - The unfinished count rises in the same shared-memory step that publishes
 *   an item, so a producer that exits right after `put` never lets `join`
 *   return early, and one killed before publishing never makes it hang.
 * - `join` returns once every item put so far was marked done by `taskDone`
 *   (in any process) or dropped by `shutdown({ immediate: true })`.
 *
 * @throws {ValueError} `taskDone()` called more times than items were put.
 * @example
 * ```ts
 * const tasks = new JoinableQueue<string>()
 * await tasks.put('job-1')
 * tasks.getNowait() // => 'job-1'
 * tasks.taskDone()
 * await tasks.join() // => true
 * tasks.close()
 * ```
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  protected static override readonly flavor: Flavor = JOINABLE_QUEUE
  readonly #tasks: TaskCount

  /**
   * Creates a joinable queue in shared memory.
   *
   * @throws {ExistsError} when `name` is taken.
   * @throws {RangeError} when `maxsize` or `capacity` is out of range.
   */
  constructor(options?: QueueOptions) {
    super(options)
    const state = queueState(this)
    const tasks = new TaskCount(state)
    this.#tasks = tasks
    state.onDropped = () => tasks.dropped()
    state.ring.onUnrevivable = () => tasks.unrevivable()
    state.onShutdown = () => tasks.shutDown()
  }

  /**
   * Attaches to the joinable queue called `name`; with `{ create }`, creates
   * it when the name does not exist (atomically, as `Queue.open`).
   *
   * @throws {NotFoundError} when no joinable queue has that name (and `create` is not given).
   * @throws {IncompatibleError} when `name` is another kind of primitive (a plain queue too).
   */
  static override open<T = unknown>(name: string, options?: QueueOpenOptions): JoinableQueue<T> {
    return openPrimitive(() => new JoinableQueue<T>(), JOINABLE_QUEUE, name, options, checkQueueOptions, QUEUE_OPTIONS)
  }

  /**
   * Attaches to the joinable queue a `.handle` describes.
   *
   * @throws {TypeError} when `handle` is not a joinable queue handle.
   */
  static override from<T = unknown>(handle: QueueHandle | Handle): JoinableQueue<T> {
    return fromHandle(() => new JoinableQueue<T>(), JOINABLE_QUEUE, handle)
  }

  /**
   * Marks one item taken from the queue as done. When the last unfinished
   * item is marked done, every `join` in every process returns.
   *
   * @throws {ValueError} when called more times than items were put.
   * @example
   * ```ts
   * const tasks = new JoinableQueue<number>()
   * tasks.putSync(1)
   * tasks.getSync()
   * tasks.taskDone()
   * tasks.close()
   * ```
   */
  taskDone(): void {
    this.#tasks.taskDone()
  }

  /**
   * Waits (without blocking the event loop) until every item put so far has
   * been marked done. Resolves `true`, or `false` when `timeout` ms pass first
   * (Python's `join()` has no timeout; this follows `Event.wait`).
   *
   * @throws {ClosedError} after `close()` in this process.
   * @example
   * ```ts
   * const tasks = new JoinableQueue<string>()
   * await tasks.join({ timeout: 0 }) // => true
   * tasks.close()
   * ```
   */
  join(options?: JoinOptions): Promise<boolean> {
    try {
      const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
      if (signal?.aborted) return Promise.reject(signal.reason)
      return this.#tasks.join(timeout, signal)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Blocks the calling thread until every item put so far has been marked
   * done. Returns `true`, or `false` when `timeout` ms pass first. `signal` is
   * checked once, on entry.
   *
   * @example
   * ```ts
   * const tasks = new JoinableQueue<string>()
   * tasks.joinSync({ timeout: 10 }) // => true
   * tasks.close()
   * ```
   */
  joinSync(options?: JoinOptions): boolean {
    return this.#tasks.joinSync(syncTimeoutOf(options, WAIT_OPTIONS))
  }

  protected override inspectFields(): Record<string, unknown> {
    return { ...super.inspectFields(), unfinished: this.#tasks.unfinished() }
  }
}
