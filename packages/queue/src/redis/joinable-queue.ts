/**
 * JoinableQueue on Redis: a Queue that counts unfinished tasks on the server
 * (the `unfinished` field of its meta hash: +1 in the same function that
 * stores each item, −1 by `taskDone`, − the dropped items by
 * `shutdown({ immediate: true })`). `join` waits without polling: it is
 * registered in the queue's `joiners` set and woken by the function that
 * brings the count to 0.
 *
 * Why an item taken but never marked done does not go back after a lease:
 * `taskDone()` names no item (Python's API), so the server cannot tell which
 * of the items a consumer took is finished; and a consumer that is only slow
 * (a long task, a stalled event loop) would see its item run twice. That is
 * at-least-once delivery, which this queue does not do. So, as on one
 * machine, the item of a consumer that died stays unfinished, and `join`
 * waits for it (use `join({ timeout })`).
 */
import { attachWith } from '@ipc/core/redis'
import type { JoinOptions, RedisQueueOpenOptions, RedisQueueOptions } from './options.js'
import { handleSpec, openSpec, Queue, type RedisQueueHandle, type RedisQueueKind } from './queue.js'

/**
 * A Redis queue whose consumers report each item done, so that a producer
 * can wait until all work is finished, on any machine. `@ipc/queue`'s
 * `JoinableQueue` with every call async.
 *
 * Guarantees (beyond Queue's):
 * - The unfinished count rises in the same atomic step that stores an item,
 *   so `join` never returns before an item that was put is marked done.
 * - `join` returns once every item put so far was marked done by `taskDone`
 *   (in any process) or dropped by `shutdown({ immediate: true })`.
 *
 * @throws {ValueError} `taskDone()` called more times than items were put.
 * @example
 * ```ts
 * import { JoinableQueue } from '@ipc/queue/redis'
 * const tasks = new JoinableQueue<string>()
 * await tasks.put('job-1')
 * await tasks.get() // => 'job-1'
 * await tasks.taskDone()
 * await tasks.join() // => true
 * await tasks.close()
 * ```
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  protected static override readonly kind: RedisQueueKind = 'joinable-queue'

  /**
   * Creates a joinable queue on the server.
   * @throws {RangeError} `maxsize` or `lease` is out of range.
   */
  constructor(options?: RedisQueueOptions) {
    super(options)
  }

  /**
   * Attaches to the joinable queue called `name`; with `{ create }`, creates
   * it when the name does not exist (atomically, as `Queue.open`).
   * @throws {NotFoundError} No object has that name (and `create` is not given).
   * @throws {IncompatibleError} The name holds another kind (a plain Queue too).
   */
  static override open<T = unknown>(name: string, options?: RedisQueueOpenOptions): Promise<JoinableQueue<T>> {
    return attachWith(
      () => openSpec(name, options),
      () => new JoinableQueue<T>(),
    )
  }

  /**
   * Attaches to the joinable queue a `.handle` describes.
   * @throws {TypeError} `handle` is not a Redis JoinableQueue's handle.
   */
  static override from<T = unknown>(handle: RedisQueueHandle): Promise<JoinableQueue<T>> {
    return attachWith(
      () => handleSpec(handle, 'joinable-queue'),
      () => new JoinableQueue<T>(),
    )
  }

  /**
   * Marks one item taken from the queue as done. When the last unfinished
   * item is marked done, every `join` on every machine returns.
   * @throws {ValueError} Called more times than items were put.
   */
  taskDone(): Promise<void> {
    return this.taskDoneCall()
  }

  /**
   * Waits (without polling) until every item put so far has been marked
   * done. Resolves `true`, or `false` when `timeout` ms pass first (also
   * when the server did not answer in time). Aborting rejects with
   * `signal.reason`.
   * @throws {ConnectionError} The connection is down or was lost while waiting.
   * @example
   * ```ts
   * await tasks.join({ timeout: 1000 }) // => true
   * ```
   */
  join(options?: JoinOptions): Promise<boolean> {
    return this.joinCall(options)
  }

  /** The number of items put and not yet marked done, on the server. */
  unfinished(): Promise<number> {
    return this.unfinishedCount()
  }
}
