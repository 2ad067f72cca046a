/**
 * @ipc/semaphore: Python's multiprocessing Semaphore, BoundedSemaphore and
 * Lock for Node.js processes and worker threads, fair and safe when a holder
 * crashes.
 */
export { BoundedSemaphore, type BoundedSemaphoreHandle } from './bounded-semaphore.js'
export {
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
export { Lock, type LockHandle } from './lock.js'
export type {
  AcquireOptions,
  AcquireSyncOptions,
  LockOptions,
  SemaphoreCreateOptions,
  SemaphoreOpenOptions,
  SemaphoreOptions,
} from './options.js'
export { Permit } from './permit.js'
export { Semaphore, type SemaphoreHandle } from './semaphore.js'
