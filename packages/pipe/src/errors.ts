/**
 * Errors of @ipc/pipe: Python's connection errors (EOFError, BrokenPipeError,
 * BufferTooShort, AuthenticationError), MessageTooLongError for `recvBytes`
 * over `maxLength`, and the @ipc/core classes it throws (TimeoutError: a
 * `timeout` passed and nothing was sent or taken).
 */
import { IpcError, type IpcErrorOptions } from '@ipc/core'

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

/** `recv` found nothing left to read: the other end closed (or its process died) and every message was read. */
export class EOFError extends IpcError {
  static override readonly code: string = 'IPC_EOF'
  override name = 'EOFError'
}

/** `send` to an end that was closed (or whose process died). Nothing was sent. */
export class BrokenPipeError extends IpcError {
  static override readonly code: string = 'IPC_BROKEN_PIPE'
  override name = 'BrokenPipeError'
}

/**
 * `recvBytes({ maxLength })` met a longer message: it was not taken, the next
 * receive returns it. Also a message over `maxMessageSize`: refused at its
 * header before anything is allocated (on a `tcp://` connection the
 * connection is then closed), or a send over it (nothing sent).
 */
export class MessageTooLongError extends IpcError {
  static override readonly code: string = 'IPC_MESSAGE_TOO_LONG'
  override name = 'MessageTooLongError'
  /** The length of the message, in bytes. */
  readonly length: number
  /** The `maxLength` that was asked for. */
  readonly maxLength: number

  constructor(message: string, details: { length: number; maxLength: number } & IpcErrorOptions) {
    super(message, details)
    this.length = details.length
    this.maxLength = details.maxLength
  }
}

/**
 * `recvBytesInto` was given a buffer too small for the message. The message
 * was taken: `.data` holds all of it.
 */
export class BufferTooShort extends IpcError {
  static override readonly code: string = 'IPC_BUFFER_TOO_SHORT'
  override name = 'BufferTooShort'
  /** The whole message. */
  readonly data: Uint8Array

  constructor(message: string, data: Uint8Array, options?: IpcErrorOptions) {
    super(message, options)
    this.data = data
  }
}

/** The other side has another `authkey`, or none when one was expected (or the reverse). No message passed. */
export class AuthenticationError extends IpcError {
  static override readonly code: string = 'IPC_AUTHENTICATION'
  override name = 'AuthenticationError'
}
