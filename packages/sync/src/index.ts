/**
 * @ipc/sync: Python's multiprocessing Event, Condition and Barrier for
 * Node.js processes and worker threads, safe when a party crashes.
 */
export { Barrier, type BarrierHandle } from './barrier.js'
export { Condition, type ConditionHandle, type ConditionLock } from './condition.js'
export {
  BrokenBarrierError,
  ClosedError,
  CorruptError,
  ExistsError,
  IncompatibleError,
  IpcError,
  NotFoundError,
  PermissionError,
  TimeoutError,
  ValueError,
} from './errors.js'
export { Event, type EventHandle } from './event.js'
export type {
  BarrierCreateOptions,
  BarrierOpenOptions,
  ConditionCreateOptions,
  ConditionOpenOptions,
  ConditionOptions,
  EventCreateOptions,
  EventOpenOptions,
  SyncOpenOptions,
  SyncOptions,
  WaitOptions,
  WaitSyncOptions,
} from './options.js'
