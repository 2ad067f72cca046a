/**
 * @ipc/pipe: Python's `multiprocessing.Pipe` and `multiprocessing.connection`
 * for Node.js — Pipe, Connection, wait, Listener and Client.
 */
export { Client } from './client.js'
export { Connection } from './connection.js'
export {
  AuthenticationError,
  BrokenPipeError,
  BufferTooShort,
  ClosedError,
  CorruptError,
  DataCloneError,
  EOFError,
  ExistsError,
  IncompatibleError,
  IpcError,
  MessageTooLongError,
  NotFoundError,
  PermissionError,
  TimeoutError,
  ValueError,
} from './errors.js'
export { Listener } from './listener.js'
export type {
  AcceptOptions,
  Authkey,
  ClientOptions,
  ConnectionWaitOptions,
  ListenerOptions,
  OpenOptions,
  PipeOptions,
  PythonWireOptions,
  RecvBytesOptions,
  RecvOptions,
  SendOptions,
  WaitOptions,
  WireCodec,
  WireProtocol,
} from './options.js'
export { Pipe } from './pipe.js'
export type { PipeHandle } from './transport.js'
export { wait } from './wait.js'
