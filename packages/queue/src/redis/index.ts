/**
 * @ipc/queue/redis: Queue and JoinableQueue on a Redis server (7+, or
 * Valkey), shared by processes on many machines. Same class names and calls
 * as @ipc/queue, every call async. Needs the optional peer dependency
 * `@redis/client`.
 */
export {
  ClosedError,
  ConnectionError,
  CorruptError,
  DataCloneError,
  ExistsError,
  IncompatibleError,
  IpcError,
  NotFoundError,
  TimeoutError,
  ValueError,
} from '@ipc/core'
export { Empty, Full, ShutDown } from '../errors.js'
export { MAX_ITEM_BYTES } from './item.js'
export { JoinableQueue } from './joinable-queue.js'
export type {
  GetManyOptions,
  GetOptions,
  JoinOptions,
  PutManyOptions,
  PutOptions,
  RedisConnectionOptions as ConnectionOptions,
  RedisQueueOpenOptions as QueueOpenOptions,
  RedisQueueOptions as QueueOptions,
} from './options.js'
export { Queue, type RedisQueueHandle as QueueHandle, type RedisQueueKind } from './queue.js'
