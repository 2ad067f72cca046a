/**
 * @ipc/core: the transport layer of @ipc. Public surface: Process, cross-process
 * wait/notify, the codec, handles and the error classes.
 */
export { deserialize, serialize } from './codec/codec.js'
export {
  ClosedError,
  ConnectionError,
  CorruptError,
  DataCloneError,
  ExistsError,
  IncompatibleError,
  IpcError,
  type IpcErrorOptions,
  NativeUnavailableError,
  NotFoundError,
  PermissionError,
  ProcessError,
  type ProcessErrorDetails,
  TimeoutError,
  ValueError,
  type WorkerExitDetails,
  WorkerExitError,
} from './errors.js'
export type { Handle } from './primitive/handle.js'
export {
  type CurrentProcess,
  currentProcess,
  Process,
  type ProcessMode,
  type ProcessOptions,
} from './process/process.js'
export { notify, type WaitResult, wait, waitSync } from './waiting/futex.js'
export type { WaitOptions } from './waiting/signal.js'
