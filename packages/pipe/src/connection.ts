/**
 * Connection: one end of a Pipe (shared memory) or of a Listener/Client
 * connection (shared memory locally, a socket over TCP). Python's
 * `multiprocessing.connection.Connection`.
 */
import { ClosedError, CorruptError, IpcError, ValueError } from '@ipc/core'
import {
  checkHandle,
  checkOptionsObject,
  checkWaitOptions,
  deadlineOf,
  decodePayload,
  decodeUntrusted,
  type Encoded,
  encode,
  invalidArgType,
  type OptionNames,
  outOfRange,
  remaining,
  shown,
  TAG_BUFFER,
  TAG_BYTES,
  TAG_V8,
  TRANSFER,
  type TransferDescriptor,
  throwIfAborted,
  WAIT_OPTIONS,
} from '@ipc/core/internal'
import { BufferTooShort, EOFError, MessageTooLongError, TimeoutError } from './errors.js'
import {
  OPEN_OPTIONS,
  type OpenOptions,
  RECV_BYTES_OPTIONS,
  type RecvBytesOptions,
  type RecvOptions,
  type SendOptions,
} from './options.js'
import { unpickle } from './pickle-reader.js'
import { pickle } from './pickle-writer.js'
import { checkMaxMessageSize, PipeEnd } from './pipe-end.js'
import { SerialQueue } from './serial-queue.js'
import { SocketTransport, TAG_PYTHON } from './socket-transport.js'
import { END, type Message, NOTHING, type PipeHandle, RETRY, TAKE_GENERAL, type Transport } from './transport.js'

/** Internal: how `wait()` looks into a connection. */
export const READY_NOW: unique symbol = Symbol('readyNow') as never
/** Internal: how `wait()` waits on a connection. */
export const WAIT_READABLE: unique symbol = Symbol('waitReadable') as never

const RESOLVED = Promise.resolve()
const NONE: unique symbol = Symbol('none') as never
const EOF: unique symbol = Symbol('eof') as never

// How a message is handed out.
const AS_VALUE = 0
const AS_BYTES = 1
const AS_INTO = 2

function eofError(): EOFError {
  return new EOFError('Cannot receive: the other end was closed and every message was read')
}

function recvTimeout(): TimeoutError {
  return new TimeoutError('Cannot receive: no message arrived before the timeout')
}

function sendTimeoutInLine(): TimeoutError {
  return new TimeoutError('Cannot send: earlier sends on this connection were still waiting at the timeout')
}

/** True for a message whose bytes are handed out as they are: sendBytes data, or a frame of CPython's wire. */
function isRaw(tag: number): boolean {
  return tag === TAG_BYTES || tag === TAG_BUFFER || tag === TAG_PYTHON
}

/** Length of a message as `recvBytes` returns it: raw bytes, or the `serialize()` form (tag + payload). */
function bytesLength(length: number, tag: number): number {
  return isRaw(tag) ? length : length + 1
}

/** The message as bytes: the payload of a byte message, else its `serialize()` form. Copies unless `owned`. */
function bytesOf(msg: Message): Uint8Array {
  const length = msg.end - msg.start
  if (isRaw(msg.tag)) {
    if (msg.owned) return new Uint8Array(msg.source.buffer, msg.source.byteOffset + msg.start, length)
    return new Uint8Array(msg.source.subarray(msg.start, msg.end))
  }
  const out = new Uint8Array(length + 1)
  out[0] = msg.tag
  out.set(msg.source.subarray(msg.start, msg.end), 1)
  return out
}

/**
 * Revives a message. A payload the codec cannot revive is corrupt (CorruptError
 * from a pipe end). A frame of CPython's wire is a pickle: DataCloneError or
 * CorruptError (unpickle throws nothing else) when it is not plain data or is
 * over a budget, and the connection goes on. A socket's messages go through
 * `decodeUntrusted` (every value is held to its heap budget, a v8 payload
 * scanned first: CorruptError when refused, and the connection goes on).
 */
function messageValue(msg: Message, t: Transport): unknown {
  // Only CPython's wire carries pickles: on ours, a peer's first byte 0x80 is an unknown tag (CorruptError below).
  if (msg.tag === TAG_PYTHON && t instanceof SocketTransport && t.python)
    return unpickle(msg.source, msg.start, msg.end)
  if (msg.owned && msg.start === 0 && msg.end === msg.source.byteLength) {
    if (msg.tag === TAG_BUFFER) return msg.source
    if (msg.tag === TAG_BYTES) return new Uint8Array(msg.source.buffer, msg.source.byteOffset, msg.source.byteLength)
  }
  try {
    if (t.untrusted) return decodeUntrusted(msg.tag, msg.source, msg.start, msg.end)
    return decodePayload(msg.tag, msg.source, msg.start, msg.end)
  } catch (error) {
    // decodeUntrusted wraps a decoder's own failure (a RegExp V8 will not compile) as CorruptError
    // with it as cause: it gets this transport's context, as on a trusted end; a refusal of a check passes as is.
    const own = error instanceof CorruptError && error.cause !== undefined && !(error.cause instanceof IpcError)
    const failure = own ? (error as CorruptError).cause : error
    if (t.corrupt === undefined || failure instanceof IpcError) throw error
    throw t.corrupt(`a message of ${msg.end - msg.start} bytes with tag ${msg.tag} cannot be revived`, failure)
  }
}

/** A byte view of `buf` (any ArrayBufferView or ArrayBuffer), for sendBytes/recvBytesInto. */
function byteView(buf: unknown, what: string): Uint8Array {
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  if (buf instanceof ArrayBuffer || buf instanceof SharedArrayBuffer) return new Uint8Array(buf)
  throw invalidArgType(
    `The "${what}" argument must be a TypedArray, DataView, Buffer or ArrayBuffer, received ${buf === null ? 'null' : typeof buf}`,
  )
}

function checkOffset(offset: unknown, length: number, name: string): number {
  if (offset === undefined) return 0
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > length)
    throw outOfRange(`The "${name}" argument must be an integer from 0 to ${length}, received ${shown(offset)}`)
  return offset
}

/** A snapshot of bytes the caller may change after the call returns. */
function snapshot(encoded: Encoded): Encoded {
  // Strings are immutable; v8 and pickle output is ours.
  if (encoded.bytes === undefined || encoded.tag === TAG_V8 || encoded.tag === TAG_PYTHON) return encoded
  return { ...encoded, bytes: Uint8Array.prototype.slice.call(encoded.bytes) as Uint8Array }
}

/**
 * One end of a two-way (or one-way) channel of messages: Python's
 * `multiprocessing.connection.Connection`. Get one from `Pipe()`,
 * `listener.accept()`, `Client()`, `Connection.from(handle)` or
 * `Connection.open(name, end)`.
 *
 * Guarantees:
 * - Messages arrive whole, once, in the order they were sent; any size (a
 *   message larger than the pipe's shared memory travels in chunks).
 * - A `recv` that times out or is aborted takes nothing; a `send` that times
 *   out or is aborted sends nothing (the receiver drops a message whose
 *   sending was abandoned part-way).
 * - When the other end closes, `recv` returns what is left, then throws
 *   `EOFError`; `send` throws `BrokenPipeError`. A process that dies (even by
 *   SIGKILL) closes its ends: a waiting peer wakes within about 100 ms.
 * - Between two processes on one machine, no syscall while both are busy.
 *
 * As in Python, two processes must not read (or write) the same end at the
 * same time. Calls on one Connection object are queued in order.
 *
 * @throws {ClosedError} any call after `close()`.
 * @example
 * ```ts
 * const [a, b] = Pipe<string>()
 * await a.send('ping')
 * await b.recv() // => 'ping'
 * a.close()
 * b.close()
 * ```
 */
export class Connection<T = unknown> implements AsyncIterable<T>, Disposable {
  readonly #t: Transport
  #closed = false
  readonly #rx = new SerialQueue()
  readonly #tx = new SerialQueue()
  readonly #closing = new AbortController()
  /** CPython's wire: `send` pickles (see ClientOptions.codec). */
  readonly #pickle: boolean

  /** @internal Use `Pipe()`, `Client()`, `listener.accept()` or `Connection.from()`. */
  constructor(transport: Transport) {
    if (!(transport instanceof PipeEnd) && !(transport instanceof SocketTransport))
      throw invalidArgType(
        'Connection cannot be constructed directly: use Pipe(), Client(), listener.accept() or Connection.from(handle)',
      )
    this.#t = transport
    this.#pickle = transport instanceof SocketTransport && transport.python
  }

  /** A value ready for the transport: the codec's form, or a pickle on CPython's wire. */
  #encode(obj: unknown): Encoded {
    if (!this.#pickle) return encode(obj)
    const bytes = pickle(obj)
    return { tag: TAG_PYTHON, size: bytes.byteLength, bytes, text: undefined }
  }

  /**
   * Attaches to the end a handle describes (from `.handle`, in another
   * thread or process). Close the original only once this one is open, or
   * the end counts as closed in between. The end's `maxMessageSize` is
   * `options.maxMessageSize`, else the handle's, else the default (128 MiB).
   *
   * @throws {NotFoundError} when the pipe no longer exists.
   * @throws {ClosedError} when that end was closed already.
   * @throws {CorruptError} when the pipe's shared memory breaks its layout.
   * @example
   * ```ts
   * const [a, b] = Pipe()
   * const again = Connection.from(b.handle)
   * ```
   */
  static from<T = unknown>(
    handle: PipeHandle | { kind: string; name: string; [k: string]: unknown },
    options?: OpenOptions,
  ): Connection<T> {
    checkOptionsObject(options, OPEN_OPTIONS)
    const h = checkHandle<PipeHandle>(handle, 'pipe')
    if (h.end !== 0 && h.end !== 1) throw outOfRange(`The handle's "end" must be 0 or 1, received ${shown(h.end)}`)
    const token = typeof h.token === 'number' && h.token > 0 ? h.token : undefined
    const maxMessageSize = checkMaxMessageSize(options?.maxMessageSize ?? h.maxMessageSize)
    return new Connection<T>(PipeEnd.open(h.name, h.end, token, maxMessageSize))
  }

  /**
   * Attaches to `end` (0 or 1) of the pipe created with `Pipe({ name })`.
   * This end accepts and sends messages up to `options.maxMessageSize`
   * bytes (default 128 MiB), whatever the creator chose.
   *
   * @throws {NotFoundError} when no pipe has that name.
   * @throws {CorruptError} when the pipe's shared memory breaks its layout.
   * @example
   * ```ts
   * const [a, b] = Pipe({ name: 'jobs-pipe' })
   * const other = Connection.open('jobs-pipe', 1, { maxMessageSize: 1024 * 1024 })
   * ```
   */
  static open<T = unknown>(name: string, end: 0 | 1, options?: OpenOptions): Connection<T> {
    return Connection.from<T>({ kind: 'pipe', name, end }, options)
  }

  /** The pipe's name, or `tcp://host:port` of the other side. */
  get name(): string {
    return this.#t.name
  }

  /** A plain JSON description; `Connection.from(handle)` attaches to the same end. TCP connections have none (TypeError). */
  get handle(): PipeHandle {
    return this.#t.handle()
  }

  /** True after `close()` on this object. */
  get closed(): boolean {
    return this.#closed
  }

  /** False for the sending end of a one-way pipe. */
  get readable(): boolean {
    return this.#t.readable
  }

  /** False for the receiving end of a one-way pipe. */
  get writable(): boolean {
    return this.#t.writable
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new ClosedError(`Cannot ${what}: the connection was closed`)
  }

  #checkWritable(what: string): void {
    this.#checkOpen(what)
    if (!this.#t.writable)
      throw new ValueError(`Cannot ${what}: this end only receives (the pipe was made with duplex: false)`)
  }

  #checkReadable(what: string): void {
    this.#checkOpen(what)
    if (!this.#t.readable)
      throw new ValueError(`Cannot ${what}: this end only sends (the pipe was made with duplex: false)`)
  }

  /** The caller's signal and this connection's close, as one signal; dispose when done. */
  #signal(signal: AbortSignal | undefined): { signal: AbortSignal; dispose(): void } {
    const closing = this.#closing.signal
    if (signal === undefined) return { signal: closing, dispose() {} }
    const both = new AbortController()
    const fromCaller = () => both.abort(signal.reason)
    const fromClose = () => both.abort(closing.reason)
    if (signal.aborted) fromCaller()
    else if (closing.aborted) fromClose()
    signal.addEventListener('abort', fromCaller, { once: true })
    closing.addEventListener('abort', fromClose, { once: true })
    return {
      signal: both.signal,
      dispose() {
        signal.removeEventListener('abort', fromCaller)
        closing.removeEventListener('abort', fromClose)
      },
    }
  }

  // ------------------------------------------------------------ sending

  /**
   * Sends a value (anything structured clone accepts). Resolves once the
   * value is in the pipe; waits while the pipe is full.
   *
   * @throws {BrokenPipeError} when the other end was closed.
   * @throws {DataCloneError} when the value cannot be cloned, or on CPython's wire is not plain data (nothing is sent).
   * @throws {MessageTooLongError} when the encoded value is over `maxMessageSize` (nothing is sent).
   * @throws {TimeoutError} when `timeout` passes while the pipe is full.
   * @throws {CorruptError} when the pipe's shared memory breaks its layout; the connection is unusable after.
   * @example
   * ```ts
   * await conn.send({ id: 1, tags: new Set(['a']) })
   * ```
   */
  send(obj: T, options?: SendOptions): Promise<void> {
    try {
      this.#checkWritable('send')
      const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
      throwIfAborted(signal)
      if (typeof obj === 'string' && !this.#pickle && this.#tx.idle && this.#t.trySendText?.(obj)) return RESOLVED
      return this.#send(this.#encode(obj), timeout, signal)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  #send(encoded: Encoded, timeout: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#tx.idle && this.#t.trySend(encoded)) return RESOLVED
    const deadline = deadlineOf(timeout)
    const kept = snapshot(encoded)
    const link = this.#signal(signal)
    return this.#tx
      .run(() => this.#t.send(kept, deadline, link.signal), link.signal, deadline, sendTimeoutInLine)
      .finally(link.dispose)
  }

  /**
   * Sends a value, blocking the thread while the pipe is full.
   *
   * @throws {BrokenPipeError} when the other end was closed.
   * @throws {TimeoutError} when `timeout` passes while the pipe is full. On a `tcp://` connection, when
   * it passes part-way through the message, the connection is closed too (a byte stream cannot take
   * the part back; later sends throw BrokenPipeError); and it is thrown at once, nothing sent, behind
   * async sends' messages the socket still queues past its high-water mark (they leave only while
   * the event loop runs).
   * @example
   * ```ts
   * conn.sendSync('done')
   * ```
   */
  sendSync(obj: T, options?: SendOptions): void {
    this.#checkWritable('send')
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    throwIfAborted(signal)
    if (typeof obj === 'string' && !this.#pickle && this.#t.trySendText?.(obj)) return
    this.#t.sendSync(this.#encode(obj), deadlineOf(timeout))
  }

  #bytesMessage(buf: unknown, offset: unknown, size: unknown): Encoded {
    const view = byteView(buf, 'buf')
    const start = checkOffset(offset, view.byteLength, 'offset')
    const count = size === undefined ? view.byteLength - start : checkOffset(size, view.byteLength - start, 'size')
    const bytes = view.subarray(start, start + count)
    return { tag: TAG_BYTES, size: bytes.byteLength, bytes, text: undefined }
  }

  /**
   * Sends raw bytes: `size` bytes of `buf` from `offset` (in bytes), with no
   * serialisation. `recvBytes` returns them; `recv` returns them as a
   * Uint8Array.
   *
   * @throws {RangeError} when `offset` or `size` is outside `buf`.
   * @throws {BrokenPipeError} when the other end was closed.
   * @example
   * ```ts
   * await conn.sendBytes(new TextEncoder().encode('hello'), 1, 3) // sends 'ell'
   * ```
   */
  sendBytes(
    buf: ArrayBufferView | ArrayBufferLike,
    offset?: number,
    size?: number,
    options?: SendOptions,
  ): Promise<void> {
    try {
      this.#checkWritable('send')
      const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
      throwIfAborted(signal)
      return this.#send(this.#bytesMessage(buf, offset, size), timeout, signal)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** `sendBytes`, blocking the thread while the pipe is full (over TCP, see `sendSync` for its timeout). */
  sendBytesSync(buf: ArrayBufferView | ArrayBufferLike, offset?: number, size?: number, options?: SendOptions): void {
    this.#checkWritable('send')
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    throwIfAborted(signal)
    this.#t.sendSync(this.#bytesMessage(buf, offset, size), deadlineOf(timeout))
  }

  // ------------------------------------------------------------ receiving

  /** Takes the next message if it is all here. Returns NONE or EOF otherwise. */
  #take(mode: number, maxLength: number, into: Uint8Array | undefined, intoOffset: number): unknown {
    const t = this.#t
    if (mode === AS_VALUE && t.takeValue !== undefined) {
      const v = t.takeValue()
      if (v !== TAKE_GENERAL) return v
    }
    for (;;) {
      const length = t.nextLength()
      if (length === END) return EOF
      if (length === NOTHING) return NONE
      if (mode === AS_BYTES && maxLength !== Number.POSITIVE_INFINITY) {
        const n = bytesLength(length, t.nextTag)
        if (n > maxLength)
          throw new MessageTooLongError(
            `Cannot receive: the message has ${n} bytes, more than maxLength ${maxLength}; it stays in the pipe`,
            { length: n, maxLength },
          )
      }
      const msg = t.takeMessage()
      if (msg === RETRY) continue
      if (msg === null) return NONE
      try {
        if (mode === AS_VALUE) return messageValue(msg, t)
        if (mode === AS_BYTES) return bytesOf(msg)
        const n = bytesLength(msg.end - msg.start, msg.tag)
        const room = (into as Uint8Array).byteLength - intoOffset
        if (n > room) {
          throw new BufferTooShort(
            `Cannot receive into the buffer: the message has ${n} bytes, the buffer has room for ${room}; the message is in .data`,
            bytesOf(msg),
          )
        }
        const target = into as Uint8Array
        if (isRaw(msg.tag)) target.set(msg.source.subarray(msg.start, msg.end), intoOffset)
        else {
          target[intoOffset] = msg.tag
          target.set(msg.source.subarray(msg.start, msg.end), intoOffset + 1)
        }
        return n
      } finally {
        t.drop()
      }
    }
  }

  #recvSync<O extends RecvOptions>(
    mode: number,
    maxLength: number,
    into: Uint8Array | undefined,
    offset: number,
    options: O | undefined,
    names: OptionNames<O>,
  ): unknown {
    this.#checkReadable('receive')
    const { timeout, signal } = checkWaitOptions(options, names)
    throwIfAborted(signal)
    const deadline = deadlineOf(timeout)
    for (;;) {
      const v = this.#take(mode, maxLength, into, offset)
      if (v === EOF) throw eofError()
      if (v !== NONE) return v
      if (this.#t.waitReadableSync(remaining(deadline)) === 'timed-out') throw recvTimeout()
    }
  }

  #recv<O extends RecvOptions>(
    mode: number,
    maxLength: number,
    into: Uint8Array | undefined,
    offset: number,
    options: O | undefined,
    names: OptionNames<O>,
  ): Promise<unknown> {
    try {
      this.#checkReadable('receive')
      const { timeout, signal } = checkWaitOptions(options, names)
      throwIfAborted(signal)
      const deadline = deadlineOf(timeout)
      // Spun and missed already: the wait below sleeps at once (spinning twice would
      // double the time the event loop is held).
      let spun = false
      if (this.#rx.idle) {
        let v = this.#take(mode, maxLength, into, offset)
        // The async wait's spin, before any promise exists: a reply within it costs no
        // promise hop (most of an async round trip's time otherwise).
        if (v === NONE && this.#t.spinReadable !== undefined) {
          if (this.#t.spinReadable(remaining(deadline))) v = this.#take(mode, maxLength, into, offset)
          else spun = true
        }
        if (v === EOF) throw eofError()
        if (v !== NONE) return Promise.resolve(v)
      }
      const link = this.#signal(signal)
      const all = link.signal
      return this.#rx
        .run(
          async () => {
            for (;;) {
              if (this.#closed) throw new ClosedError('Cannot receive: the connection was closed')
              const v = this.#take(mode, maxLength, into, offset)
              if (v === EOF) throw eofError()
              if (v !== NONE) return v
              const waited = await this.#t.waitReadable(remaining(deadline), all, spun)
              if (waited === 'timed-out') throw recvTimeout()
              spun = false
            }
          },
          all,
          deadline,
          recvTimeout,
        )
        .finally(link.dispose)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Receives the next value, waiting until one arrives.
   *
   * @throws {EOFError} when the other end closed and every message was read.
   * @throws {TimeoutError} when `timeout` passes first (nothing is taken).
   * @throws {MessageTooLongError} when the next message is over `maxMessageSize`: it is dropped unread.
   * @throws {DataCloneError} on CPython's wire (`codec: 'pickle'`), for a pickle holding more than plain
   * data (a class, a global, a reduce), whose builtin calls copy more than 4 values or bytes per byte
   * of it, that would build more than 32 bytes of heap per byte of it plus 1 MiB, or with an int over
   * 64 KiB; `CorruptError` for one that is malformed. Only that message is
   * dropped: the next `recv` returns the next one.
   * @throws {CorruptError} when the pipe's shared memory breaks its layout (within the timeout, never
   * a hang); the connection is unusable after, `close()` still works. On a `tcp://` connection, for a
   * message the codec cannot revive (empty, an unknown tag, nested too deep): only that message is
   * dropped.
   * @example
   * ```ts
   * const msg = await conn.recv({ timeout: 1000 })
   * ```
   */
  recv(options?: RecvOptions): Promise<T> {
    return this.#recv(AS_VALUE, Number.POSITIVE_INFINITY, undefined, 0, options, WAIT_OPTIONS) as Promise<T>
  }

  /**
   * Receives the next value, blocking the thread until one arrives.
   *
   * @throws {EOFError} when the other end closed and every message was read.
   * @throws {TimeoutError} when `timeout` passes first.
   * @example
   * ```ts
   * const msg = conn.recvSync({ timeout: 1000 })
   * ```
   */
  recvSync(options?: RecvOptions): T {
    // The common case without `#recvSync`'s set-up: no options, and a whole message is here.
    if (options === undefined && !this.#closed && this.#t.readable && this.#t.takeValue !== undefined) {
      const v = this.#t.takeValue()
      if (v !== TAKE_GENERAL) return v as T
    }
    return this.#recvSync(AS_VALUE, Number.POSITIVE_INFINITY, undefined, 0, options, WAIT_OPTIONS) as T
  }

  #maxLength(options: RecvBytesOptions | undefined): number {
    const m = options?.maxLength
    if (m === undefined) return Number.POSITIVE_INFINITY
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 0)
      throw outOfRange(`The "maxLength" option must be a non-negative integer, received ${shown(m)}`)
    return m
  }

  /**
   * Receives the next message as bytes: what `sendBytes` sent, or for a
   * value sent with `send` its `serialize()` form (`deserialize` revives it).
   *
   * @throws {MessageTooLongError} when the message is longer than `maxLength`; it stays in the pipe.
   * @throws {EOFError} when the other end closed and every message was read.
   * @example
   * ```ts
   * const bytes = await conn.recvBytes({ maxLength: 1024 })
   * ```
   */
  recvBytes(options?: RecvBytesOptions): Promise<Uint8Array> {
    try {
      return this.#recv(
        AS_BYTES,
        this.#maxLength(options),
        undefined,
        0,
        options,
        RECV_BYTES_OPTIONS,
      ) as Promise<Uint8Array>
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** `recvBytes`, blocking the thread. */
  recvBytesSync(options?: RecvBytesOptions): Uint8Array {
    return this.#recvSync(AS_BYTES, this.#maxLength(options), undefined, 0, options, RECV_BYTES_OPTIONS) as Uint8Array
  }

  /**
   * Receives the next message's bytes into `buf` from `offset` (in bytes);
   * resolves with the byte count.
   *
   * @throws {BufferTooShort} when the message does not fit; it is taken and its bytes are in `.data`.
   * @throws {EOFError} when the other end closed and every message was read.
   * @example
   * ```ts
   * const buf = new Uint8Array(4096)
   * const n = await conn.recvBytesInto(buf)
   * ```
   */
  recvBytesInto(buf: ArrayBufferView | ArrayBufferLike, offset?: number, options?: RecvOptions): Promise<number> {
    try {
      const view = byteView(buf, 'buf')
      const at = checkOffset(offset, view.byteLength, 'offset')
      return this.#recv(AS_INTO, Number.POSITIVE_INFINITY, view, at, options, WAIT_OPTIONS) as Promise<number>
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** `recvBytesInto`, blocking the thread. */
  recvBytesIntoSync(buf: ArrayBufferView | ArrayBufferLike, offset?: number, options?: RecvOptions): number {
    const view = byteView(buf, 'buf')
    const at = checkOffset(offset, view.byteLength, 'offset')
    return this.#recvSync(AS_INTO, Number.POSITIVE_INFINITY, view, at, options, WAIT_OPTIONS) as number
  }

  // ------------------------------------------------------------ polling

  /** True when a receive would not wait: a message is (starting to be) here, or the other end closed. */
  [READY_NOW](): boolean {
    this.#checkReadable('poll')
    return this.#t.nextLength() !== NOTHING
  }

  /**
   * Waits until `[READY_NOW]()` is true; false at the timeout. Looks at what
   * woke it (so a corrupt record throws here, and skipped leftovers do not
   * count as a message); each look that finds nothing left means the ring
   * is empty, so the next wait sleeps.
   */
  async [WAIT_READABLE](timeout: number, signal: AbortSignal | undefined): Promise<boolean> {
    if (this[READY_NOW]()) return true
    const deadline = deadlineOf(timeout)
    const link = this.#signal(signal)
    try {
      for (;;) {
        if ((await this.#t.waitReadable(remaining(deadline), link.signal)) === 'timed-out') return false
        if (this[READY_NOW]()) return true
      }
    } finally {
      link.dispose()
    }
  }

  #pollTimeout(timeout: number | null | undefined): number {
    if (timeout === null) return Number.POSITIVE_INFINITY
    if (timeout === undefined) return 0
    return checkWaitOptions({ timeout }, WAIT_OPTIONS).timeout
  }

  /**
   * Whether a message is ready to be received, waiting up to `timeout` ms
   * for one. As in Python, no `timeout` means do not wait, and `null` (or
   * `Infinity`) waits forever. True also when the other end closed (the next
   * receive throws EOFError at once); an end whose last holder died counts
   * as closed within about 100 ms, also for a poll that does not wait.
   *
   * @example
   * ```ts
   * if (await conn.poll(100)) console.log(await conn.recv())
   * ```
   */
  async poll(timeout?: number | null): Promise<boolean> {
    const ms = this.#pollTimeout(timeout)
    return this[WAIT_READABLE](ms, undefined)
  }

  /** `poll`, blocking the thread. */
  pollSync(timeout?: number | null): boolean {
    const ms = this.#pollTimeout(timeout)
    if (this[READY_NOW]()) return true
    const deadline = deadlineOf(ms)
    for (;;) {
      if (this.#t.waitReadableSync(remaining(deadline)) === 'timed-out') return false
      if (this[READY_NOW]()) return true
    }
  }

  // ------------------------------------------------------------ lifecycle

  /**
   * Closes this end in this process. Idempotent. Pending calls on this object
   * reject with ClosedError. The other side sees EOF / BrokenPipe once no
   * other process holds this end.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#closing.abort(new ClosedError('The connection was closed while a call waited on it'))
    this.#t.close()
  }

  [Symbol.dispose](): void {
    this.close()
  }

  /** Receives until the other end closes (EOF) or this one is closed. */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    const done: IteratorReturnResult<undefined> = { value: undefined, done: true }
    const onError = (error: unknown): IteratorResult<T> => {
      if (error instanceof EOFError || this.#closed) return done
      throw error
    }
    const iterator: AsyncIterableIterator<T> = {
      next: () => this.recv().then((value): IteratorResult<T> => ({ value, done: false }), onError),
      return: () => Promise.resolve(done),
      [Symbol.asyncIterator]: () => iterator,
    }
    return iterator
  }

  /** How `Process` passes this end to a child: it stays open until the child attaches. */
  [TRANSFER](): TransferDescriptor {
    this.#checkOpen('transfer')
    return { module: import.meta.url, export: 'Connection', handle: this.#t.transferHandle() }
  }
}
