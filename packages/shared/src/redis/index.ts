/**
 * @ipc/shared/redis: SharedValue and SharedArray on a Redis server (7+, or
 * Valkey), shared by processes on many machines. Same class names and types
 * as @ipc/shared, every read and write async; `add`, `sub`, `exchange` and
 * `compareExchange` atomic on the server; `withLock` on a distributed RLock
 * (@ipc/semaphore/redis). Needs the optional peer dependency `@redis/client`.
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
export type {
  CanonicalType,
  ElementOf,
  IntegerType,
  TypeCode,
  TypeName,
  ValueType,
} from '../element-types.js'
export { MAX_REDIS_ARRAY_LENGTH as MAX_LENGTH } from './library.js'
export type {
  RedisConnectionOptions as ConnectionOptions,
  RedisLockOptions as LockOptions,
  RedisSharedArrayCreation as SharedArrayCreation,
  RedisSharedArrayOpenOptions as SharedArrayOpenOptions,
  RedisSharedOptions as SharedOptions,
  RedisSharedValueCreation as SharedValueCreation,
  RedisSharedValueOpenOptions as SharedValueOpenOptions,
} from './options.js'
export { type RedisSharedArrayHandle as SharedArrayHandle, SharedArray } from './shared-array.js'
export { type RedisSharedValueHandle as SharedValueHandle, SharedValue } from './shared-value.js'
