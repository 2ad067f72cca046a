/**
 * Options of the Redis SharedValue and SharedArray. Times are milliseconds.
 */
import { optionNames } from '@ipc/core/internal'
import type { ElementOf, ValueType } from '../element-types.js'

/** What the Redis classes add to their shared-memory twins' options. */
export interface RedisConnectionOptions {
  /**
   * The Redis server (7 or later, or Valkey): `redis://[[user]:password@]host[:port][/db]`,
   * or `rediss://` for TLS. Every object of a process that names the same URL
   * shares one connection pair.
   * @default process.env.IPC_REDIS_URL ?? 'redis://127.0.0.1:6379'
   */
  url?: string
  /**
   * How long, in ms, its lock's permit outlives the holder's last renewal;
   * this object's registration outlives it by 3 leases. The object renews
   * every `lease / 3` ms while its process runs and reaches the server; a
   * non-persistent value whose objects all stopped renewing (their processes
   * died) expires 3 leases later. It is also the longest a call waits for the server's reply
   * before it rejects with `ConnectionError`. 30 to 3600000.
   * @default 10000
   */
  lease?: number
}

/** Options of `new SharedValue()` and `new SharedArray()` (Redis). */
export interface RedisSharedOptions extends RedisConnectionOptions {
  /**
   * `true` makes an `RLock` of `@ipc/semaphore/redis` for this value (as
   * Python's `Value`), which every object attached to it uses
   * (`getLock()`, `withLock()`) and which is removed with it; `false` gives
   * none. Single reads, writes and `add`/`sub`/`exchange`/`compareExchange`
   * are atomic without it; the lock is for read-modify-write sequences.
   * (A `Lock` object cannot be given here, unlike on shared memory.)
   * @default true
   */
  lock?: boolean
  /**
   * The name other processes open it by (`SharedValue.open(name)`): 1 to 200
   * bytes of UTF-8 without `{`, `}` or NUL. A name that exists makes the
   * first call (or `ready()`) reject with `ExistsError`.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the value (and its lock) on the server after its last object
   * closes or its last process dies, until `unlink()`. By default the last
   * `close()` removes it, and a value whose processes all died expires 3
   * leases later.
   * @default false
   */
  persistent?: boolean
}

/** The creation options of `SharedValue.open(name, type, { create })` (Redis). */
export interface RedisSharedValueCreation<T extends ValueType = ValueType> {
  /** The value to start with. @default 0, 0n or false */
  initial?: ElementOf<T>
  /** As the constructor's `lock`. @default true */
  lock?: boolean
  /** As the constructor's `persistent`. @default false */
  persistent?: boolean
}

/** Options of `SharedValue.open(name, type?, options)` (Redis). */
export interface RedisSharedValueOpenOptions<T extends ValueType = ValueType> extends RedisConnectionOptions {
  /**
   * Create the value when no object has this name (`type` is then
   * required), atomically: of processes racing on one name exactly one
   * creates it and all attach to it. `true` creates it with the defaults.
   * @default false (`NotFoundError` when the name does not exist)
   */
  create?: boolean | RedisSharedValueCreation<T>
}

/** The creation options of `SharedArray.open(name, type, { create })` (Redis). */
export interface RedisSharedArrayCreation<T extends ValueType = ValueType> {
  /** A length (elements start at 0, 0n or false) or the initial values. Required. */
  lengthOrValues: number | Iterable<ElementOf<T>>
  /** As the constructor's `lock`. @default true */
  lock?: boolean
  /** As the constructor's `persistent`. @default false */
  persistent?: boolean
}

/** Options of `SharedArray.open(name, type?, options)` (Redis). */
export interface RedisSharedArrayOpenOptions<T extends ValueType = ValueType> extends RedisConnectionOptions {
  /**
   * Create the array when no object has this name (`type` is then
   * required), atomically under races, with these options.
   * @default undefined (`NotFoundError` when the name does not exist)
   */
  create?: RedisSharedArrayCreation<T>
}

/** Options of `withLock()` (Redis): those of the lock's `acquire`. */
export interface RedisLockOptions {
  /**
   * How long to wait for the lock, in ms; then `withLock` rejects with
   * `TimeoutError` and `fn` does not run.
   * @default undefined (wait forever)
   */
  timeout?: number
  /**
   * Aborting it rejects with `signal.reason` while the lock is awaited (`fn` does not run).
   * @default undefined
   */
  signal?: AbortSignal
}

/** The option names of each options type (an unknown name is a TypeError). */
export const REDIS_SHARED_OPTIONS = optionNames<RedisSharedOptions>({
  url: true,
  lease: true,
  lock: true,
  name: true,
  persistent: true,
})
export const REDIS_VALUE_CREATION_OPTIONS = optionNames<RedisSharedValueCreation>({
  initial: true,
  lock: true,
  persistent: true,
})
export const REDIS_ARRAY_CREATION_OPTIONS = optionNames<RedisSharedArrayCreation>({
  lengthOrValues: true,
  lock: true,
  persistent: true,
})
