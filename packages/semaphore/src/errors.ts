/**
 * Errors of @ipc/semaphore: the @ipc/core classes it throws.
 */
/**
 * `permit({ timeout })` or `withPermit(fn, { timeout })` found no permit in
 * time (`acquire` resolves `false` instead, as in Python).
 */
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
} from '@ipc/core'
