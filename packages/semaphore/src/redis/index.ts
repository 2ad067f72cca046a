/**
 * @ipc/semaphore/redis: Semaphore, BoundedSemaphore, Lock and RLock on a
 * Redis server (7+, or Valkey), shared by processes on many machines. Same
 * class names and calls as @ipc/semaphore, every call async. Needs the
 * optional peer dependency `@redis/client`.
 */
export {
  ClosedError,
  ConnectionError,
  CorruptError,
  ExistsError,
  IncompatibleError,
  IpcError,
  NotFoundError,
  TimeoutError,
  ValueError,
} from '@ipc/core'
export { Lock, RLock } from './lock.js'
export type {
  RedisAcquireOptions as AcquireOptions,
  RedisConnectionOptions as ConnectionOptions,
  RedisLockOpenOptions as LockOpenOptions,
  RedisLockOptions as LockOptions,
  RedisSemaphoreCreateOptions as SemaphoreCreateOptions,
  RedisSemaphoreOpenOptions as SemaphoreOpenOptions,
  RedisSemaphoreOptions as SemaphoreOptions,
} from './options.js'
export { Permit } from './permit.js'
export { BoundedSemaphore, Semaphore } from './semaphore.js'
export type { RedisKind, RedisSemaphoreHandle as Handle } from './semaphore-base.js'
