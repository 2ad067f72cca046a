/**
 * Options of @ipc/pipe. Times are milliseconds; `timeout: undefined` waits
 * forever and `timeout: 0` does not wait.
 */
import { optionNames } from '@ipc/core/internal'

/**
 * The default `maxMessageSize` of `Pipe()` and of ends opened by name: 128 MiB.
 * A larger message is refused at its header, before anything is allocated.
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024

/**
 * The default `maxMessageSize` of `Listener` and `Client`: 32 MiB. Their
 * peer may be a stranger (any local user reaches a listener without an
 * authkey), and decoding a message builds more heap than its bytes: up to
 * about 50 times them for a pickle (see `ListenerOptions.maxMessageSize`),
 * so 32 MiB keeps one message under 2 GiB of heap, where 128 MiB could
 * exhaust Node's default heap. CPython's own documentation warns that
 * pickles of about 32 MiB and more may fail.
 */
export const DEFAULT_PEER_MAX_MESSAGE_SIZE = 32 * 1024 * 1024

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
  /**
   * The longest message either end sends or accepts, in bytes of its
   * encoded form (a byte message's length; for other values, what
   * `serialize()` returns minus its one tag byte). From 1 to 2^32.
   *
   * - `send` of a longer message throws `MessageTooLongError` before
   *   anything is written.
   * - A receiver refuses a longer message at its header, before allocating
   *   anything: the receive throws `MessageTooLongError`, the message is
   *   dropped (its remaining pieces are skipped as they arrive), and the
   *   next receive returns the message after it.
   *
   * Each end keeps its own limit: `Connection.open(name, end, { maxMessageSize })`
   * sets it for an end opened by name, and a `.handle` carries it to
   * `Connection.from(handle)` (and to `Process` children).
   * @default DEFAULT_MAX_MESSAGE_SIZE (134217728, 128 MiB)
   * @example
   * ```ts
   * const [a, b] = Pipe<Uint8Array>({ maxMessageSize: 1024 * 1024 })
   * ```
   */
  maxMessageSize?: number
}

/** Options of `Connection.open(name, end, options)` and `Connection.from(handle, options)`. */
export interface OpenOptions {
  /**
   * The longest message this end sends or accepts (see `PipeOptions.maxMessageSize`).
   * @default the handle's, else DEFAULT_MAX_MESSAGE_SIZE (128 MiB)
   */
  maxMessageSize?: number
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

/**
 * What a `tcp://` connection speaks. `'ipc'`: the @ipc protocol (a hello
 * frame, HMAC-SHA256 both ways, tagged frames; Node to Node). `'python'`:
 * CPython's `multiprocessing.connection` wire, byte for byte, so a Python
 * `Listener`/`Client` is the other side.
 */
export type WireProtocol = 'ipc' | 'python'

/**
 * How `send`/`recv` turn values into bytes on a `protocol: 'python'`
 * connection. `'pickle'`: Python's pickle, plain data only (see the README:
 * None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset).
 */
export type WireCodec = 'pickle'

/** The options shared by `Listener` and `Client` that choose CPython's wire. */
export interface PythonWireOptions {
  /**
   * `'python'` speaks CPython's `multiprocessing.connection` protocol on a
   * `tcp://` address: its framing (4-byte big-endian length, or -1 and an
   * 8-byte length), its authentication both ways (the HMAC-MD5 of Python
   * <= 3.11 and the `{sha256}` digests of 3.12+), no @ipc hello or tag byte.
   * `send`/`recv` then exchange pickles and `sendBytes`/`recvBytes` Python's
   * `send_bytes`/`recv_bytes` frames. Both ends must agree: an @ipc peer
   * and a Python peer cannot tell each other's handshake apart from a
   * message. A local name with `'python'` throws `TypeError`.
   * @default 'ipc', or 'python' when `codec` is 'pickle'
   * @example Client('tcp://127.0.0.1:6000', { protocol: 'python', authkey: 'secret' })
   */
  protocol?: WireProtocol
  /**
   * `'pickle'`: `send`/`recv` exchange Python's `send(obj)`/`recv()` for
   * plain data; it implies `protocol: 'python'`. A received pickle that
   * holds anything else (a class instance, a global, a reduce), or would
   * copy more than 4 values or bytes per byte of it, or would build more
   * than 32 bytes of heap per byte of it plus 1 MiB (CPython's pickles of
   * plain data take 4 to 20), or holds an int over 64 KiB, is refused with
   * `DataCloneError` and the connection goes on.
   * The only codec of
   * `protocol: 'python'`.
   * @default undefined ('pickle' when `protocol` is 'python')
   * @example new Listener('tcp://127.0.0.1:6000', { codec: 'pickle', authkey: 'secret' })
   */
  codec?: WireCodec
}

/** Options of `new Listener(address, options)`. */
export interface ListenerOptions extends PythonWireOptions {
  /**
   * The shared secret. Each side proves it knows the key with an HMAC-SHA256
   * challenge, as Python's `multiprocessing.connection` (with `protocol:
   * 'python'`, exactly CPython's challenge, see `protocol`); a client with another
   * key, or none, is dropped (see `onHandshakeError`) and gets
   * `AuthenticationError`. An empty key throws `TypeError`. A `tcp://`
   * listener on an address that is not loopback requires one, unless
   * `insecure` is set.
   * @default undefined (no authentication)
   * @example new Listener('tcp://0.0.0.0:6000', { authkey: process.env.JOBS_KEY })
   */
  authkey?: Authkey
  /**
   * How many authenticated clients may wait for `accept()`; when that many
   * wait, new clients are disconnected. Clients still in their handshake do
   * not count (see `maxPendingHandshakes`).
   * @default 128
   */
  backlog?: number
  /**
   * The longest message the listener's end of each connection accepts or
   * sends, in bytes. On `tcp://` a frame whose header announces more is
   * refused at the header, before anything is allocated: `recv` throws
   * `MessageTooLongError` and the connection is closed. A local connection is
   * a pipe whose end here has this limit (see `PipeOptions.maxMessageSize`).
   * Sending a longer message throws `MessageTooLongError` and sends nothing.
   * On CPython's wire, reading a pickle of n bytes builds at most 32n + 1 MiB
   * bytes of heap (see `codec`); with its parse stack, up to about 50n: keep
   * this limit under a 50th of the heap the process can spare.
   * @default DEFAULT_PEER_MAX_MESSAGE_SIZE (33554432, 32 MiB)
   * @example new Listener('tcp://127.0.0.1:6000', { maxMessageSize: 1024 * 1024 })
   */
  maxMessageSize?: number
  /**
   * Milliseconds a client has, from its connection, to complete the
   * handshake; a silent or slow one is dropped. `Infinity` disables it.
   * @default 10000
   * @example new Listener('jobs', { handshakeTimeout: 2000 })
   */
  handshakeTimeout?: number
  /**
   * How many clients may be in their handshake at once (they run
   * concurrently). A new connection beyond it drops the oldest pending one,
   * so strangers that stay silent cannot lock a real client out.
   * @default 64
   */
  maxPendingHandshakes?: number
  /**
   * Called with the reason each time a client is dropped before it was
   * accepted: `AuthenticationError` (wrong or missing key, not the @ipc
   * protocol), `TimeoutError` (`handshakeTimeout`), `MessageTooLongError` (a
   * handshake frame over 256 bytes), `EOFError` (it hung up) or `IpcError`
   * (too many pending handshakes). A failed handshake never rejects
   * `accept()` nor ends `for await (… of listener)`.
   * @default undefined (failed handshakes are dropped silently)
   * @example new Listener('tcp://127.0.0.1:6000', { authkey, onHandshakeError: (error) => console.warn(error.message) })
   */
  onHandshakeError?: (error: Error) => void
  /**
   * `true` allows a `tcp://` listener without `authkey` on an address that is
   * not loopback (not 127.0.0.0/8, ::1 or localhost). Without a key anyone who
   * reaches the port can send values this process deserializes.
   * @default false
   */
  insecure?: boolean
}

/** Options of `listener.accept(options)`. */
export interface AcceptOptions extends WaitOptions {}

/** Options of `Client(address, options)`. */
export interface ClientOptions extends WaitOptions, PythonWireOptions {
  /**
   * The shared secret; it must equal the listener's (both or neither have one).
   * An empty key throws `TypeError`.
   * @default undefined (no authentication)
   */
  authkey?: Authkey
  /**
   * The longest message the client's end accepts or sends, in bytes; as
   * `ListenerOptions.maxMessageSize`.
   * @default DEFAULT_PEER_MAX_MESSAGE_SIZE (33554432, 32 MiB)
   */
  maxMessageSize?: number
  /**
   * Milliseconds the listener has, once the connection is made, to complete
   * the handshake; then `Client` throws `TimeoutError`. `timeout` still
   * bounds the whole call. `Infinity` disables it.
   * @default 10000
   */
  handshakeTimeout?: number
}

/** The option names of each options type (an unknown name is a TypeError). */
export const PIPE_OPTIONS = optionNames<PipeOptions>({ duplex: true, capacity: true, name: true, maxMessageSize: true })
export const OPEN_OPTIONS = optionNames<OpenOptions>({ maxMessageSize: true })
export const RECV_BYTES_OPTIONS = optionNames<RecvBytesOptions>({ maxLength: true, timeout: true, signal: true })
export const LISTENER_OPTIONS = optionNames<ListenerOptions>({
  protocol: true,
  codec: true,
  authkey: true,
  backlog: true,
  maxMessageSize: true,
  handshakeTimeout: true,
  maxPendingHandshakes: true,
  onHandshakeError: true,
  insecure: true,
})
export const CLIENT_OPTIONS = optionNames<ClientOptions>({
  timeout: true,
  signal: true,
  protocol: true,
  codec: true,
  authkey: true,
  maxMessageSize: true,
  handshakeTimeout: true,
})
