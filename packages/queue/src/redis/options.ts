/**
 * Options of the Redis Queue and JoinableQueue. Times are milliseconds.
 */
import { optionNames } from '@ipc/core/internal'
import type { GetManyOptions, GetOptions, JoinOptions, PutManyOptions, PutOptions } from '../options.js'

/** What every Redis class adds to its shared-memory twin's options. */
export interface RedisConnectionOptions {
  /**
   * The Redis server (7 or later, or Valkey): `redis://[[user]:password@]host[:port][/db]`,
   * or `rediss://` for TLS. Every object of a process that names the same URL
   * shares one connection pair.
   * @default process.env.IPC_REDIS_URL ?? 'redis://127.0.0.1:6379'
   */
  url?: string
  /**
   * How long, in ms, this object's state on the server outlives its last
   * renewal (it renews every `lease / 3` ms while its process runs and
   * reaches the server): its blocked calls, and the items a `get` took but
   * whose receipt this object has not yet confirmed. A process that dies or
   * is cut off for longer loses those items (never delivered twice). 30 to
   * 3600000.
   * @default 10000
   */
  lease?: number
}

/** Options of `new Queue(options)` and `new JoinableQueue(options)` (Redis). */
export interface RedisQueueOptions extends RedisConnectionOptions {
  /**
   * The most items the queue holds; `put` waits while it holds this many.
   * `0`: no limit on the count (each item is still at most 8 MiB encoded).
   * @default 0
   */
  maxsize?: number
  /**
   * The name other processes open it by (`Queue.open(name)`): 1 to 200
   * bytes of UTF-8 without `{`, `}` or NUL. A name that exists makes the
   * first call (or `ready()`) reject with `ExistsError`.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the queue and its items on the server after its last object closes
   * or its last process dies, until `unlink()`. By default the last `close()`
   * removes it, and a queue whose processes all died expires 3 leases later,
   * items included.
   * @default false
   */
  persistent?: boolean
}

/** Options of `Queue.open(name, options)` and `JoinableQueue.open(name, options)` (Redis). */
export interface RedisQueueOpenOptions extends RedisConnectionOptions {
  /**
   * Create the queue when no object has this name: `true` with the defaults,
   * or its `maxsize` and `persistent`. Atomic on the server: of processes
   * racing on one name exactly one creates it and all attach to that one.
   * @default false (attach only; `NotFoundError` when the name does not exist)
   */
  create?: boolean | Pick<RedisQueueOptions, 'maxsize' | 'persistent'>
}

export type { GetManyOptions, GetOptions, JoinOptions, PutManyOptions, PutOptions }

/** The option names of each options type (an unknown name is a TypeError). */
export const REDIS_QUEUE_OPTIONS = optionNames<RedisQueueOptions>({
  url: true,
  lease: true,
  maxsize: true,
  name: true,
  persistent: true,
})
export const REDIS_QUEUE_CREATE_OPTIONS = optionNames<Pick<RedisQueueOptions, 'maxsize' | 'persistent'>>({
  maxsize: true,
  persistent: true,
})
