/**
 * @ipc/queue: Python's multiprocessing Queue, JoinableQueue and SimpleQueue
 * for Node.js processes and worker threads, over shared memory.
 */
export {
  ClosedError,
  CorruptError,
  DataCloneError,
  ExistsError,
  IncompatibleError,
  IpcError,
  NotFoundError,
  PermissionError,
  TimeoutError,
  ValueError,
} from '@ipc/core'
export { Empty, Full, type FullOptions, ShutDown, type ShutDownOptions } from './errors.js'
export { JoinableQueue } from './joinable-queue.js'
export type {
  GetManyOptions,
  GetOptions,
  JoinOptions,
  PutManyOptions,
  PutOptions,
  QueueOpenOptions,
  QueueOptions,
  ShutdownOptions,
  SimpleQueueOpenOptions,
  SimpleQueueOptions,
  WaitOptions,
} from './options.js'
export { Queue, type QueueHandle } from './queue.js'
export { SimpleQueue } from './simple-queue.js'
