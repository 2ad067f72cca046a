/**
 * One end of a pipe in shared memory: its own Segment object (its own slot),
 * the ring it receives on and the ring it sends on, chunking of messages
 * larger than a ring record, and the liveness rules of layout.ts.
 *
 * Range checks of the pipe's own words live here: the header at attach
 * (`#checkHeader`), each record's meta, length and chunk sequence
 * (`#checkRecord`), slot bytes and reservations (`#endHeld`). The rings
 * check their own words. The first violation anywhere makes both rings of
 * this end throw that CorruptError for every later call (they share one
 * `fault`); `close()` still works.
 */
import { constants } from 'node:buffer'
import { randomInt } from 'node:crypto'
import { ClosedError, CorruptError, IncompatibleError } from '@ipc/core'
import {
  attachmentAlive,
  closeAtExit,
  decodeLatin1,
  decodePayload,
  type Encoded,
  EXIT_PRIMITIVES,
  forgetAtExit,
  initSpscRing,
  isLatin1Tag,
  isProcessAlive,
  LookCadence,
  outOfRange,
  PEER_CHECK_MS,
  type RingWaitResult,
  remaining,
  Segment,
  SHORT_STRING,
  SLOT_COUNT,
  SpscRing,
  selfIdentity,
  shown,
  spscRingBytes,
  TAG_LATIN1,
  TAG_MAX,
  writeLatin1,
  writePayload,
} from '@ipc/core/internal'
import { BrokenPipeError, MessageTooLongError, TimeoutError } from './errors.js'
import {
  CHUNK_SEQUENCE_MASK,
  CHUNK_SHIFT,
  DEFAULT_CAPACITY,
  FLAG_DUPLEX,
  MAGIC,
  MAX_CAPACITY,
  META_CANCEL,
  META_CHUNK,
  META_HEAD,
  META_TAG,
  MIN_CAPACITY,
  PIPE_KIND,
  RESERVATION_BYTES,
  RESERVATION_COUNT,
  RESERVATION_TTL,
  RESERVATIONS_OFFSET,
  RINGS_OFFSET,
  SLOT_END_OFFSET,
  W_CAPACITY,
  W_CLOSED_ENDS,
  W_FLAGS,
  W_MAGIC,
} from './layout.js'
import { DEFAULT_MAX_MESSAGE_SIZE, type PipeOptions } from './options.js'
import { END, type Message, NOTHING, type PipeHandle, RETRY, TAKE_GENERAL, type Transport } from './transport.js'

/** A chunked message being assembled. */
interface Partial {
  tag: number
  total: number
  buf: Buffer | undefined
  filled: number
  /** Sequence number the next CHUNK must carry. */
  next: number
}

/** The largest `maxMessageSize`: the largest Buffer. */
const MAX_MESSAGE_SIZE_LIMIT = 2 ** 32

/** Checks a `maxMessageSize` option: an integer from 1 to 2^32 (bytes); `fallback` when undefined. */
export function checkMaxMessageSize(value: unknown, fallback = DEFAULT_MAX_MESSAGE_SIZE): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_MESSAGE_SIZE_LIMIT)
    throw outOfRange(`The "maxMessageSize" option must be an integer from 1 to 2^32 bytes, received ${shown(value)}`)
  return value
}

function tooLong(length: number, maxMessageSize: number, doing: string): MessageTooLongError {
  return new MessageTooLongError(
    `Cannot ${doing}: the message has ${length} bytes, more than maxMessageSize ${maxMessageSize}`,
    { length, maxLength: maxMessageSize },
  )
}

/** Rounds a capacity option up to a power of two in [4096, 2^30]. */
export function ringCapacity(capacity: number | undefined): number {
  if (capacity === undefined) return DEFAULT_CAPACITY
  if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY)
    throw outOfRange(`The "capacity" option must be an integer from 1 to 2^30 bytes, received ${shown(capacity)}`)
  let c = MIN_CAPACITY
  while (c < capacity) c *= 2
  return c
}

function broken(): BrokenPipeError {
  return new BrokenPipeError('Cannot send: the other end of the pipe was closed')
}

/** What #tryWriteRecord returns once the record is written (else the room to wait for, >= 0). */
const WRITTEN = -1
const EMPTY = Buffer.alloc(0)

/** Throws what a wait for room that did not end in room means: the reader closed, or the timeout passed. */
function throwUnlessWritable(result: RingWaitResult): void {
  if (result === 'closed') throw broken()
  if (result === 'timed-out') throw new TimeoutError('Cannot send: the pipe stayed full until the timeout')
}

export class PipeEnd implements Transport {
  readonly segment: Segment
  readonly end: 0 | 1
  readonly duplex: boolean
  readonly readable: boolean
  readonly writable: boolean
  readonly untrusted = false
  /** Ring this end receives on (ring `end`). */
  readonly rx: SpscRing | undefined
  /** Ring this end sends on (ring `1 - end`). */
  readonly tx: SpscRing | undefined
  /** Payload bytes per chunk of a chunked message. */
  readonly chunkSize: number
  /** The longest message this end sends or accepts, in encoded bytes. */
  readonly maxMessageSize: number
  nextTag = 0
  readonly #i32: Int32Array
  readonly #f64: Float64Array
  readonly #base: number
  #partial: Partial | undefined
  /** Shared by both rings: the first corruption found (see the file comment). */
  readonly #fault: { error: CorruptError | undefined } = { error: undefined }
  /** Largest payload `trySend` writes as one record: min(maxPayload, maxMessageSize). */
  readonly #oneRecord: number
  /** What takeMessage returns for a message in one record (see there). */
  readonly #message: Message = { tag: 0, source: EMPTY, start: 0, end: 0, owned: false }
  #cancelPending = false
  #closed = false
  #tokens: number[] = []
  #sends = 0
  /** When this end last looked at its peer (checkPeer). */
  readonly #peerLooks = new LookCadence(PEER_CHECK_MS)
  // Async waits in progress: the segment stays mapped until they unwind
  // (their rings decrement the shared waiters counts on the way out).
  #waiting = 0
  #unmapWhenIdle = false
  /** Registered with core's exit registry: an end open at exit closes (the peer sees EOF at once) before segments unmap. */
  readonly #atExit = { close: () => this.close(true) }

  private constructor(segment: Segment, end: 0 | 1, maxMessageSize: number) {
    this.segment = segment
    this.end = end
    this.maxMessageSize = maxMessageSize
    this.#i32 = segment.i32
    this.#base = segment.dataOffset / 4
    this.#f64 = new Float64Array(
      segment.buffer,
      segment.dataOffset + RESERVATIONS_OFFSET,
      (RESERVATION_COUNT * RESERVATION_BYTES) / 8,
    )
    const { duplex, capacity } = checkHeader(segment)
    this.duplex = duplex
    this.readable = this.duplex || end === 0
    this.writable = this.duplex || end === 1
    const ringOptions = {
      check: () => this.checkPeer(),
      host: segment,
      fault: this.#fault,
      label: `pipe "${segment.name}"`,
    }
    const ringAt = (r: number) => segment.dataOffset + RINGS_OFFSET + r * spscRingBytes(capacity)
    this.rx = this.readable ? new SpscRing(segment.buffer, ringAt(end), ringOptions) : undefined
    this.tx = this.writable ? new SpscRing(segment.buffer, ringAt(this.duplex ? 1 - end : 0), ringOptions) : undefined
    for (const ring of [this.rx, this.tx])
      if (ring !== undefined && ring.capacity !== capacity)
        throw this.corrupt(`a ring holds ${ring.capacity} bytes, the pipe header says ${capacity}`)
    this.chunkSize = capacity / 4
    this.#oneRecord = Math.min(this.tx?.maxPayload ?? 0, maxMessageSize)
    closeAtExit(this.#atExit, EXIT_PRIMITIVES)
  }

  /** Throws the corruption found earlier, if any: before a closed flag could say otherwise. */
  #assertSound(): void {
    const error = this.#fault.error
    if (error !== undefined) throw error
  }

  /**
   * Records a layout violation of this pipe and returns the CorruptError to
   * throw; from then on every call on this end throws the first one.
   */
  corrupt(detail: string, cause?: unknown): CorruptError {
    const ring = this.rx ?? this.tx
    if (ring !== undefined) return ring.corrupt(detail, cause)
    const error = new CorruptError(
      `Cannot use pipe "${this.segment.name}": its shared memory is corrupt (${detail})`,
      cause === undefined ? undefined : { cause },
    )
    this.#fault.error ??= error
    return error
  }

  /** Creates a pipe: a new segment, and one PipeEnd (one segment slot) per end. */
  static create(options: PipeOptions): [PipeEnd, PipeEnd] {
    const duplex = options.duplex ?? true
    if (typeof duplex !== 'boolean')
      throw Object.assign(new TypeError(`The "duplex" option must be a boolean, received ${typeof duplex}`), {
        code: 'ERR_INVALID_ARG_TYPE',
      })
    const capacity = ringCapacity(options.capacity)
    const maxMessageSize = checkMaxMessageSize(options.maxMessageSize)
    const dataBytes = RINGS_OFFSET + (duplex ? 2 : 1) * spscRingBytes(capacity)
    const first = Segment.create(PIPE_KIND, dataBytes, {
      name: options.name,
      init(seg) {
        const base = seg.dataOffset / 4
        seg.i32[base + W_FLAGS] = duplex ? FLAG_DUPLEX : 0
        seg.i32[base + W_CAPACITY] = capacity
        initSpscRing(seg.buffer, seg.dataOffset + RINGS_OFFSET, capacity)
        if (duplex) initSpscRing(seg.buffer, seg.dataOffset + RINGS_OFFSET + spscRingBytes(capacity), capacity)
        // Held from the start: nobody can see the segment before init returns.
        Atomics.store(seg.u8, seg.dataOffset + SLOT_END_OFFSET + seg.slot, 1)
        Atomics.store(seg.i32, base + W_MAGIC, MAGIC)
      },
    })
    let second: Segment
    try {
      second = Segment.open(PIPE_KIND, first.name)
    } catch (error) {
      first.close()
      throw error
    }
    Atomics.store(second.u8, second.dataOffset + SLOT_END_OFFSET + second.slot, 2)
    return [new PipeEnd(first, 0, maxMessageSize), new PipeEnd(second, 1, maxMessageSize)]
  }

  /**
   * Attaches to `end` of the pipe called `name`, claiming the reservation
   * `token` if given. `maxMessageSize` is this end's own limit (see PipeOptions).
   */
  static open(name: string, end: 0 | 1, token?: number, maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE): PipeEnd {
    checkMaxMessageSize(maxMessageSize)
    const segment = Segment.open(PIPE_KIND, name)
    const slotEnd = segment.dataOffset + SLOT_END_OFFSET + segment.slot
    try {
      if (Atomics.load(segment.i32, segment.dataOffset / 4 + W_MAGIC) !== MAGIC)
        throw new IncompatibleError(`Cannot open pipe "${name}": its shared memory is not a pipe`)
      // Hold the end first, then release the reservation: it never looks unheld.
      Atomics.store(segment.u8, slotEnd, end + 1)
      if (token !== undefined) claimReservation(segment, token, end)
      if ((Atomics.load(segment.i32, segment.dataOffset / 4 + W_CLOSED_ENDS) & (1 << end)) !== 0)
        throw new ClosedError(`Cannot open end ${end} of pipe "${name}": that end was closed`)
      return new PipeEnd(segment, end, maxMessageSize)
    } catch (error) {
      Atomics.store(segment.u8, slotEnd, 0)
      segment.close()
      throw error
    }
  }

  get name(): string {
    return this.segment.name
  }

  get closed(): boolean {
    return this.#closed
  }

  /** The handle carries `maxMessageSize` when it is not the default, so `from(handle)` keeps it. */
  handle(): PipeHandle {
    const handle: PipeHandle = { kind: 'pipe', name: this.segment.name, end: this.end }
    if (this.maxMessageSize !== DEFAULT_MAX_MESSAGE_SIZE) handle.maxMessageSize = this.maxMessageSize
    return handle
  }

  transferHandle(): PipeHandle {
    const token = this.#reserve()
    if (token === undefined) return this.handle()
    this.#tokens.push(token)
    return { ...this.handle(), token }
  }

  // ------------------------------------------------------------ liveness

  /** Marks the peer closed when no live slot or reservation holds it any more. */
  checkPeer(): void {
    this.#peerLooks.stamp()
    if (this.#closed) return
    const peer = 1 - this.end
    const closedEnds = Atomics.load(this.#i32, this.#base + W_CLOSED_ENDS)
    if ((closedEnds & ~3) !== 0) throw this.corrupt(`closedEnds is ${closedEnds}`)
    if ((closedEnds & (1 << peer)) !== 0) return
    if (!this.#endHeld(peer)) this.#markClosed(peer)
  }

  /**
   * `checkPeer` if it last ran PEER_CHECK_MS ago or more: for calls that
   * return without sleeping (no sleep slice runs `checkPeer` for them), so
   * that a tight loop of them pays one clock read per call, not a liveness
   * syscall.
   */
  checkPeerDue(): void {
    if (this.#peerLooks.due()) this.checkPeer()
  }

  /**
   * True while a live slot or reservation holds `end`. Handovers keep it held
   * throughout, each in its own order: a claim stores its slot byte, then
   * releases the reservation; a transfer reserves, then clears its slot byte.
   * One look at the slots then the reservations misses an end claimed in
   * between, the opposite order one transferred in between; slots,
   * reservations, then the slots again sees the holder across either.
   * @throws {CorruptError} when a slot byte or a reservation is out of range.
   */
  #endHeld(end: number): boolean {
    return this.#slotHolds(end) || this.#reservationHeld(end) || this.#slotHolds(end)
  }

  /** True while a live object attached to the segment holds `end` through its slot byte. */
  #slotHolds(end: number): boolean {
    const u8 = this.segment.u8
    const at = this.segment.dataOffset + SLOT_END_OFFSET
    for (let s = 0; s < SLOT_COUNT; s++) {
      const held = Atomics.load(u8, at + s)
      if (held > 2) throw this.corrupt(`slot ${s} holds end ${held - 1}`)
      // A slot holds its end while the object attached there lives: its process and,
      // where /proc lists threads, the thread that attached it (a worker stopped by
      // `worker.terminate()` never closes its objects). The one rule: core's liveness.ts.
      if (held === end + 1 && attachmentAlive(this.segment, s, true)) return true
    }
    return false
  }

  #markClosed(end: number): void {
    Atomics.or(this.#i32, this.#base + W_CLOSED_ENDS, 1 << end)
    // Ring `end` carries messages to `end`; ring `1 - end` (or 0, one-way) carries its
    // messages. This end holds both rings it touches: rx is ring `this.end`, tx the other.
    const ring = (r: number) => (this.rx !== undefined && r === this.end ? this.rx : (this.tx as SpscRing))
    if (this.duplex || end === 0) ring(end).closeReader()
    if (this.duplex || end === 1) ring(this.duplex ? 1 - end : 0).closeWriter()
  }

  #entry(k: number): number {
    return (this.segment.dataOffset + RESERVATIONS_OFFSET + k * RESERVATION_BYTES) / 4
  }

  #reserve(): number | undefined {
    const me = selfIdentity()
    for (let k = 0; k < RESERVATION_COUNT; k++) {
      const w = this.#entry(k)
      if (Atomics.compareExchange(this.#i32, w, 0, -me.pid) !== 0) continue
      this.#i32[w + 1] = this.end
      this.#i32[w + 2] = me.pid
      this.#f64[k * 4 + 2] = me.startTime
      this.#f64[k * 4 + 3] = Date.now() + RESERVATION_TTL
      const token = randomInt(1, 0x7fffffff)
      Atomics.store(this.#i32, w, token)
      return token
    }
    return undefined
  }

  /** True while a live reservation keeps `end` open; voids dead and expired ones. */
  #reservationHeld(end: number): boolean {
    let held = false
    for (let k = 0; k < RESERVATION_COUNT; k++) {
      const w = this.#entry(k)
      const token = Atomics.load(this.#i32, w)
      if (token === 0) continue
      if (token < 0) {
        // Being written by process -token.
        if (token === -0x80000000) throw this.corrupt(`reservation ${k} has token ${token}`)
        if (isProcessAlive(-token, 0)) held = true
        else Atomics.compareExchange(this.#i32, w, token, 0)
        continue
      }
      const holder = this.#i32[w + 1] as number
      const pid = this.#i32[w + 2] as number
      const expiresAt = this.#f64[k * 4 + 3] as number
      // An expiry further off than a TTL would keep the end open for good.
      if ((holder !== 0 && holder !== 1) || pid <= 0 || !(expiresAt <= Date.now() + RESERVATION_TTL))
        throw this.corrupt(`reservation ${k} holds end ${holder} for pid ${pid} until ${expiresAt}`)
      if (holder !== end) continue
      const alive = Date.now() < expiresAt && isProcessAlive(pid, this.#f64[k * 4 + 2] as number)
      if (alive) held = true
      else Atomics.compareExchange(this.#i32, w, token, 0)
    }
    return held
  }

  #tokensPending(): boolean {
    this.#reservationHeld(this.end) // voids expired ones
    const live = new Set<number>()
    for (let k = 0; k < RESERVATION_COUNT; k++) live.add(Atomics.load(this.#i32, this.#entry(k)))
    this.#tokens = this.#tokens.filter((t) => live.has(t))
    return this.#tokens.length > 0
  }

  /**
   * Detaches. The end closes for good (the peer gets EOF / BrokenPipe) when
   * no other object or reservation holds it. While a reservation made here
   * waits to be claimed, the segment stays mapped so its name lives on.
   */
  close(exiting = false): void {
    if (this.#closed) return
    this.#closed = true
    forgetAtExit(this.#atExit, EXIT_PRIMITIVES)
    Atomics.store(this.segment.u8, this.segment.dataOffset + SLOT_END_OFFSET + this.segment.slot, 0)
    // Corrupt memory (found now or before) never makes close throw: the end just lets go,
    // and the peer's own liveness check sees that nobody holds it.
    let waitForTokens = false
    try {
      if (this.#cancelPending && this.#fault.error === undefined) this.#tryWriteCancel()
      if (!this.#endHeld(this.end)) this.#markClosed(this.end)
      waitForTokens = !exiting && this.#tokensPending()
    } catch (error) {
      if (!(error instanceof CorruptError)) throw error
    }
    if (!waitForTokens) {
      this.#unmap(exiting)
      return
    }
    const timer = setInterval(() => {
      try {
        if (this.#tokensPending()) return
        if (!this.#endHeld(this.end)) this.#markClosed(this.end)
      } catch (error) {
        if (!(error instanceof CorruptError)) throw error
      }
      clearInterval(timer)
      this.#unmap(false)
    }, 20)
    timer.unref()
  }

  #unmap(now: boolean): void {
    if (now || this.#waiting === 0) this.segment.close()
    else this.#unmapWhenIdle = true
  }

  /** Runs an async wait; the segment is not unmapped under it. */
  async #tracked<R>(wait: Promise<R>): Promise<R> {
    this.#waiting++
    try {
      return await wait
    } finally {
      if (--this.#waiting === 0 && this.#unmapWhenIdle) {
        this.#unmapWhenIdle = false
        this.segment.close()
      }
    }
  }

  // ------------------------------------------------------------ receiving

  /**
   * Checks the record `rx.peek()` just found (its length and position were
   * checked by the ring): a known tag and flags, and the length and sequence
   * the kind of record requires. Messages take the first test only.
   */
  #checkRecord(rx: SpscRing, length: number): void {
    const meta = rx.meta
    if ((meta - 1) >>> 0 < TAG_MAX) return // a whole message: tag 1…TAG_MAX, no flag
    const tag = meta & META_TAG
    const p = this.#partial
    let valid: boolean
    if ((meta & META_CHUNK) !== 0) {
      valid =
        (meta & (META_HEAD | META_CANCEL)) === 0 &&
        (p === undefined ||
          (tag === p.tag && meta >>> CHUNK_SHIFT === p.next && length === Math.min(this.chunkSize, p.total - p.filled)))
    } else if (meta === META_CANCEL) valid = length === 0
    else valid = (meta & ~META_TAG) === META_HEAD && length === 8
    if (!valid || (meta !== META_CANCEL && (tag === 0 || tag > TAG_MAX)))
      throw this.corrupt(
        p === undefined
          ? `a record with meta ${meta} and length ${length}`
          : `a record with meta ${meta} and length ${length} after ${p.filled} of ${p.total} bytes of a chunked message`,
      )
  }

  nextLength(): number {
    this.#assertSound()
    const p = this.#partial
    if (p !== undefined) {
      this.nextTag = p.tag
      return p.total
    }
    const rx = this.rx as SpscRing
    for (;;) {
      // Read the flag before looking: closed and empty afterwards is the end.
      const closed = rx.writerClosed
      const length = rx.peek()
      if (length < 0) {
        if (closed) return END
        // poll() without a timeout and wait(list, { timeout: 0 }) return here without sleeping, so
        // no sleep slice looks at the peer for them. A dead peer marks the ring closed: look again.
        this.checkPeerDue()
        if (!rx.writerClosed) return NOTHING
        continue
      }
      this.#checkRecord(rx, length)
      const meta = rx.meta
      if ((meta & (META_CANCEL | META_CHUNK)) !== 0) {
        // What is left of a message whose sender (or receiver) gave up.
        rx.consume()
        continue
      }
      this.nextTag = meta & META_TAG
      if ((meta & META_HEAD) !== 0) {
        const total = rx.bytes.readDoubleLE(rx.start)
        // A message of one record's size or less would not have been chunked.
        if (!Number.isSafeInteger(total) || total <= rx.maxPayload)
          throw this.corrupt(`a chunked message announces ${total} bytes`)
        rx.consume()
        this.#partial = { tag: this.nextTag, total, buf: undefined, filled: 0, next: 0 }
        return total
      }
      return length
    }
  }

  takeMessage(): Message | null | typeof RETRY {
    const rx = this.rx as SpscRing
    const p = this.#partial
    if (p === undefined) {
      if (rx.length > this.maxMessageSize) {
        rx.consume()
        throw tooLong(rx.length, this.maxMessageSize, 'receive')
      }
      // One Message object per end, reused: it is valid only until drop().
      const m = this.#message
      m.tag = this.nextTag
      m.source = rx.bytes
      m.start = rx.start
      m.end = rx.start + rx.length
      return m
    }
    if (p.buf === undefined) {
      if (p.total > this.maxMessageSize) {
        // Refused before allocating; nextLength skips its chunks as they come.
        this.#partial = undefined
        throw tooLong(p.total, this.maxMessageSize, 'receive')
      }
      p.buf = Buffer.allocUnsafe(p.total)
    }
    while (p.filled < p.total) {
      const closed = rx.writerClosed
      const length = rx.peek()
      if (length < 0) {
        if (!closed) return null
        this.#partial = undefined // the sender closed mid-message
        return RETRY
      }
      this.#checkRecord(rx, length)
      const meta = rx.meta
      if ((meta & META_CHUNK) !== 0) {
        rx.bytes.copy(p.buf, p.filled, rx.start, rx.start + length)
        p.filled += length
        p.next = (p.next + 1) & CHUNK_SEQUENCE_MASK
        rx.consume()
        continue
      }
      // CANCEL, or a new message: the chunked one was abandoned by its sender.
      if ((meta & META_CANCEL) !== 0) rx.consume()
      this.#partial = undefined
      return RETRY
    }
    return { tag: p.tag, source: p.buf, start: 0, end: p.total, owned: true }
  }

  drop(): void {
    if (this.#partial !== undefined) this.#partial = undefined
    else this.rx?.consume()
  }

  takeValue(): unknown {
    const rx = this.rx
    if (rx === undefined || this.#partial !== undefined) return TAKE_GENERAL
    const length = rx.peek()
    // Nothing, or the general path's cases: over maxMessageSize; a chunk, HEAD or CANCEL record (flags set).
    if (length < 0 || length > this.maxMessageSize || (rx.meta - 1) >>> 0 >= TAG_MAX) return TAKE_GENERAL
    let value: unknown
    // Latin-1 text up to V8's longest string cannot fail to decode, and `peek` checked that its bytes
    // lie in the record area. (A longer one, from corrupt memory, takes the general path: CorruptError.)
    if (rx.meta === TAG_LATIN1 && length <= constants.MAX_STRING_LENGTH)
      value = decodeLatin1(rx.bytes, rx.start, length)
    else {
      try {
        value = decodePayload(rx.meta, rx.bytes, rx.start, rx.start + length)
      } catch {
        return TAKE_GENERAL // the general path decodes it again and reports the error its way
      }
    }
    rx.consume()
    return value
  }

  waitReadableSync(timeout: number): RingWaitResult {
    return (this.rx as SpscRing).waitReadableSync(timeout)
  }

  waitReadable(timeout: number, signal: AbortSignal, spun = false): Promise<RingWaitResult> {
    return this.#tracked((this.rx as SpscRing).waitReadable(timeout, signal, spun))
  }

  spinReadable(timeout: number): boolean {
    return (this.rx as SpscRing).spinReadable(timeout)
  }

  // ------------------------------------------------------------ sending

  /** Sends never sleep while there is room: every 16th looks at the peer, at most every PEER_CHECK_MS. */
  #periodicCheck(): void {
    if ((++this.#sends & 15) === 0) this.checkPeerDue()
  }

  #tryWriteCancel(): boolean {
    const tx = this.tx as SpscRing
    if (tx.reserve(0) < 0) return false
    tx.commit(0, META_CANCEL)
    this.#cancelPending = false
    return true
  }

  /** The ring a send may write one record of `size` bytes to now, or undefined (nothing written). */
  #sendRing(size: number): SpscRing | undefined {
    this.#assertSound()
    const tx = this.tx as SpscRing
    if (tx.readerClosed) throw broken()
    this.#periodicCheck()
    if (this.#cancelPending && !this.#tryWriteCancel()) return undefined
    return size > this.#oneRecord ? undefined : tx
  }

  trySend(encoded: Encoded): boolean {
    const tx = this.#sendRing(encoded.size)
    const at = tx === undefined ? -1 : tx.reserve(encoded.size)
    if (at < 0) return false
    writePayload(encoded, (tx as SpscRing).bytes, at)
    ;(tx as SpscRing).commit(encoded.size, encoded.tag)
    return true
  }

  /**
   * `trySend` of a short string, skipping `encode`: copies it straight into
   * the ring as Latin-1, checking each char as it goes. False (nothing
   * published: the reserved room is simply not committed) when the string
   * is long, has a char past Latin-1, or would wait.
   */
  trySendText(text: string): boolean {
    const size = text.length
    if (size > SHORT_STRING) return false
    const tx = this.#sendRing(size)
    const at = tx === undefined ? -1 : tx.reserve(size)
    if (at < 0 || !writeLatin1(text, (tx as SpscRing).bytes, at)) return false
    ;(tx as SpscRing).commit(size, TAG_LATIN1)
    return true
  }

  /**
   * Writes one record of `size` bytes if there is room now, after the CANCEL
   * a failed chunked send still owes. Returns WRITTEN, or the room to wait
   * for: 0 while the CANCEL is owed, else `size`.
   * @throws {BrokenPipeError} when the reader closed.
   */
  #tryWriteRecord(size: number, meta: number, fill: (at: number) => void): number {
    this.#assertSound()
    const tx = this.tx as SpscRing
    if (tx.readerClosed) throw broken()
    const need = this.#cancelPending ? 0 : size
    if (!this.#cancelPending || this.#tryWriteCancel()) {
      const at = tx.reserve(size)
      if (at >= 0) {
        fill(at)
        tx.commit(size, meta)
        return WRITTEN
      }
    }
    return need
  }

  /** Writes one record of `size` bytes, waiting for room. Throws BrokenPipeError or TimeoutError. */
  #writeRecordSync(size: number, meta: number, fill: (at: number) => void, deadline: number): void {
    const tx = this.tx as SpscRing
    for (;;) {
      const need = this.#tryWriteRecord(size, meta, fill)
      if (need === WRITTEN) return
      throwUnlessWritable(tx.waitWritableSync(need, remaining(deadline)))
    }
  }

  async #writeRecord(
    size: number,
    meta: number,
    fill: (at: number) => void,
    deadline: number,
    signal: AbortSignal,
  ): Promise<void> {
    const tx = this.tx as SpscRing
    for (;;) {
      const need = this.#tryWriteRecord(size, meta, fill)
      if (need === WRITTEN) return
      throwUnlessWritable(await this.#tracked(tx.waitWritable(need, remaining(deadline), signal)))
    }
  }

  sendSync(encoded: Encoded, deadline: number): void {
    if (this.trySend(encoded)) return
    const tx = this.tx as SpscRing
    if (encoded.size > this.maxMessageSize) throw tooLong(encoded.size, this.maxMessageSize, 'send')
    if (encoded.size <= tx.maxPayload) {
      this.#writeRecordSync(encoded.size, encoded.tag, (at) => writePayload(encoded, tx.bytes, at), deadline)
      return
    }
    const bytes = payloadBytes(encoded)
    const total = bytes.byteLength
    this.#writeRecordSync(8, encoded.tag | META_HEAD, (at) => tx.bytes.writeDoubleLE(total, at), deadline)
    try {
      for (let off = 0, sequence = 0; off < total; off += this.chunkSize, sequence++) {
        const piece = bytes.subarray(off, Math.min(total, off + this.chunkSize))
        const meta = chunkMeta(encoded.tag, sequence)
        this.#writeRecordSync(piece.byteLength, meta, (at) => tx.bytes.set(piece, at), deadline)
      }
    } catch (error) {
      this.#cancelPending = true
      this.#tryWriteCancel()
      throw error
    }
  }

  async send(encoded: Encoded, deadline: number, signal: AbortSignal): Promise<void> {
    const tx = this.tx as SpscRing
    if (encoded.size > this.maxMessageSize) throw tooLong(encoded.size, this.maxMessageSize, 'send')
    if (encoded.size <= tx.maxPayload) {
      await this.#writeRecord(encoded.size, encoded.tag, (at) => writePayload(encoded, tx.bytes, at), deadline, signal)
      return
    }
    const bytes = payloadBytes(encoded)
    const total = bytes.byteLength
    await this.#writeRecord(8, encoded.tag | META_HEAD, (at) => tx.bytes.writeDoubleLE(total, at), deadline, signal)
    try {
      for (let off = 0, sequence = 0; off < total; off += this.chunkSize, sequence++) {
        const piece = bytes.subarray(off, Math.min(total, off + this.chunkSize))
        const meta = chunkMeta(encoded.tag, sequence)
        await this.#writeRecord(piece.byteLength, meta, (at) => tx.bytes.set(piece, at), deadline, signal)
      }
    } catch (error) {
      this.#cancelPending = true
      if (!this.#closed) this.#tryWriteCancel()
      throw error
    }
  }
}

/** The meta word of chunk number `sequence` of a message with codec tag `tag`. */
function chunkMeta(tag: number, sequence: number): number {
  return tag | META_CHUNK | ((sequence & CHUNK_SEQUENCE_MASK) << CHUNK_SHIFT)
}

/**
 * Checks the pipe header at attach: a known flag, a ring capacity that is a
 * power of two in range, both rings inside the segment, known closed bits,
 * slot bytes 0…2 (a cheap first look; `#endHeld` checks each byte it reads).
 * (The magic was checked by `open`; the rings check their own headers.)
 */
function checkHeader(segment: Segment): { duplex: boolean; capacity: number } {
  const base = segment.dataOffset / 4
  const flags = Atomics.load(segment.i32, base + W_FLAGS)
  const capacity = Atomics.load(segment.i32, base + W_CAPACITY)
  const closedEnds = Atomics.load(segment.i32, base + W_CLOSED_ENDS)
  const duplex = (flags & FLAG_DUPLEX) !== 0
  const fits =
    capacity >= MIN_CAPACITY &&
    capacity <= MAX_CAPACITY &&
    (capacity & (capacity - 1)) === 0 &&
    segment.dataOffset + RINGS_OFFSET + (duplex ? 2 : 1) * spscRingBytes(capacity) <= segment.u8.byteLength
  let highestSlotByte = 0
  for (let s = 0; s < SLOT_COUNT; s++)
    highestSlotByte = Math.max(highestSlotByte, Atomics.load(segment.u8, segment.dataOffset + SLOT_END_OFFSET + s))
  if ((flags & ~FLAG_DUPLEX) !== 0 || (closedEnds & ~3) !== 0 || highestSlotByte > 2 || !fits)
    throw new CorruptError(
      `Cannot use pipe "${segment.name}": its shared memory is corrupt (flags ${flags}, capacity ${capacity}, closedEnds ${closedEnds}, a slot byte ${highestSlotByte})`,
    )
  return { duplex, capacity }
}

/** The payload of an encoded value as bytes (strings are encoded here). */
function payloadBytes(encoded: Encoded): Uint8Array {
  if (encoded.bytes !== undefined) return encoded.bytes
  return Buffer.from(encoded.text ?? '', isLatin1Tag(encoded.tag) ? 'latin1' : 'utf8')
}

/** Releases reservation `token` for `end` (the claimer now holds the end through its slot). */
function claimReservation(segment: Segment, token: number, end: number): void {
  for (let k = 0; k < RESERVATION_COUNT; k++) {
    const w = (segment.dataOffset + RESERVATIONS_OFFSET + k * RESERVATION_BYTES) / 4
    if (Atomics.load(segment.i32, w) === token && segment.i32[w + 1] === end) {
      Atomics.compareExchange(segment.i32, w, token, 0)
      return
    }
  }
}
