/**
 * SimpleQueue: the small unbounded queue (Python's multiprocessing.SimpleQueue):
 * put, get, getSync, empty, close. Bounded only by its ring's bytes.
 */
import { inspect } from 'node:util'
import { checkHandle, type Handle, TRANSFER, type TransferDescriptor } from '@ipc/core/internal'
import { createQueue, openQueue, SIMPLE_QUEUE } from './layout.js'
import type { GetOptions, PutOptions, SimpleQueueOptions } from './options.js'
import { attachAs, checkQueueOptions, inspected, Queue, type QueueHandle } from './queue.js'

/** Set for the one constructor call made by `open` (JS runs it synchronously). */
let wrapping: Queue<unknown> | undefined

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
export class SimpleQueue<T = unknown> implements Disposable {
  readonly #queue: Queue<T>

  /**
   * Creates a simple queue in shared memory.
   *
   * @throws {ExistsError} when `name` is taken.
   * @throws {RangeError} when `capacity` is out of range.
   */
  constructor(options?: SimpleQueueOptions) {
    if (wrapping !== undefined) {
      this.#queue = wrapping as Queue<T>
      wrapping = undefined
      return
    }
    const checked = checkQueueOptions({ ...options, maxsize: 0 })
    this.#queue = attachAs(Queue<T>, SIMPLE_QUEUE, createQueue(SIMPLE_QUEUE, checked))
  }

  /**
   * Attaches to the simple queue called `name`.
   *
   * @throws {NotFoundError} when no simple queue has that name.
   * @throws {IncompatibleError} when `name` is another kind of primitive.
   */
  static open<T = unknown>(name: string): SimpleQueue<T> {
    wrapping = attachAs(Queue<T>, SIMPLE_QUEUE, openQueue(SIMPLE_QUEUE, name))
    try {
      return new SimpleQueue<T>()
    } finally {
      wrapping = undefined
    }
  }

  /**
   * Attaches to the simple queue a `.handle` describes.
   *
   * @throws {TypeError} when `handle` is not a simple queue handle.
   */
  static from<T = unknown>(handle: QueueHandle | Handle): SimpleQueue<T> {
    const h = checkHandle<QueueHandle>(handle, 'simple-queue')
    return SimpleQueue.open<T>(h.name)
  }

  /** The queue's name (for `SimpleQueue.open`). */
  get name(): string {
    return this.#queue.name
  }

  /** A small plain JSON object; `SimpleQueue.from(handle)` attaches to the same queue anywhere. */
  get handle(): QueueHandle {
    return this.#queue.handle
  }

  /** True after `close()` in this process. */
  get closed(): boolean {
    return this.#queue.closed
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

  /** Detaches this process (idempotent); the queue is removed when the last process detaches or dies. */
  close(): void {
    this.#queue.close()
  }

  /** Removes the name now; attached objects keep working. */
  unlink(): void {
    this.#queue.unlink()
  }

  /** Alias of `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** How `Process` revives this queue in a child. */
  [TRANSFER](): TransferDescriptor {
    return { module: import.meta.url, export: 'SimpleQueue', handle: this.handle }
  }

  /** Live state, e.g. `SimpleQueue { name: 'jobs', size: 2, capacity: 1048576 }`. */
  [inspect.custom](_depth: number, options: object): string {
    const fields = this.closed
      ? { name: this.name, closed: true }
      : { name: this.name, size: this.#queue.qsize(), capacity: this.#queue.capacity }
    return inspect(inspected('SimpleQueue', fields), options)
  }
}
