/**
 * Options of @ipc/pipe. Times are milliseconds; `timeout: undefined` waits
 * forever and `timeout: 0` does not wait.
 */

/**
 * The default `maxMessageSize` of `Pipe`, `Listener` and `Client`: 128 MiB. A
 * larger message is refused at its header, before anything is allocated.
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024

/** Options of `Pipe()`. */
export interface PipeOptions {
  /**
   * `true`: both ends send and receive. `false`: the first end only receives
   * and the second only sends, as Python's `Pipe(duplex=False)`.
   * @default true
   */
  duplex?: boolean
  /**
   * Bytes of shared memory for each direction, rounded up to a power of two
   * (at least 4096). A message larger than half of it still goes through, in
   * chunks; a sender waits while the other side has not read enough.
   * @default 262144 (256 KiB)
   */
  capacity?: number
  /**
   * Name of the pipe's shared memory, so `Connection.open(name, end)` can
   * attach from any process. Creating a name that exists throws ExistsError.
   * @default a random, unguessable name
   */
  name?: string
}

/** Options of every call that can wait. */
export interface WaitOptions {
  /**
   * How long to wait, in milliseconds; `0` does not wait. At the end the call
   * throws `TimeoutError` and nothing was sent or taken.
   * @default undefined (wait forever)
   */
  timeout?: number
  /** Aborting it rejects the call with `signal.reason`; nothing is sent or taken. */
  signal?: AbortSignal
}

/** Options of `send` and `sendSync`. */
export interface SendOptions extends WaitOptions {}

/** Options of `recv` and `recvSync`. */
export interface RecvOptions extends WaitOptions {}

/** Options of `recvBytes` and `recvBytesSync`. */
export interface RecvBytesOptions extends WaitOptions {
  /**
   * The longest message to accept, in bytes. A longer one throws
   * `MessageTooLongError` and stays in the pipe.
   * @default undefined (no limit)
   */
  maxLength?: number
}

/** Options of `wait(connections, options)`. */
export interface ConnectionWaitOptions {
  /**
   * How long to wait for one connection to become ready, in milliseconds;
   * at the end `wait` resolves with an empty array. `0` only looks.
   * @default undefined (wait forever)
   */
  timeout?: number
  /** Aborting it rejects `wait` with `signal.reason`. */
  signal?: AbortSignal
}

/** A shared secret: a string (UTF-8) or bytes. */
export type Authkey = string | Uint8Array

/** Options of `new Listener(address, options)`. */
export interface ListenerOptions {
  /**
   * The shared secret. Each side proves it knows the key with an HMAC-SHA256
   * challenge, as Python's `multiprocessing.connection`; a client with another
   * key, or none, is refused with `AuthenticationError`.
   * @default undefined (no authentication)
   */
  authkey?: Authkey
  /**
   * How many connected clients may wait for `accept()` before new ones are
   * refused.
   * @default 128
   */
  backlog?: number
}

/** Options of `listener.accept(options)`. */
export interface AcceptOptions extends WaitOptions {}

/** Options of `Client(address, options)`. */
export interface ClientOptions extends WaitOptions {
  /**
   * The shared secret; it must equal the listener's (both or neither have one).
   * @default undefined (no authentication)
   */
  authkey?: Authkey
}
