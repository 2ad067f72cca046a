/**
 * Errors of @ipc/pool: the @ipc/core classes it throws. A task that throws
 * rejects with `ProcessError`; a task whose worker died rejects with
 * `WorkerExitError`.
 */
export {
  ClosedError,
  CorruptError,
  DataCloneError,
  IpcError,
  ProcessError,
  TimeoutError,
  ValueError,
  WorkerExitError,
} from '@ipc/core'
