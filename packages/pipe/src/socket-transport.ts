/**
 * A connection over a stream socket (TCP; also the Unix socket that meets a
 * local listener, during the handshake): length-prefixed frames (framing.ts)
 * whose payload is the codec tag and the value's bytes.
 *
 * Until `beginMessages()` the transport is in handshake mode: it parses no
 * byte the handshake did not ask for. Each `readFrame(maxLength)` parses one
 * frame, refusing a header over `maxLength` before allocating anything, and
 * puts the bytes after that frame back into the socket. So a stranger can make
 * it hold at most the socket's own buffer and one small frame, and a message
 * sent right after the handshake is parsed with the message limit, not the
 * handshake's. After `beginMessages()` frames are parsed as they arrive, up to
 * `maxMessageSize` (+1 byte for the codec tag) each.
 *
 * With `python: true` (CPython's `multiprocessing.connection` wire) a frame's
 * payload is the message itself, with no codec tag: such messages report tag
 * TAG_PYTHON, sends write the payload alone, and the limit after the
 * handshake is `maxMessageSize` exactly.
 *
 * Async calls use Node's socket events. The `…Sync` calls cannot wait for
 * the event loop, so they read and write the socket's file descriptor
 * directly, polling every millisecond while the kernel has nothing (Linux and
 * other Unix systems; elsewhere they throw).
 */
import { readSync, writevSync } from 'node:fs'
import type { Socket } from 'node:net'
import { ClosedError, CorruptError, IpcError } from '@ipc/core'
import { afterTimeout, type Encoded, onAbort, type RingWaitResult, remaining, writePayload } from '@ipc/core/internal'
import { BrokenPipeError, EOFError, MessageTooLongError, TimeoutError } from './errors.js'
import { FrameReader, frameHeader } from './framing.js'
import { END, type Message, NOTHING, type PipeHandle, type RETRY, type Transport } from './transport.js'

/**
 * The tag of a message that came on CPython's wire: the frame's bytes as
 * Python sent them (`send_bytes` data, or a pickle from `send`). Outside the
 * codec's tags (1..TAG_MAX), so no core codec path takes it for its own.
 */
export const TAG_PYTHON = 0x80

/**
 * Stop reading from the socket while whole frames worth this many bytes wait
 * to be received (payloads plus FRAME_COST each: 131,072 empty frames at
 * most). The socket then stops reading from the kernel, and the peer's
 * writes wait: back-pressure.
 */
export const HIGH_WATER = 16 * 1024 * 1024
const sleepCell = new Int32Array(new SharedArrayBuffer(4))

function sleepMs(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms)
}

function isGone(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code
  return (
    code === 'EPIPE' ||
    code === 'ECONNRESET' ||
    code === 'ECONNABORTED' ||
    code === 'ENOTCONN' ||
    code === 'ERR_STREAM_DESTROYED' ||
    code === 'ERR_STREAM_WRITE_AFTER_END'
  )
}

export class SocketTransport implements Transport {
  readonly readable = true
  readonly writable = true
  readonly untrusted = true
  readonly name: string
  readonly socket: Socket
  readonly reader = new FrameReader(0)
  nextTag = 0
  readonly #maxMessageSize: number
  /** CPython's wire: frames carry no codec tag (see the file comment). */
  readonly python: boolean
  /** `#pull` stopped at HIGH_WATER with the socket not read to its end. */
  #throttled = false
  /** Parse only what `readFrame` asks for (see the file comment). */
  #handshaking = true
  /** No frame will arrive after those buffered. */
  #ended = false
  /** Sending fails from now on. */
  #peerGone = false
  /** A sync send's timeout cut a frame, and the socket was destroyed (`#breakMidFrame`). */
  #brokenMidFrame = false
  #closed = false
  #failure: Error | undefined
  readonly #wakers = new Set<() => void>()
  #scratch: Buffer | undefined

  /**
   * `maxMessageSize`: the longest message accepted after `beginMessages()`,
   * in bytes. `python`: CPython's wire (untagged frames).
   */
  constructor(socket: Socket, name: string, maxMessageSize: number, python = false) {
    this.socket = socket
    this.name = name
    this.#maxMessageSize = maxMessageSize
    this.python = python
    socket.setNoDelay?.(true)
    socket.on('readable', () => {
      if (this.#handshaking) this.#wake()
      else this.#pull()
    })
    socket.on('end', () => {
      this.#ended = true
      this.#peerGone = true
      this.#wake()
    })
    socket.on('close', () => {
      this.#ended = true
      this.#peerGone = true
      this.#wake()
    })
    socket.on('error', (error) => {
      if (!isGone(error)) this.#failure = error
      this.#ended = true
      this.#peerGone = true
      this.#wake()
    })
  }

  /** Ends handshake mode: from now on frames are messages of at most `maxMessageSize` bytes. */
  beginMessages(): void {
    this.#handshaking = false
    this.reader.maxLength = this.python ? this.#maxMessageSize : this.#maxMessageSize + 1
    this.#pull()
  }

  /** Moves what the socket has read into frames, up to HIGH_WATER. */
  #pull(): void {
    if (this.#handshaking) return
    this.#throttled = false
    for (;;) {
      if (this.reader.bufferedBytes >= HIGH_WATER && this.reader.length > 0) {
        // Not read to the end: no 'readable' event comes until `drop` pulls again.
        this.#throttled = true
        break
      }
      const chunk = this.socket.read() as Buffer | null
      if (chunk === null) break
      this.#push(chunk)
    }
    if (this.reader.length > 0) this.#wake()
  }

  /** Handshake mode: parses at most one frame, and puts the bytes after it back. */
  #pullOne(): void {
    while (this.reader.length === 0 && this.#failure === undefined) {
      const chunk = this.socket.read() as Buffer | null
      if (chunk === null) return
      const used = this.#push(chunk, 1)
      if (used < chunk.byteLength && this.#failure === undefined) this.socket.unshift(chunk.subarray(used))
    }
  }

  /** Parses `chunk`; a bad or too long header fails the stream and destroys the socket. Returns the bytes used. */
  #push(chunk: Uint8Array, maxFrames?: number): number {
    try {
      return this.reader.push(chunk, maxFrames)
    } catch (error) {
      this.#failure = this.#readError(error)
      this.#ended = true
      this.#peerGone = true
      this.socket.destroy()
      this.#wake()
      return chunk.byteLength
    }
  }

  #readError(error: unknown): Error {
    if (!(error instanceof MessageTooLongError))
      return new IpcError(
        `Cannot receive from ${this.name}: the stream is not ${this.python ? 'a multiprocessing.connection' : 'an @ipc'} connection`,
        { cause: error },
      )
    if (this.#handshaking)
      return new MessageTooLongError(
        `Cannot receive from ${this.name}: the other side announced a frame of ${error.length} bytes during the handshake, where at most ${error.maxLength} are expected; the connection was closed`,
        { length: error.length, maxLength: error.maxLength, cause: error },
      )
    const length = this.python ? error.length : error.length - 1
    return new MessageTooLongError(
      `Cannot receive from ${this.name}: the other side announced a message of ${length} bytes, more than maxMessageSize ${this.#maxMessageSize}; the connection was closed`,
      { length, maxLength: this.#maxMessageSize, cause: error },
    )
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake()
  }

  #fd(what: string): number {
    const fd = (this.socket as unknown as { _handle?: { fd?: number } })._handle?.fd
    if (typeof fd !== 'number' || fd < 0)
      throw new IpcError(
        `Cannot ${what} synchronously on ${this.name}: the socket has no file descriptor on this platform; use the async call`,
      )
    return fd
  }

  handle(): PipeHandle {
    throw Object.assign(
      new TypeError(
        `Cannot make a handle for ${this.name}: a socket connection cannot be passed to another process; connect from there`,
      ),
      { code: 'ERR_INVALID_ARG_VALUE' },
    )
  }

  transferHandle(): PipeHandle {
    return this.handle()
  }

  // ------------------------------------------------------------ receiving

  nextLength(): number {
    const f = this.reader.first()
    if (f !== undefined) {
      if (this.python) {
        this.nextTag = TAG_PYTHON
        return f.byteLength
      }
      this.nextTag = f.byteLength > 0 ? (f[0] as number) : 0
      return Math.max(0, f.byteLength - 1)
    }
    if (this.#failure !== undefined && this.#ended) throw this.#failure
    return this.#ended ? END : NOTHING
  }

  takeMessage(): Message | null | typeof RETRY {
    const f = this.reader.first() as Buffer
    const start = this.python ? 0 : Math.min(1, f.byteLength)
    return { tag: this.nextTag, source: f, start, end: f.byteLength, owned: false }
  }

  drop(): void {
    this.reader.shift()
    // Half the mark: one read per many frames taken, not one per frame.
    if (this.#throttled && this.reader.bufferedBytes < HIGH_WATER / 2) this.#pull()
  }

  #readyState(): RingWaitResult | undefined {
    if (this.reader.length > 0) return 'ready'
    if (this.#ended) return 'closed'
    return undefined
  }

  waitReadable(timeout: number, signal: AbortSignal): Promise<RingWaitResult> {
    return this.#waitFor(() => this.#readyState(), timeout, signal)
  }

  #waitFor<R>(ready: () => R | undefined, timeout: number, signal: AbortSignal | undefined): Promise<R | 'timed-out'> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    const now = ready()
    if (now !== undefined) return Promise.resolve(now)
    if (timeout <= 0) return Promise.resolve('timed-out')
    return new Promise((resolve, reject) => {
      let cancelTimer = () => {}
      const done = () => {
        this.#wakers.delete(wake)
        cancelTimer()
        removeAbort()
      }
      const wake = () => {
        const r = ready()
        if (r === undefined) return
        done()
        resolve(r)
      }
      const removeAbort = onAbort(signal, () => {
        done()
        reject(signal?.reason)
      })
      cancelTimer = afterTimeout(timeout, () => {
        done()
        resolve('timed-out')
      })
      this.#wakers.add(wake)
    })
  }

  waitReadableSync(timeout: number): RingWaitResult {
    const deadline = timeout === Number.POSITIVE_INFINITY ? timeout : performance.now() + timeout
    for (let round = 0; ; round++) {
      const state = this.#readyState()
      if (state !== undefined) return state
      // Data the stream read already, then the kernel's.
      const before = this.reader.length
      this.#pull()
      if (this.reader.length > before) continue
      if (this.#closed) return 'closed'
      if (this.#readFd()) continue
      const left = remaining(deadline)
      if (left <= 0) return 'timed-out'
      if (round > 50) sleepMs(Math.min(1, left))
    }
  }

  /** One non-blocking read of the file descriptor; true when it made progress (data or the end). */
  #readFd(): boolean {
    const fd = this.#fd('receive')
    this.#scratch ??= Buffer.allocUnsafe(256 * 1024)
    let n: number
    try {
      n = readSync(fd, this.#scratch, 0, this.#scratch.byteLength, null)
    } catch (error) {
      const code = (error as { code?: string }).code
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false
      if (!isGone(error)) this.#failure = error as Error
      this.#ended = true
      this.#peerGone = true
      return true
    }
    if (n === 0) {
      this.#ended = true
      this.#peerGone = true
      return true
    }
    this.#push(Buffer.from(this.#scratch.subarray(0, n)))
    return true
  }

  /**
   * A message the codec cannot revive (no tag, an unknown tag, a value too
   * deep to decode): CorruptError. The frames around it are whole, so only
   * that message is lost; the connection goes on.
   */
  corrupt(detail: string, cause?: unknown): CorruptError {
    return new CorruptError(
      `Cannot receive from ${this.name}: ${detail}; the message was dropped`,
      cause === undefined ? undefined : { cause },
    )
  }

  // ------------------------------------------------------------ raw frames (handshake)

  /**
   * Handshake mode: the next frame's payload, parsed with `maxLength` as its
   * limit. Rejects with MessageTooLongError (the socket is then destroyed)
   * for a longer header, EOFError when the other side closes first.
   */
  async readFrame(maxLength: number, timeout: number, signal: AbortSignal | undefined, what: string): Promise<Buffer> {
    if (!this.#handshaking) throw new Error('readFrame() after beginMessages()')
    this.reader.maxLength = maxLength
    const r = await this.#waitFor(
      () => {
        this.#pullOne()
        return this.#readyState()
      },
      timeout,
      signal,
    )
    if (r === 'timed-out') throw new TimeoutError(`${what}: no answer within the timeout`)
    const f = this.reader.shift()
    if (f !== undefined) return f
    if (this.#failure !== undefined) throw this.#failure
    throw new EOFError(`${what}: the other side closed the connection`)
  }

  writeFrame(payload: Uint8Array): void {
    this.socket.write(Buffer.concat([frameHeader(payload.byteLength), payload]))
  }

  // ------------------------------------------------------------ sending

  /** A message over our own `maxMessageSize` is refused before sending: the other side would likely refuse it too. */
  #checkSize(encoded: Encoded): void {
    if (encoded.size > this.#maxMessageSize)
      throw new MessageTooLongError(
        `Cannot send: the message has ${encoded.size} bytes, more than maxMessageSize ${this.#maxMessageSize}; nothing was sent`,
        { length: encoded.size, maxLength: this.#maxMessageSize },
      )
  }

  /**
   * The frame as the buffers to write: a bytes payload is not copied (its
   * header and tag go first, in a buffer of their own); text is written
   * into one buffer with its header.
   */
  #framePartsOf(encoded: Encoded): Uint8Array[] {
    const bytes = encoded.bytes
    if (bytes === undefined) return [this.#frameOf(encoded)]
    this.#checkSize(encoded)
    return [this.#headed(encoded, 0), bytes]
  }

  #frameOf(encoded: Encoded): Buffer {
    this.#checkSize(encoded)
    const out = this.#headed(encoded, encoded.size)
    writePayload(encoded, out, out.byteLength - encoded.size)
    return out
  }

  /**
   * A buffer holding the frame's header for `encoded`, then its tag (the
   * @ipc wire; CPython's carries the payload alone: sendBytes data, or the
   * pickle `send` made), then `room` bytes left for the payload.
   */
  #headed(encoded: Encoded, room: number): Buffer {
    const tagBytes = this.python ? 0 : 1
    const header = frameHeader(encoded.size + tagBytes)
    const out = Buffer.allocUnsafe(header.byteLength + tagBytes + room)
    header.copy(out, 0)
    if (tagBytes === 1) out[header.byteLength] = encoded.tag
    return out
  }

  #checkSendable(): void {
    if (this.#closed) throw new ClosedError('Cannot send: the connection was closed')
    if (this.#brokenMidFrame)
      throw new BrokenPipeError(
        `Cannot send: the connection to ${this.name} was closed when a send gave up part-way through a message`,
      )
    if (this.#peerGone || this.socket.destroyed || this.socket.writableEnded)
      throw new BrokenPipeError(`Cannot send: ${this.name} closed the connection`)
  }

  trySend(encoded: Encoded): boolean {
    this.#checkSendable()
    if (this.socket.writableNeedDrain) return false
    this.socket.write(this.#frameOf(encoded))
    return true
  }

  /**
   * Writes the frame to the file descriptor while the thread blocks, so it
   * leaves even if the event loop never runs again before the next call.
   *
   * - Behind frames the stream still holds (async sends the kernel could not
   *   take yet): those leave only while the event loop runs, which this call
   *   blocks. So the frame is queued behind them when the stream is under its
   *   high-water mark, as `send` would; otherwise waiting is useless and it
   *   throws TimeoutError at once, nothing sent.
   * - A timeout that passes with part of the frame written cuts it: a byte
   *   stream cannot take bytes back, and the rest written later would be read
   *   as the next frame's start. The socket is destroyed (`#breakMidFrame`).
   * - With no timeout it waits while the peer does not read, as `send` does;
   *   the peer's close or reset ends it with BrokenPipeError.
   */
  sendSync(encoded: Encoded, deadline: number): void {
    this.#checkSendable()
    if (this.socket.writableLength > 0 || this.socket.connecting) {
      // `send`'s test. Neither it nor the queue can change during this call: the stream writes
      // what it holds only while the event loop runs. A refused message is never framed: a
      // caller that retries in a loop would otherwise copy it, and drop the copy, every time.
      if (!this.socket.writableNeedDrain) {
        this.socket.write(this.#frameOf(encoded))
        return
      }
      this.#checkSize(encoded)
      throw new TimeoutError(
        `Cannot send: ${this.socket.writableLength} bytes of earlier messages wait in the socket's queue, which empties only while the event loop runs and this call blocks it; nothing was sent`,
      )
    }
    const parts = this.#framePartsOf(encoded)
    const total = parts.reduce((sum, part) => sum + part.byteLength, 0)
    const fd = this.#fd('send')
    let off = 0
    while (off < total) {
      try {
        off += writevSync(fd, partsFrom(parts, off))
      } catch (error) {
        const code = (error as { code?: string }).code
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') {
          if (isGone(error)) {
            this.#peerGone = true
            throw new BrokenPipeError(`Cannot send: ${this.name} closed the connection`, { cause: error })
          }
          if (off > 0) this.#breakMidFrame()
          throw error
        }
        const left = remaining(deadline)
        if (left <= 0) {
          if (off === 0) throw new TimeoutError('Cannot send: the socket stayed full until the timeout')
          this.#breakMidFrame()
          throw new TimeoutError(
            `Cannot send: the socket stayed full until the timeout, part-way through the message (${off} of its ${total} bytes written); a message cut short cannot be taken back, so the connection to ${this.name} was closed`,
          )
        }
        sleepMs(Math.min(1, left))
      }
    }
  }

  /**
   * A frame was cut: the peer would read whatever comes next as the rest of
   * it. Destroys the socket, so the peer gets the end instead (the part it
   * got is never a message); later sends throw BrokenPipeError, receives
   * return the frames already read, then EOFError.
   */
  #breakMidFrame(): void {
    this.#brokenMidFrame = true
    this.#peerGone = true
    this.#ended = true
    this.#failure ??= new EOFError(
      `Cannot receive from ${this.name}: the connection was closed when a send gave up part-way through a message`,
    )
    this.socket.destroy()
    this.#wake()
  }

  async send(encoded: Encoded, deadline: number, signal: AbortSignal): Promise<void> {
    this.#checkSize(encoded)
    for (;;) {
      this.#checkSendable()
      if (!this.socket.writableNeedDrain) break
      const r = await this.#waitForDrain(remaining(deadline), signal)
      if (r === 'timed-out') throw new TimeoutError('Cannot send: the socket stayed full until the timeout')
    }
    this.socket.write(this.#frameOf(encoded))
  }

  #waitForDrain(timeout: number, signal: AbortSignal): Promise<'ready' | 'timed-out'> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason)
        return
      }
      const cancelTimer = afterTimeout(timeout, () => finish('timed-out'))
      const onEvent = () => finish('ready')
      const removeAbort = onAbort(signal, () => {
        cleanup()
        reject(signal.reason)
      })
      const cleanup = () => {
        cancelTimer()
        this.socket.off('drain', onEvent)
        this.socket.off('close', onEvent)
        removeAbort()
      }
      const finish = (r: 'ready' | 'timed-out') => {
        cleanup()
        resolve(r)
      }
      this.socket.on('drain', onEvent)
      this.socket.on('close', onEvent)
    })
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#ended = true
    if (!this.socket.destroyed) this.socket.end(() => this.socket.destroy())
    // A peer that never reads must not keep the socket alive.
    setTimeout(() => this.socket.destroy(), 1000).unref()
    this.#wake()
  }

  /** Ends the socket at once (handshake failures). */
  destroy(): void {
    this.#closed = true
    this.#ended = true
    this.socket.destroy()
    this.#wake()
  }
}

/** What of `parts` is left after its first `off` bytes (a partial write's rest), as views. */
function partsFrom(parts: Uint8Array[], off: number): Uint8Array[] {
  let skip = off
  let first = 0
  while (first < parts.length && skip >= (parts[first] as Uint8Array).byteLength) {
    skip -= (parts[first] as Uint8Array).byteLength
    first++
  }
  const rest = parts.slice(first)
  if (skip > 0) rest[0] = (rest[0] as Uint8Array).subarray(skip)
  return rest
}
