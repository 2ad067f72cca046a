/**
 * SimpleQueue: the small unbounded queue (Python's multiprocessing.SimpleQueue):
 * put, get, getSync, empty, close. Bounded only by its ring's bytes.
 */
import { attachTo, checkOptionsObject, fromHandle, type Handle, openPrimitive, Primitive } from '@ipc/core/internal'
import { type Attached, SIMPLE_QUEUE } from './layout.js'
import {
  type GetOptions,
  type PutOptions,
  type QueueOptions,
  SIMPLE_QUEUE_OPTIONS,
  type SimpleQueueOpenOptions,
  type SimpleQueueOptions,
} from './options.js'
import { checkQueueOptions, Queue, type QueueHandle } from './queue.js'

function checkSimpleOptions(options: SimpleQueueOptions | undefined) {
  checkOptionsObject(options, SIMPLE_QUEUE_OPTIONS)
  // Read, not spread: inherited names count, as for Queue.
  return checkQueueOptions({
    capacity: options?.capacity,
    name: options?.name,
    persistent: options?.persistent,
    maxsize: 0,
  } as QueueOptions)
}

/**
 * An unbounded FIFO queue shared by processes and threads, with the small
 * API of Python's `multiprocessing.SimpleQueue`. Same guarantees as `Queue`:
 * each item is returned by exactly one `get`, items of one producer arrive
 * in order, and a killed process never wedges the others.
 *
 * @example
 * ```ts
 * const queue = new SimpleQueue<string>()
 * await queue.put('hello')
 * queue.getSync() // => 'hello'
 * queue.close()
 * ```
 */
export class SimpleQueue<T = unknown> extends Primitive<Attached, QueueHandle> implements Disposable {
  /** The Queue that does the work, on the same attachment; closed by this object's close(). */
  readonly #queue: Queue<T>

  /**
   * Creates a simple queue in shared memory.
   *
   * @throws {ExistsError} when `name` is taken.
   * @throws {RangeError} when `capacity` is out of range.
   */
  constructor(options?: SimpleQueueOptions) {
    super(SIMPLE_QUEUE, () => checkSimpleOptions(options))
    this.#queue = attachTo(() => new Queue<T>(), SIMPLE_QUEUE, this.attachment, { owned: true })
  }

  /**
   * Attaches to the simple queue called `name`; with `{ create }`, creates it
   * when the name does not exist (atomically, as `Queue.open`).
   *
   * @throws {NotFoundError} when no simple queue has that name (and `create` is not given).
   * @throws {IncompatibleError} when `name` is another kind of primitive.
   */
  static open<T = unknown>(name: string, options?: SimpleQueueOpenOptions): SimpleQueue<T> {
    return openPrimitive(
      () => new SimpleQueue<T>(),
      SIMPLE_QUEUE,
      name,
      options,
      checkSimpleOptions,
      SIMPLE_QUEUE_OPTIONS,
    )
  }

  /**
   * Attaches to the simple queue a `.handle` describes.
   *
   * @throws {TypeError} when `handle` is not a simple queue handle.
   */
  static from<T = unknown>(handle: QueueHandle | Handle): SimpleQueue<T> {
    return fromHandle(() => new SimpleQueue<T>(), SIMPLE_QUEUE, handle)
  }

  /**
   * Puts `item`. It is copied into shared memory at once when the ring has
   * room (the usual case); otherwise the promise waits for room.
   *
   * @throws {DataCloneError} when `item` cannot be cloned (nothing is put).
   * @throws {RangeError} when `item` is larger than the queue's capacity (nothing is put).
   * @throws {Full} when `timeout` ms pass without room.
   */
  put(item: T, options?: PutOptions): Promise<void> {
    return this.#queue.put(item, options)
  }

  /**
   * Removes and returns the oldest item, waiting without blocking the event loop.
   *
   * @throws {Empty} when `timeout` ms pass and the queue is still empty.
   */
  get(options?: GetOptions): Promise<T> {
    return this.#queue.get(options)
  }

  /**
   * Removes and returns the oldest item, blocking the calling thread while
   * the queue is empty.
   *
   * @throws {Empty} when `timeout` ms pass and the queue is still empty.
   */
  getSync(options?: GetOptions): T {
    return this.#queue.getSync(options)
  }

  /** True when the queue holds no item now. */
  empty(): boolean {
    return this.#queue.empty()
  }

  /** Closes the inner Queue: it leaves the ring and frees the segment slot they share. */
  protected override detach(): void {
    this.#queue.close()
  }

  /** Live state, e.g. `SimpleQueue { name: 'jobs', size: 2, capacity: 1048576 }`. */
  protected inspectFields(): Record<string, unknown> {
    return { size: this.#queue.qsize(), capacity: this.#queue.capacity }
  }
}
