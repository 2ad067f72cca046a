/**
 * Options of @ipc/queue. Times are milliseconds.
 */
import { inspect } from 'node:util'
import { invalidArgType, optionNames, outOfRange } from '@ipc/core/internal'

/**
 * The `maxsize` option (both backends): undefined or null is 0 (no limit);
 * else an integer from 0 to `max`. A string such as '10' is a TypeError, not coerced.
 */
export function checkMaxsize(maxsize: unknown, max: number): number {
  if (maxsize === undefined || maxsize === null) return 0
  const problem = `The "maxsize" option must be an integer from 0 to ${max}, received ${inspect(maxsize)}`
  if (typeof maxsize !== 'number') throw invalidArgType(problem)
  if (!Number.isInteger(maxsize) || maxsize < 0 || maxsize > max) throw outOfRange(problem)
  return maxsize
}

/** Default size of a queue's ring in bytes (1 MiB). */
export const DEFAULT_CAPACITY = 1024 * 1024

/** Options of `new Queue()` and `new JoinableQueue()`. */
export interface QueueOptions {
  /**
   * The most items the queue holds; `put` waits while it holds this many.
   * `0` means no limit on the count (the queue is then bounded only by `capacity`).
   * @default 0
   */
  maxsize?: number
  /**
   * Size of the shared ring in bytes, rounded up to a multiple of 8. Each item
   * takes its encoded size plus an 8-byte header, padded to 8 bytes; `put`
   * waits while the ring has no room, and an item that could never fit throws
   * `RangeError`. From 64 bytes to 1 GiB.
   * @default 1048576 (1 MiB)
   */
  capacity?: number
  /**
   * The queue's name, for `Queue.open(name)` from unrelated processes. A name
   * that exists throws `ExistsError` (`Queue.open(name, { create })` attaches
   * to it instead).
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the queue and the items in it after its last process detaches or
   * dies (even by SIGKILL), until `unlink()`: a later `Queue.open(name)` finds
   * it, items included. By default a queue is removed with its last process.
   * @default false
   */
  persistent?: boolean
}

/** Options of `Queue.open(name, options)` and `JoinableQueue.open(name, options)`. */
export interface QueueOpenOptions {
  /**
   * Create the queue when no object has this name: `true` with the default
   * options, or the options of `new Queue()` (`name` aside). Atomic: of
   * processes racing on one name exactly one creates it (its `created` is
   * true) and all attach to that one. A name held by another kind of
   * primitive still throws `IncompatibleError`.
   * @default false (attach only; `NotFoundError` when the name does not exist)
   */
  create?: boolean | Omit<QueueOptions, 'name'>
}

/** Options of `new SimpleQueue()`. */
export interface SimpleQueueOptions {
  /**
   * Size of the shared ring in bytes (see `QueueOptions.capacity`).
   * @default 1048576 (1 MiB)
   */
  capacity?: number
  /**
   * The queue's name, for `SimpleQueue.open(name)`.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the queue and its items after its last process detaches or dies,
   * until `unlink()` (see `QueueOptions.persistent`).
   * @default false
   */
  persistent?: boolean
}

/** Options of `SimpleQueue.open(name, options)`. */
export interface SimpleQueueOpenOptions {
  /**
   * Create the queue when no object has this name: `true` with the default
   * options, or the options of `new SimpleQueue()` (`name` aside); atomic
   * under races (see `QueueOpenOptions.create`).
   * @default false (attach only)
   */
  create?: boolean | Omit<SimpleQueueOptions, 'name'>
}

/** Options of every call that can wait (`put`, `get`, `join`). */
export interface WaitOptions {
  /**
   * How long to wait, in milliseconds. `0` does not wait; `undefined` waits forever.
   * `AbortSignal.timeout(ms)` composed with `AbortSignal.any` works too.
   * @default undefined (wait forever)
   */
  timeout?: number
  /**
   * Aborting rejects the call with `signal.reason` and leaves the queue
   * unchanged (nothing put, nothing taken). A `…Sync` call checks the signal
   * only when it starts (it blocks the thread, so no abort event can reach it).
   */
  signal?: AbortSignal
}

/** Options of `put`, `putSync`. */
export type PutOptions = WaitOptions

/** Options of `get`, `getSync`. */
export type GetOptions = WaitOptions

/** Options of `putMany`, `putManySync`. */
export type PutManyOptions = WaitOptions

/** Options of `getMany`, `getManySync`. */
export interface GetManyOptions extends WaitOptions {
  /**
   * The most items to return: a positive integer, or `Infinity` for all that
   * are there.
   * @default Infinity
   */
  max?: number
}

/** Options of `join`, `joinSync`. */
export type JoinOptions = WaitOptions

/** Options of `shutdown()`. */
export interface ShutdownOptions {
  /**
   * `true` drops the items still in the queue (a JoinableQueue counts each as
   * done); `false` lets `get` drain them first.
   * @default false
   */
  immediate?: boolean
}

/** The option names of each options type (an unknown name is a TypeError). */
export const QUEUE_OPTIONS = optionNames<QueueOptions>({ maxsize: true, capacity: true, name: true, persistent: true })
export const SIMPLE_QUEUE_OPTIONS = optionNames<SimpleQueueOptions>({ capacity: true, name: true, persistent: true })
export const GET_MANY_OPTIONS = optionNames<GetManyOptions>({ max: true, timeout: true, signal: true })
export const SHUTDOWN_OPTIONS = optionNames<ShutdownOptions>({ immediate: true })
