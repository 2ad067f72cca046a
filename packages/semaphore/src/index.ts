/**
 * @ipc/semaphore: Python's multiprocessing Semaphore, BoundedSemaphore, Lock
 * and RLock for Node.js processes and worker threads, safe when a holder
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
export { Lock, type LockHandle, RLock, type RLockHandle } from './lock.js'
export type {
  AcquireOptions,
  AcquireSyncOptions,
  LockOpenOptions,
  LockOptions,
  SemaphoreCreateOptions,
  SemaphoreOpenOptions,
  SemaphoreOptions,
} from './options.js'
export { Permit } from './permit.js'
export { Semaphore, type SemaphoreHandle } from './semaphore.js'
