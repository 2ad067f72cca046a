/**
 * JoinableQueue: a Queue that also counts unfinished tasks (Python's
 * multiprocessing.JoinableQueue). Consumers call `taskDone()` for each item
 * they finished; `join()` waits until every item put has been marked done.
 */
import { ValueError } from '@ipc/core'
import { checkWaitOptions, fromHandle, type Handle, notifyWord, openPrimitive } from '@ipc/core/internal'
import { type Flavor, JOINABLE_QUEUE, W_JOIN_EVENT, W_JOIN_WAITERS, W_TASKS_DONE } from './layout.js'
import type { JoinOptions, QueueOpenOptions, QueueOptions } from './options.js'
import {
  assertOpen,
  checkQueueOptions,
  join,
  joinSync,
  Queue,
  type QueueHandle,
  queueState,
  unfinished,
} from './queue.js'

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

  /**
   * Creates a joinable queue in shared memory.
   *
   * @throws {ExistsError} when `name` is taken.
   * @throws {RangeError} when `maxsize` or `capacity` is out of range.
   */
  constructor(options?: QueueOptions) {
    super(options)
  }

  /**
   * Attaches to the joinable queue called `name`; with `{ create }`, creates
   * it when the name does not exist (atomically, as `Queue.open`).
   *
   * @throws {NotFoundError} when no joinable queue has that name (and `create` is not given).
   * @throws {IncompatibleError} when `name` is another kind of primitive (a plain queue too).
   */
  static override open<T = unknown>(name: string, options?: QueueOpenOptions): JoinableQueue<T> {
    return openPrimitive(() => new JoinableQueue<T>(), JOINABLE_QUEUE, name, options, checkQueueOptions)
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
    const state = queueState(this)
    assertOpen(state)
    const i32 = state.segment.i32
    const index = state.base + W_TASKS_DONE
    for (;;) {
      const done = Atomics.load(i32, index)
      if (((state.ring.putCount() - done) | 0) <= 0)
        throw new ValueError(`Cannot call taskDone() on ${state.what}: it was called more times than items were put`)
      if (Atomics.compareExchange(i32, index, done, (done + 1) | 0) === done) break
    }
    // Dekker with join(): we wrote TASKS_DONE, then read JOIN_WAITERS; a joiner does the reverse.
    if (unfinished(state) === 0 && Atomics.load(i32, state.base + W_JOIN_WAITERS) > 0) {
      Atomics.add(i32, state.base + W_JOIN_EVENT, 1)
      notifyWord(i32, state.base + W_JOIN_EVENT)
    }
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
      const { timeout, signal } = checkWaitOptions(options)
      if (signal?.aborted) return Promise.reject(signal.reason)
      const state = queueState(this)
      assertOpen(state)
      return join(state, timeout, signal)
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
    const { timeout, signal } = checkWaitOptions(options)
    if (signal?.aborted) throw signal.reason
    const state = queueState(this)
    assertOpen(state)
    return joinSync(state, timeout)
  }

  protected override inspectFields(): Record<string, unknown> {
    return { ...super.inspectFields(), unfinished: unfinished(queueState(this)) }
  }
}
