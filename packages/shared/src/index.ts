/**
 * @ipc/shared: Python's multiprocessing.Value, Array and shared_memory for
 * Node.js — memory that processes and threads read and write in place.
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
export type {
  CanonicalType,
  ElementOf,
  IntegerType,
  TypeCode,
  TypedArrayOf,
  TypeName,
  ValueType,
} from './element-types.js'
export type {
  RawOptions,
  SharedArrayCreation,
  SharedArrayOpenOptions,
  SharedMemoryOpenOptions,
  SharedMemoryOptions,
  SharedOptions,
  SharedValueCreation,
  SharedValueOpenOptions,
} from './options.js'
export { RawArray, SharedArray, type SharedArrayHandle } from './shared-array.js'
export { SharedMemory, type SharedMemoryHandle } from './shared-memory.js'
export type { SharedLock } from './shared-object.js'
export { RawValue, SharedValue, type SharedValueHandle } from './shared-value.js'
