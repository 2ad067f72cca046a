/**
 * Options of the Redis Semaphore, BoundedSemaphore, Lock and RLock.
 */
import { optionNames } from '@ipc/core/internal'

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
   * How long, in ms, a permit outlives its holder's last renewal. This object
   * renews its permits every `lease / 3` ms while its process runs and
   * reaches the server; a holder that dies or is cut off loses its permits
   * when the lease ends, by the server's clock. Shorter: a crashed holder
   * blocks others for less time; longer: a stalled event loop or a slow
   * network is forgiven for longer. 30 to 3600000.
   * @default 10000
   */
  lease?: number
}

/** Options of `new Semaphore(value, options)` and `new BoundedSemaphore(value, options)` (Redis). */
export interface RedisSemaphoreOptions extends RedisConnectionOptions {
  /**
   * The name other processes open it by (`Semaphore.open(name)`): 1 to 200
   * bytes of UTF-8 without `{`, `}` or NUL. A name that exists makes the
   * first call (or `ready()`) reject with `ExistsError`.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Give back the permits whose lease lapsed (their holder died or was cut
   * off). Turn it off when the semaphore counts events rather than guarding
   * a resource (one side only releases, the other only acquires).
   * @default true
   */
  reclaim?: boolean
  /**
   * Keep the semaphore on the server after its last object closes or its
   * last process dies, until `unlink()`. By default the last `close()`
   * removes it, and a semaphore whose processes all died expires 3 leases later.
   * @default false
   */
  persistent?: boolean
}

/** What `create` of `Semaphore.open(name, { create })` takes. */
export interface RedisSemaphoreCreateOptions extends Omit<RedisSemaphoreOptions, 'name' | 'url' | 'lease'> {
  /**
   * The initial value (the constructor's first argument).
   * @default 1
   */
  value?: number
}

/** Options of `Semaphore.open(name, options)` and `BoundedSemaphore.open(name, options)` (Redis). */
export interface RedisSemaphoreOpenOptions extends RedisConnectionOptions {
  /**
   * Create the semaphore when no object has this name: `true` with the
   * defaults (value 1), or its options. Atomic on the server: of processes
   * racing on one name exactly one creates it and all attach to that one.
   * @default false (attach only; `NotFoundError` when the name does not exist)
   */
  create?: boolean | RedisSemaphoreCreateOptions
}

/** Options of `new Lock(options)` and `new RLock(options)` (Redis). */
export interface RedisLockOptions extends RedisConnectionOptions {
  /**
   * The name other processes open it by. A name that exists makes the first
   * call (or `ready()`) reject with `ExistsError`.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the lock on the server after its last object closes, until `unlink()`.
   * @default false
   */
  persistent?: boolean
}

/** Options of `Lock.open(name, options)` and `RLock.open(name, options)` (Redis). */
export interface RedisLockOpenOptions extends RedisConnectionOptions {
  /**
   * Create the lock when no object has that name, atomically (`true`: the defaults).
   * @default false (`NotFoundError` when the name does not exist)
   */
  create?: boolean | { persistent?: boolean }
}

/** Options of `acquire()`, `permit()`, `withPermit()` and `withLock()` (Redis). */
export interface RedisAcquireOptions {
  /**
   * How long to wait for a permit, in ms: `acquire` then resolves `false`;
   * `permit`, `withPermit` and `withLock` reject with `TimeoutError`. `0`
   * asks the server once and does not wait. A server that does not answer
   * in time (stopped, or slow) also ends the wait with `false`; a grant that
   * comes later is given back.
   * @default undefined (wait forever)
   */
  timeout?: number
  /**
   * Aborting it rejects the call with `signal.reason` and takes no permit (a
   * grant that comes later is given back). If the permit was already
   * granted, the signal is ignored and the call resolves.
   * @default undefined
   */
  signal?: AbortSignal
}

/** The option names of each options type (an unknown name is a TypeError). */
export const REDIS_SEMAPHORE_OPTIONS = optionNames<RedisSemaphoreOptions>({
  url: true,
  lease: true,
  name: true,
  reclaim: true,
  persistent: true,
})
export const REDIS_SEMAPHORE_CREATE_OPTIONS = optionNames<RedisSemaphoreCreateOptions>({
  value: true,
  reclaim: true,
  persistent: true,
})
export const REDIS_LOCK_OPTIONS = optionNames<RedisLockOptions>({
  url: true,
  lease: true,
  name: true,
  persistent: true,
})
export const REDIS_LOCK_CREATE_OPTIONS = optionNames<{ persistent?: boolean }>({ persistent: true })
