/**
 * A single-producer/single-consumer ring of variable-length byte messages in
 * a region of shared memory (a Segment's data area, or a SharedArrayBuffer).
 * One segment can hold several rings, e.g. one per direction of a pipe.
 *
 * "Single" means one writing object and one reading object at a time; the
 * two may live in different processes or threads. Calls are lock-free: a
 * record is published by one store of `head`, consumed by one store of `tail`.
 *
 * Region layout (byte offsets from the region start, which must be 8-aligned;
 * 64-aligned keeps the producer's and the consumer's words on separate cache
 * lines; little-endian):
 *
 * | offset | size | field         | written by          | meaning                                                |
 * |--------|------|---------------|---------------------|--------------------------------------------------------|
 * | 0      | 4    | magic         | init                | 0x43535053 ('SPSC')                                     |
 * | 4      | 4    | capacity      | init                | bytes of the record area: a power of two, 64 … 2^30     |
 * | 8      | 4    | readerWaiters | consumer            | consumer threads asleep on `readerWake`                |
 * | 12     | 4    | writerWaiters | producer            | producer threads asleep on `writerWake`                |
 * | 16     | 4    | writerClosed  | closers             | 1 once the producing side is closed (EOF after drain)  |
 * | 20     | 4    | readerClosed  | closers             | 1 once the consuming side is closed (writes fail)      |
 * | 24     | 4    | writerNeed    | producer            | free bytes a sleeping producer is woken at (below)     |
 * | 28     | 4    | atomicPublish | attachers           | 1 (never cleared): an attacher publishes atomically    |
 * | 32     | 4    | readerEpoch   | consumer            | sleep epoch of `readerWake` (below, "Waiting")         |
 * | 36     | 4    | writerEpoch   | producer            | sleep epoch of `writerWake`                            |
 * | 64     | 4    | head          | producer            | u32 count of bytes published (wraps at 2^32)           |
 * | 72     | 4    | readerWake    | producer, closers   | sequence the consumer sleeps on; bumped to wake it      |
 * | 128    | 4    | tail          | consumer            | u32 count of bytes consumed (wraps at 2^32)            |
 * | 136    | 4    | writerWake    | consumer, closers   | sequence the producer sleeps on; bumped to wake it      |
 * | 192    | cap  | records       | producer            | records, see below                                     |
 *
 * Cache lines: head is stored by every commit and tail by every consume, so
 * each sits on a line of its own side. The words the other side reads on
 * every call (the waiters counts, read after each publish, and the closed
 * flags, read by every send and receive) sit on the first line, which
 * changes only when a side registers to sleep or closes: a store of head
 * never evicts the consumer's copy of them, nor a store of tail the
 * producer's. (On a 2-core VM, one-way small strings through a pipe went
 * from about 3.3 M/s to 5.5 M/s when the flags moved here.)
 *
 * A record starts at an 8-aligned position `p = count & (cap - 1)`:
 * `i32 length` (payload bytes, or -1 = padding: skip to the ring start),
 * `u32 meta` (the codec tag in the low byte; the user of the ring may use
 * the upper bits), then the payload, padded to 8 bytes. A record never wraps:
 * when it does not fit before the end, the producer writes a padding record
 * and starts at 0. So a payload may have up to `capacity / 2 - 8` bytes.
 *
 * Range checks (words any process can scribble on; all in `#distance` and
 * `peek`, which every read and write path goes through): head and tail are
 * multiples of 8 at most `capacity` apart; a record's length is -1 (padding,
 * never at offset 0, and the skip stays within what was published) or from 0
 * to `maxPayload`, and the whole record lies before both the end of the area
 * and `head`. A violation throws CorruptError and leaves the ring (and every
 * ring sharing its `fault`) refusing all further reads, writes and waits;
 * `closeReader`/`closeWriter` still work. So a bad word costs one throw,
 * never a spin, a hang, or a read outside the record area. `atomicPublish`
 * is checked at attach (0 or 1, else CorruptError). Scribbled later: to
 * another non-zero value, every side publishes atomically and skips its
 * fence, which is safe; back to 0 under a process that cannot fence, that
 * process's sleeps may miss a wake-up by up to one slice (PEER_CHECK_MS),
 * never hang (as for the attach race under "Ordering"; not tested).
 *
 * Ordering: the producer writes the payload and the record header with plain
 * stores, then publishes with a store of `head`; the consumer reads `head`
 * with `Atomics.load` before reading the record (release/acquire). The
 * consumer copies the payload out, then stores `tail` (`Atomics.store`).
 *
 * The store of head is a plain one while every process of the ring takes
 * part in plain publishing (x64 with remote fences: waiting/remote-fence.ts):
 * `Atomics.store` there is an XCHG that waits for the store buffer, a
 * cross-core round trip whenever the consumer has just read the line (the
 * pipe README gives the measurements). A plain store stays after the
 * record's stores (x86 keeps store order), but the load of `readerWaiters`
 * after it may pass it, so the consumer fences remotely after it registers
 * and before its re-check (the event count's `afterRegister`): either the
 * head is visible to the re-check or the producer's load sees the
 * registration. A process that takes no part stores 1 in `atomicPublish`
 * when it attaches, and from then on every producer publishes with
 * `Atomics.store`. A commit that loaded 0 just before that store may still
 * publish plainly, and the new process's next sleep, unfenced, may miss its
 * wake-up: that costs one wake-up up to a sleep slice (PEER_CHECK_MS) late,
 * never a hang, as sleeps are slices. A consumer skips its fence once the
 * word is set. This protocol is part of every layout that holds a ring: its
 * user (the pipe) bumps its own layout version when the protocol changes.
 *
 * Plain loads: V8 in Node 20 compiles `Atomics.load` to a call of a builtin
 * (about 5 ns, against under 1 ns for a typed-array read), so the
 * per-message path reads with plain loads where an atomic one orders
 * nothing more:
 * - A side's own position: head in `reserve`, tail in `peek`. Its last store
 *   was this object's, or that of the object that used the side before it
 *   (one at a time); a value that changed is range-checked as before.
 * - `readerClosed`, on every send: a producer only refuses to write on it,
 *   nothing is ordered after it, and a close that happened before the send
 *   is seen.
 * - While this process publishes plainly (x64 only): `atomicPublish` in
 *   `commit` (a stale 0 is the attach race above); `readerWaiters` after the
 *   plain store of head (the CPU may let that load pass the store anyway,
 *   which the consumer's fence covers; V8 emits it after the store, both
 *   being on its effect chain: waiting/remote-fence.ts); `writerWaiters`
 *   after the consumer's `Atomics.store` of tail (an XCHG, a full barrier on
 *   x64, and the load follows the builtin call). On arm64 a plain load may
 *   pass a store-release, so there these two stay `Atomics.load`.
 * Everything else above stays atomic: the consumer's load of head, the
 * producer's of tail, both stores of tail, the atomic store of head, the
 * flags as the waits and `nextLength` read them.
 *
 * Waiting: each side waits on an event count of the kernel
 * (waiting/event-count.ts, the one wait loop: register, re-check, sleep):
 *
 * | side     | waits for                  | event word   | waiters word   | notified by                  |
 * |----------|----------------------------|--------------|----------------|------------------------------|
 * | consumer | a record, or writerClosed  | readerWake   | readerWaiters  | `commit`, `closeWriter`      |
 * | producer | room, or readerClosed      | writerWake   | writerWaiters  | consume (`#storeTail`), `closeReader` |
 *
 * `commit` and `#storeTail` use `notifyUnwoken`: one load of the waiters
 * word after the store of head/tail, no atomic add and no syscall while the
 * other side is awake (a waiter registers before its re-check, so it sees
 * the store or is seen; for a plain store of head, through the consumer's
 * remote fence, see "Ordering"). Each side has a sleep epoch
 * (event-count.ts, "The sleep epoch"; it raises it before it adds itself to
 * the waiters word, and the notifier loads it after that word), so a side
 * that was woken but has not run yet (its process descheduled, or stopped)
 * costs the other one wake syscall, not one per message until it runs. The
 * closers bump and wake unconditionally. A side killed between its bump and
 * its wake syscall leaves the other asleep on a value the epoch calls
 * woken: that sleeper sees the bump at its slice's end (sleeps are slices).
 * So does one whose epoch or wake word another process scribbled behind or
 * ahead: at most a wake-up one slice late, never a hang.
 *
 * Hysteresis on a full ring (room-wait.ts, the rule of both rings): a
 * producer whose look found no room stores the room it is to be woken at in
 * `writerNeed` (the larger of its record and WAKE_ROOM, or its record alone
 * once the consumer stalled), then looks once more; the consumer wakes it
 * only once that much is free. The consumer stores `tail`, then reads the
 * waiters count, then `writerNeed`; the producer registers, stores the need,
 * then looks: a consumer that read an older need stored its tail before the
 * producer's second look, which sees the room. Its sleeps are slices of
 * FULL_RING_SLICE_MS while it waits for more than its record, else of
 * PEER_CHECK_MS. A corrupt `writerNeed` costs a late wake-up, never a hang:
 * the consumer caps it at the capacity, and the producer's sleeps are slices.
 *
 * How a side waits (`rules.spin` of the event count): (1) it spins on the
 * shared words for up to `spinMicros` (adaptive: waiting/adaptive-spin.ts);
 * (2) an async wait then blocks the thread in one bounded futex wait of up
 * to `asyncBlockMicros` (`EventCount.pauseSync`, registered, so a consumer
 * fences first like every registration), so that a quick answer
 * wakes it directly; (3) then the event count sleeps: a sync wait in a futex
 * wait, an async one on a native waiter thread (the event loop runs). Sleeps
 * last at most PEER_CHECK_MS, after which `check` runs (dead-peer detection).
 * A producer waiting for more room than its record (a small record on a full
 * ring, "Hysteresis") skips (1) and (2): it sleeps at once.
 *
 * What a SIGKILL can lose: a side killed while registered leaves its waiters
 * word one too high; the other side then wakes nobody once, and skips the
 * syscall after that (the dead side's epoch stays behind `event`): never
 * wrong. A side killed between its bump and its wake syscall: see
 * "Waiting". Nothing else: head and tail move by single stores.
 */
import { decodePayload, type Encoded, writePayload } from '../codec/codec.js'
import { CorruptError, invalidArgType, outOfRange } from '../errors.js'
import { runtime } from '../runtime.js'
import { AdaptiveSpin } from '../waiting/adaptive-spin.js'
import { AsyncBlock } from '../waiting/async-block.js'
import {
  EventCount,
  NOT_YET,
  type NotYet,
  PEER_CHECK_MS,
  TIMED_OUT,
  type WaitHost,
  type WaitRules,
} from '../waiting/event-count.js'
import { fenceRemote, plainPublishing } from '../waiting/remote-fence.js'
import { deadlineOf, remaining, throwIfAborted } from '../waiting/signal.js'
import { RoomWait, wokenForRecordAlone } from './room-wait.js'

/** 'SPSC' in little-endian ASCII. */
export const SPSC_MAGIC = 0x43535053
/** Bytes before the record area; the region of a ring is `SPSC_HEADER_BYTES + capacity`. */
export const SPSC_HEADER_BYTES = 192
const RECORD_HEADER = 8
const PADDING = -1
const MIN_CAPACITY = 64
const MAX_CAPACITY = 2 ** 30
/** The host of a ring in memory nobody closes (a SharedArrayBuffer). */
const NEVER_CLOSED: WaitHost = { closed: false }

// i32 indexes relative to the region start.
const W_MAGIC = 0
const W_CAPACITY = 1
const W_READER_WAITERS = 2
const W_WRITER_WAITERS = 3
const W_WRITER_CLOSED = 4
const W_READER_CLOSED = 5
const W_WRITER_NEED = 6
const W_ATOMIC_PUBLISH = 7
const W_READER_EPOCH = 8
const W_WRITER_EPOCH = 9
const W_HEAD = 16
const W_READER_WAKE = 18
const W_TAIL = 32
const W_WRITER_WAKE = 34

/** Returned by `tryRead`/`read`/`readSync` when no record is there (yet). */
export const RING_EMPTY: unique symbol = Symbol('ring-empty') as never
/** Returned by `read`/`readSync` when the ring is empty and its writer closed it. */
export const RING_CLOSED: unique symbol = Symbol('ring-closed') as never

/** How a wait on a ring ended. */
export type RingWaitResult = 'ready' | 'closed' | 'timed-out'

export interface SpscRingOptions {
  /**
   * How long a blocking (`…Sync`) wait spins before it sleeps in the kernel,
   * in microseconds (not a producer's wait for more room than its record,
   * which sleeps at once: see the header, "How a side waits"). Spinning
   * keeps the round trip free of syscalls while the other side answers
   * quickly. Adaptive: halved after each spin that
   * found nothing (below 1/32, no spin at all; probes now and then),
   * restored by one that succeeded.
   * @default 50
   */
  spinMicros?: number
  /**
   * How long an async wait spins (blocking the event loop) before its
   * blocking phase (`asyncBlockMicros`), in microseconds. Adaptive, like
   * `spinMicros`.
   * @default 50
   */
  asyncSpinMicros?: number
  /**
   * After its spin, how long an async wait may block the thread in the
   * kernel (a futex wait, which leaves the CPU to the peer) before it hands
   * the wait to a native waiter thread, in microseconds. A peer that answers
   * within it wakes this thread directly, which is several times faster than
   * going through the waiter thread and the event loop. Unlike spinning it
   * costs no CPU. While the peer keeps answering within it and no other
   * async wait of the thread is pending, the next block may last up to 1 ms
   * instead (waiting/async-block.ts); a block that ends later, or not
   * answered, goes back to this. So an async wait that has to sleep blocks
   * the event loop this long at most, once, or 1 ms right after quick answers.
   * @default 50
   */
  asyncBlockMicros?: number
  /**
   * Called after every sleep that lasted its whole slice (PEER_CHECK_MS,
   * 100 ms): may close the ring (a dead peer). May throw (CorruptError).
   */
  check?: () => void
  /**
   * What the ring's memory belongs to (a Segment): once `host.closed` is
   * true in this process, an async wait ends with ClosedError.
   * @default never closed (a SharedArrayBuffer)
   */
  host?: WaitHost
  /**
   * Shared by the rings of one primitive: the first corruption any of them
   * finds is stored here, and from then on all of them throw it.
   * @default a box of this ring's own
   */
  fault?: RingFault
  /** What error messages call the ring's owner, e.g. `pipe "jobs"`. @default `the ring at offset <n>` */
  label?: string
}

/** Where the rings of one primitive keep the first CorruptError one of them found. */
export interface RingFault {
  error: CorruptError | undefined
}

/** The event count and spin state one side of the ring waits with. */
interface Side {
  /** On `readerWake`/`readerWaiters` (consumer) or `writerWake`/`writerWaiters` (producer). */
  readonly events: EventCount
  readonly spin: AdaptiveSpin
  /** How long an async wait of this side may block after its spin. */
  readonly block: AsyncBlock
  /** The room the producer waits for (0 for the consumer); set by each wait before it starts. */
  size: number
  /** The producer's sync wait for room (unused by the consumer). */
  readonly room: RoomWait
  /** This side's re-check, for the event count (reads `size`). */
  readonly attempt: () => RingWaitResult | NotYet
  /** True when `attempt` would not say NOT_YET: the spin's condition. */
  readonly settled: () => boolean
  /**
   * The rules of this side's sync waits, made once and reused: a thread runs
   * one sync wait at a time (nothing a wait calls starts another), so a sync
   * wait allocates nothing. Async waits, which may overlap, get their own.
   */
  readonly syncRules: WaitRules
  /** The spin of this side's sync waits (`syncRules.spin` while a wait may spin). */
  readonly syncSpin: () => boolean
}

function align8(n: number): number {
  return (n + 7) & ~7
}

/** Region bytes needed for a ring whose record area is `capacity` bytes. */
export function spscRingBytes(capacity: number): number {
  checkCapacity(capacity)
  return SPSC_HEADER_BYTES + capacity
}

function validCapacity(capacity: number): boolean {
  return (
    Number.isInteger(capacity) &&
    capacity >= MIN_CAPACITY &&
    capacity <= MAX_CAPACITY &&
    (capacity & (capacity - 1)) === 0
  )
}

function checkCapacity(capacity: number): void {
  if (!validCapacity(capacity))
    throw outOfRange(`The ring capacity must be a power of two from 64 to 2^30 bytes, received ${capacity}`)
}

function viewOf(buffer: ArrayBufferLike, byteOffset: number): Int32Array {
  if (!(buffer instanceof ArrayBuffer) && !(buffer instanceof SharedArrayBuffer))
    throw invalidArgType('The ring buffer must be an ArrayBuffer or a SharedArrayBuffer')
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0)
    throw outOfRange(`The ring offset must be a non-negative multiple of 8, received ${byteOffset}`)
  return new Int32Array(buffer)
}

/**
 * A single-producer/single-consumer message ring in shared memory.
 *
 * Guarantees:
 * - Records arrive whole and in the order they were committed; none is lost
 *   or read twice while one object writes and one object reads.
 * - A record that does not fit waits (back-pressure) or fails; nothing is
 *   half-written. A payload over `maxPayload` throws RangeError at once.
 * - No syscall while the other side is awake: a side notifies only when the
 *   other sleeps, once per sleep, and each side spins briefly before
 *   sleeping (except a producer of a small record on a full ring, which
 *   waits for more room than a spin lasts: see the header, "How a side waits").
 * - An aborted or timed-out wait changes nothing.
 *
 * @example
 * ```ts
 * const sab = new SharedArrayBuffer(spscRingBytes(1024))
 * initSpscRing(sab, 0, 1024)
 * const ring = new SpscRing(sab, 0)
 * ring.tryWrite(encode('hi')) // => true
 * ring.tryRead() // => 'hi'
 * ```
 */
export class SpscRing {
  /** Bytes of the record area. */
  readonly capacity: number
  /** Largest payload one record can hold: `capacity / 2 - 8`. */
  readonly maxPayload: number
  /** The record area as a Buffer (offsets from `reserve`/`start` index into it). */
  readonly bytes: Buffer
  /** After a successful `peek`: the record's meta word. */
  meta = 0
  /** After a successful `peek`: where its payload starts in `bytes`. */
  start = 0
  /** After a successful `peek`: its payload length. */
  length = 0

  readonly #i32: Int32Array
  readonly #r32: Int32Array
  readonly #mask: number
  readonly #iHead: number
  readonly #iTail: number
  readonly #iWriterWaiters: number
  readonly #iWriterNeed: number
  readonly #iReaderWaiters: number
  readonly #iReaderWake: number
  readonly #iWriterWake: number
  readonly #iWriterClosed: number
  readonly #iReaderClosed: number
  readonly #iAtomicPublish: number
  /** True when this process publishes head plainly (unless `atomicPublish` is set: `publishesPlainly`). */
  readonly #plainPublish: boolean
  readonly #spin: number
  readonly #asyncSpin: number
  readonly #asyncBlock: number
  readonly #check: (() => void) | undefined
  readonly #fault: RingFault
  readonly #label: string
  /** The producer's wait: on `writerWake`, counted in `writerWaiters`. */
  readonly #writer: Side
  /** The consumer's wait: on `readerWake`, counted in `readerWaiters`. */
  readonly #reader: Side
  // Producer-side caches. `#lastHead` is the head this object last stored:
  // when head differs, another object produced and `#tailCache` is reloaded.
  #lastHead = -1
  #tailCache = 0
  #pendingIdx = 0
  #pendingHead = 0
  // Consumer-side caches, symmetric.
  #lastTail = -1
  #headCache = 0
  #nextTail = 0

  /** Attaches to a ring initialised by `initSpscRing` at `byteOffset` of `buffer`. */
  constructor(buffer: ArrayBufferLike, byteOffset: number, options: SpscRingOptions = {}) {
    const i32 = viewOf(buffer, byteOffset)
    const base = byteOffset / 4
    this.#label = options.label ?? `the ring at offset ${byteOffset}`
    this.#fault = options.fault ?? { error: undefined }
    if (i32.length < base + SPSC_HEADER_BYTES / 4 || Atomics.load(i32, base + W_MAGIC) !== SPSC_MAGIC)
      throw this.corrupt(`no ring is initialised at offset ${byteOffset} of the buffer`)
    const capacity = Atomics.load(i32, base + W_CAPACITY)
    if (!validCapacity(capacity))
      throw this.corrupt(`the ring capacity ${capacity} is not a power of two from 64 to 2^30 bytes`)
    if (byteOffset + SPSC_HEADER_BYTES + capacity > buffer.byteLength)
      throw this.corrupt(
        `the ring of ${capacity} bytes at offset ${byteOffset} does not fit in the buffer of ${buffer.byteLength} bytes`,
      )
    this.capacity = capacity
    this.maxPayload = capacity / 2 - RECORD_HEADER
    this.#mask = capacity - 1
    this.#i32 = i32
    this.#r32 = new Int32Array(buffer, byteOffset + SPSC_HEADER_BYTES, capacity / 4)
    this.bytes = Buffer.from(buffer, byteOffset + SPSC_HEADER_BYTES, capacity)
    this.#iHead = base + W_HEAD
    this.#iTail = base + W_TAIL
    this.#iWriterWaiters = base + W_WRITER_WAITERS
    this.#iWriterNeed = base + W_WRITER_NEED
    this.#iReaderWaiters = base + W_READER_WAITERS
    this.#iReaderWake = base + W_READER_WAKE
    this.#iWriterWake = base + W_WRITER_WAKE
    this.#iWriterClosed = base + W_WRITER_CLOSED
    this.#iReaderClosed = base + W_READER_CLOSED
    this.#iAtomicPublish = base + W_ATOMIC_PUBLISH
    this.#spin = (options.spinMicros ?? 50) / 1000
    this.#asyncSpin = (options.asyncSpinMicros ?? 50) / 1000
    this.#asyncBlock = (options.asyncBlockMicros ?? 50) / 1000
    this.#check = options.check
    const host = options.host ?? NEVER_CLOSED
    this.#writer = this.#side(
      new EventCount(host, i32, this.#iWriterWake, this.#iWriterWaiters, { epoch: base + W_WRITER_EPOCH }),
      () => this.#pollRoom(this.#writer.size, this.#writer.room),
      () => this.#pollWriter(this.#writer.size) !== NOT_YET,
    )
    const plain = plainPublishing()
    this.#reader = this.#side(
      new EventCount(host, i32, this.#iReaderWake, this.#iReaderWaiters, {
        epoch: base + W_READER_EPOCH,
        afterRegister: plain ? () => this.#fenceUnlessAtomic() : undefined,
      }),
      () => this.#pollReader(),
    )
    this.#checkPositions()
    const flags =
      Atomics.load(i32, this.#iWriterClosed) |
      Atomics.load(i32, this.#iReaderClosed) |
      Atomics.load(i32, this.#iAtomicPublish)
    if ((flags & ~1) !== 0) throw this.corrupt(`a flag word holds ${flags}, not 0 or 1`)
    if (!plain) Atomics.store(i32, this.#iAtomicPublish, 1)
    this.#plainPublish = plain
  }

  // ------------------------------------------------------------ soundness

  /**
   * Records a layout violation found in this ring (or, by its user, in what
   * the ring carries) and returns the CorruptError to throw. From then on
   * every read, write and wait on the rings sharing this ring's `fault`
   * throws the first such error.
   */
  corrupt(detail: string, cause?: unknown): CorruptError {
    const error = new CorruptError(
      `Cannot use ${this.#label}: its shared memory is corrupt (${detail})`,
      cause === undefined ? undefined : { cause },
    )
    this.#fault.error ??= error
    return error
  }

  /** Throws the corruption found earlier, if any. */
  #assertSound(): void {
    const error = this.#fault.error
    if (error !== undefined) throw error
  }

  /**
   * Checks head and tail at attach, while the two sides may be moving them:
   * tail, head, tail again; equal tails mean the pair was consistent. A ring
   * too busy to catch still gets both words' alignment checked.
   */
  #checkPositions(): void {
    const i32 = this.#i32
    for (let tries = 0; tries < 64; tries++) {
      const tail = Atomics.load(i32, this.#iTail)
      const head = Atomics.load(i32, this.#iHead)
      if (Atomics.load(i32, this.#iTail) !== tail) continue
      this.#distance(head, tail)
      return
    }
    this.#distance(Atomics.load(i32, this.#iHead), Atomics.load(i32, this.#iHead))
    this.#distance(Atomics.load(i32, this.#iTail), Atomics.load(i32, this.#iTail))
  }

  /** `head - tail` in bytes, after checking both are 8-aligned and at most `capacity` apart. */
  #distance(head: number, tail: number): number {
    const used = (head - tail) >>> 0
    if (used > this.capacity || ((head | tail) & 7) !== 0)
      throw this.corrupt(
        `head ${head >>> 0} and tail ${tail >>> 0} must be multiples of 8 at most ${this.capacity} bytes apart`,
      )
    return used
  }

  // ---------------------------------------------------------------- state

  /** Bytes published and not yet consumed (records, headers and padding). */
  get usedBytes(): number {
    return (Atomics.load(this.#i32, this.#iHead) - Atomics.load(this.#i32, this.#iTail)) >>> 0
  }

  /** True when no record is waiting. */
  get isEmpty(): boolean {
    return Atomics.load(this.#i32, this.#iHead) === Atomics.load(this.#i32, this.#iTail)
  }

  /** True once the producing side was closed. */
  get writerClosed(): boolean {
    return Atomics.load(this.#i32, this.#iWriterClosed) !== 0
  }

  /**
   * True when this object's next commit stores head with a plain store (see
   * the header, "Ordering"): this process publishes plainly, and no process
   * that does not has attached to the ring.
   */
  get publishesPlainly(): boolean {
    // A plain load (see the header, "Plain loads"): a stale 0 is the attach race described there.
    return this.#plainPublish && this.#i32[this.#iAtomicPublish] === 0
  }

  /** The consumer's fence after it registers: none once every producer publishes atomically. */
  #fenceUnlessAtomic(): void {
    if (Atomics.load(this.#i32, this.#iAtomicPublish) === 0) fenceRemote()
  }

  /**
   * True once the consuming side was closed. A plain load (see the header,
   * "Plain loads"): a producer only refuses to write on it, so nothing is
   * ordered after it.
   */
  get readerClosed(): boolean {
    return this.#i32[this.#iReaderClosed] !== 0
  }

  /** Marks the producing side closed and wakes the consumer. Idempotent; any process may call it. */
  closeWriter(): void {
    Atomics.store(this.#i32, this.#iWriterClosed, 1)
    this.#reader.events.notifyAll()
  }

  /** Marks the consuming side closed and wakes the producer. Idempotent; any process may call it. */
  closeReader(): void {
    Atomics.store(this.#i32, this.#iReaderClosed, 1)
    this.#writer.events.notifyAll()
  }

  // ------------------------------------------------------------- producer

  /**
   * Finds room for a payload of `size` bytes. Returns the offset in `bytes`
   * to write it at, or -1 when the ring has no room now. Follow with
   * `commit(size, meta)`; until then nothing is visible to the consumer.
   *
   * @throws {RangeError} when `size` is over `maxPayload`.
   */
  reserve(size: number): number {
    this.#assertSound()
    this.#checkSize(size)
    const i32 = this.#i32
    // Our own word: a plain load (see the header, "Plain loads").
    const head = i32[this.#iHead] as number
    // Our own last head with the tail checked against it needs no new check: our commits keep them in range.
    if (head !== this.#lastHead) {
      this.#tailCache = Atomics.load(i32, this.#iTail)
      this.#distance(head, this.#tailCache)
    }
    const need = RECORD_HEADER + align8(size)
    let idx = head & this.#mask
    const contiguous = this.capacity - idx
    const total = need <= contiguous ? need : contiguous + need
    if (this.capacity - ((head - this.#tailCache) >>> 0) < total) {
      this.#tailCache = Atomics.load(i32, this.#iTail)
      if (this.capacity - this.#distance(head, this.#tailCache) < total) return -1
    }
    if (need > contiguous) {
      // Padding up to the end; the record starts at 0. Invisible until commit.
      this.#r32[idx >> 2] = PADDING
      idx = 0
    }
    this.#pendingIdx = idx
    this.#pendingHead = (head + total) | 0
    return idx + RECORD_HEADER
  }

  #checkSize(size: number): void {
    if (size > this.maxPayload || size < 0)
      throw outOfRange(`A ring record holds at most ${this.maxPayload} bytes, received ${size}`)
  }

  /** Publishes the record reserved last, with `size` payload bytes and `meta`. */
  commit(size: number, meta: number): void {
    const i32 = this.#i32
    const w = this.#pendingIdx >> 2
    this.#r32[w] = size
    this.#r32[w + 1] = meta | 0
    this.#lastHead = this.#pendingHead
    // See the header, "Ordering" and "Plain loads".
    if (this.publishesPlainly) {
      i32[this.#iHead] = this.#pendingHead
      if (i32[this.#iReaderWaiters] !== 0) this.#reader.events.notifyUnwoken()
      return
    }
    Atomics.store(i32, this.#iHead, this.#pendingHead)
    this.#reader.events.notifyUnwoken()
  }

  /** True when a payload of `size` bytes fits now (no side effects). */
  hasRoomFor(size: number): boolean {
    const head = Atomics.load(this.#i32, this.#iHead)
    const tail = Atomics.load(this.#i32, this.#iTail)
    return this.capacity - this.#distance(head, tail) >= this.#recordBytes(head, size)
  }

  /** The ring bytes a record of `size` bytes takes when written at `head`: header, payload, padding before it. */
  #recordBytes(head: number, size: number): number {
    const need = RECORD_HEADER + align8(size)
    const contiguous = this.capacity - (head & this.#mask)
    return need <= contiguous ? need : contiguous + need
  }

  /**
   * Whether a producer about to wait for room for `size` bytes spins first:
   * only when it is to be woken for its record alone (the rule of both
   * rings, room-wait.ts).
   */
  #spinsForRoom(size: number): boolean {
    return wokenForRecordAlone(this.#recordBytes(Atomics.load(this.#i32, this.#iHead), size), this.capacity)
  }

  /**
   * The producer's look while it waits for room. When it finds none, it
   * stores the room it is to be woken at and looks once more (a consume that
   * read the old need is seen then; see the header, "Hysteresis").
   */
  #pollRoom(size: number, wait: RoomWait): RingWaitResult | NotYet {
    const polled = this.#pollWriter(size)
    if (polled !== NOT_YET) return polled
    const i32 = this.#i32
    const record = this.#recordBytes(Atomics.load(i32, this.#iHead), size)
    Atomics.store(i32, this.#iWriterNeed, wait.need(record, Atomics.load(i32, this.#iTail), this.capacity))
    return this.#pollWriter(size)
  }

  /** Writes one encoded value if it fits now. Returns false when full or the reader closed. */
  tryWrite(encoded: Encoded, meta: number = encoded.tag): boolean {
    if (Atomics.load(this.#i32, this.#iReaderClosed) !== 0) return false
    const at = this.reserve(encoded.size)
    if (at < 0) return false
    writePayload(encoded, this.bytes, at)
    this.commit(encoded.size, meta)
    return true
  }

  /** Writes one value, blocking the thread while the ring is full. */
  writeSync(
    encoded: Encoded,
    timeout = Number.POSITIVE_INFINITY,
    meta: number = encoded.tag,
  ): 'ok' | 'closed' | 'timed-out' {
    const deadline = deadlineOf(timeout)
    for (;;) {
      if (this.readerClosed) return 'closed'
      if (this.tryWrite(encoded, meta)) return 'ok'
      const r = this.waitWritableSync(encoded.size, remaining(deadline))
      if (r !== 'ready') return r
    }
  }

  /** Writes one value, waiting (without blocking the event loop) while the ring is full. */
  async write(
    encoded: Encoded,
    options: { timeout?: number; signal?: AbortSignal | undefined } = {},
    meta: number = encoded.tag,
  ): Promise<'ok' | 'closed' | 'timed-out'> {
    throwIfAborted(options.signal)
    const deadline = deadlineOf(options.timeout ?? Number.POSITIVE_INFINITY)
    for (;;) {
      if (this.readerClosed) return 'closed'
      if (this.tryWrite(encoded, meta)) return 'ok'
      const r = await this.waitWritable(encoded.size, remaining(deadline), options.signal)
      if (r !== 'ready') return r
    }
  }

  /**
   * Blocks until a payload of `size` bytes fits, the reader closed, or
   * `timeout` ms passed. Spins briefly, then sleeps in the kernel.
   */
  waitWritableSync(size: number, timeout: number): RingWaitResult {
    this.#assertSound()
    this.#checkSize(size)
    const deadline = deadlineOf(timeout)
    if (Atomics.load(this.#i32, this.#iReaderClosed) !== 0) return 'closed'
    if (this.hasRoomFor(size)) return 'ready'
    const side = this.#writer
    side.size = size
    side.syncRules.deadline = deadline
    side.syncRules.spin = this.#spinsForRoom(size) ? side.syncSpin : undefined
    side.room.begin(Atomics.load(this.#i32, this.#iTail))
    return outcome(side.events.waitSync(side.attempt, side.syncRules))
  }

  /** Like `waitWritableSync`, without blocking the event loop (beyond a short spin). */
  async waitWritable(size: number, timeout: number, signal?: AbortSignal): Promise<RingWaitResult> {
    this.#assertSound()
    this.#checkSize(size)
    const deadline = deadlineOf(timeout)
    throwIfAborted(signal)
    if (Atomics.load(this.#i32, this.#iReaderClosed) !== 0) return 'closed'
    if (this.hasRoomFor(size)) return 'ready'
    const settled = () => this.#pollWriter(size) !== NOT_YET
    const spin = this.#spinsForRoom(size) ? () => this.#asyncSpinFor(this.#writer, settled, deadline) : undefined
    const rules = this.#rules(deadline, signal, spin)
    const wait = new RoomWait(rules, PEER_CHECK_MS)
    wait.begin(Atomics.load(this.#i32, this.#iTail))
    return outcome(await this.#writer.events.wait(() => this.#pollRoom(size, wait), rules))
  }

  // ------------------------------------------------------------- consumer

  /**
   * Looks at the next record without consuming it. Returns its payload
   * length (and sets `meta`, `start`, `length`), or -1 when none is there.
   *
   * @throws {CorruptError} when head, tail or the record header break the
   * layout's rules (see the header comment); the ring is unusable after.
   */
  peek(): number {
    this.#assertSound()
    // Our own word: a plain load (see the header, "Plain loads").
    let tail = this.#i32[this.#iTail] as number
    if (tail !== this.#lastTail) this.#headCache = this.#loadHead(tail)
    for (;;) {
      if (tail === this.#headCache) {
        this.#headCache = this.#loadHead(tail)
        if (tail === this.#headCache) {
          this.#lastTail = tail
          return -1
        }
      }
      // `#headCache` was checked against a tail at or before this one, so `published` <= capacity.
      const published = (this.#headCache - tail) >>> 0
      const idx = tail & this.#mask
      const length = this.#r32[idx >> 2] as number
      if (length === PADDING) {
        // Padding fills the area's end, never its start, and is published with the record after it.
        const skip = this.capacity - idx
        if (idx === 0 || skip >= published)
          throw this.corrupt(`padding at offset ${idx} with ${published} bytes published`)
        tail = (tail + skip) | 0
        this.#storeTail(tail)
        continue
      }
      const size = RECORD_HEADER + align8(length)
      if (length >>> 0 > this.maxPayload || size > published || idx + size > this.capacity)
        throw this.corrupt(`a record of length ${length} at offset ${idx} with ${published} bytes published`)
      this.meta = (this.#r32[(idx >> 2) + 1] as number) >>> 0
      this.start = idx + RECORD_HEADER
      this.length = length
      this.#nextTail = (tail + size) | 0
      this.#lastTail = tail
      return length
    }
  }

  /** Loads head, checked against `tail` (see `#distance`). */
  #loadHead(tail: number): number {
    const head = Atomics.load(this.#i32, this.#iHead)
    this.#distance(head, tail)
    return head
  }

  /** Consumes the record returned by the last `peek` (copy its payload out first). */
  consume(): void {
    this.#storeTail(this.#nextTail)
  }

  #storeTail(tail: number): void {
    const i32 = this.#i32
    Atomics.store(i32, this.#iTail, tail)
    this.#lastTail = tail
    // A sleeping producer is woken once the room it announced is free (see the header, "Hysteresis").
    // On x64 (plain publishing) a plain load: the XCHG of the store above keeps it after the store.
    if ((this.#plainPublish ? i32[this.#iWriterWaiters] : Atomics.load(i32, this.#iWriterWaiters)) === 0) return
    const free = this.capacity - ((Atomics.load(i32, this.#iHead) - tail) >>> 0)
    if (free >= Math.min(Atomics.load(i32, this.#iWriterNeed), this.capacity)) this.#writer.events.notifyUnwoken()
  }

  /** Reads and decodes one value (tag = low byte of meta), or returns RING_EMPTY. */
  tryRead(): unknown {
    if (this.peek() < 0) return RING_EMPTY
    const value = decodePayload(this.meta & 0xff, this.bytes, this.start, this.start + this.length)
    this.consume()
    return value
  }

  /** Reads one value, blocking the thread. Returns RING_EMPTY at timeout, RING_CLOSED at end of stream. */
  readSync(timeout = Number.POSITIVE_INFINITY): unknown {
    const deadline = deadlineOf(timeout)
    for (;;) {
      const value = this.tryRead()
      if (value !== RING_EMPTY) return value
      const r = this.waitReadableSync(remaining(deadline))
      if (r === 'timed-out') return RING_EMPTY
      if (r === 'closed') return RING_CLOSED
    }
  }

  /** Reads one value without blocking the event loop. Resolves RING_EMPTY at timeout, RING_CLOSED at end of stream. */
  async read(options: { timeout?: number; signal?: AbortSignal | undefined } = {}): Promise<unknown> {
    throwIfAborted(options.signal)
    const deadline = deadlineOf(options.timeout ?? Number.POSITIVE_INFINITY)
    for (;;) {
      const value = this.tryRead()
      if (value !== RING_EMPTY) return value
      const r = await this.waitReadable(remaining(deadline), options.signal)
      if (r === 'timed-out') return RING_EMPTY
      if (r === 'closed') return RING_CLOSED
    }
  }

  /**
   * Blocks until a record is there ('ready'), the ring is empty and its
   * writer closed ('closed'), or `timeout` ms passed ('timed-out').
   */
  waitReadableSync(timeout: number): RingWaitResult {
    this.#assertSound()
    const deadline = deadlineOf(timeout)
    const now = this.#pollReader()
    if (now !== NOT_YET) return now
    const side = this.#reader
    side.syncRules.deadline = deadline
    return outcome(side.events.waitSync(side.attempt, side.syncRules))
  }

  /**
   * Like `waitReadableSync`, without blocking the event loop (beyond a short
   * spin). `spun`: the caller ran `spinReadable` just before and it missed,
   * so the wait sleeps without spinning again.
   */
  async waitReadable(timeout: number, signal?: AbortSignal, spun = false): Promise<RingWaitResult> {
    this.#assertSound()
    const deadline = deadlineOf(timeout)
    throwIfAborted(signal)
    const now = this.#pollReader()
    if (now !== NOT_YET) return now
    const side = this.#reader
    const rules = this.#rules(
      deadline,
      signal,
      spun ? undefined : () => this.#asyncSpinFor(side, side.settled, deadline),
    )
    return outcome(await side.events.wait(side.attempt, rules))
  }

  /**
   * The spin (and short block) an async `waitReadable` starts with, run by a
   * caller that has not built its wait yet: true when a record, or the
   * writer's close, is there. A reply that comes within the spin is then
   * taken with no promise at all (an async round trip is mostly promise
   * hops otherwise); on false, `waitReadable(…, spun = true)` sleeps at once.
   */
  spinReadable(timeout: number): boolean {
    this.#assertSound()
    if (this.#pollReader() !== NOT_YET) return true
    const side = this.#reader
    return this.#asyncSpinFor(side, side.settled, deadlineOf(timeout))
  }

  // -------------------------------------------------------------- waiting
  //
  // The caller found its condition false once; the kernel's event count
  // (see the file comment) runs the rest with these re-checks and rules.

  /** The consumer's re-check: 'ready' (a record), 'closed' (empty, writer closed), or NOT_YET. */
  #pollReader(): RingWaitResult | NotYet {
    const i32 = this.#i32
    if (Atomics.load(i32, this.#iHead) !== Atomics.load(i32, this.#iTail)) return 'ready'
    if (Atomics.load(i32, this.#iWriterClosed) !== 0) return this.isEmpty ? 'closed' : 'ready'
    return NOT_YET
  }

  /** The producer's re-check: 'closed' (reader closed), 'ready' (room for `size`), or NOT_YET. */
  #pollWriter(size: number): RingWaitResult | NotYet {
    if (Atomics.load(this.#i32, this.#iReaderClosed) !== 0) return 'closed'
    if (this.hasRoomFor(size)) return 'ready'
    return NOT_YET
  }

  /** One side's waiting state; `attempt` is its re-check. */
  /** `settled` defaults to `attempt` finding the wait over; the producer's spin looks for room only. */
  #side(
    events: EventCount,
    attempt: () => RingWaitResult | NotYet,
    settled: () => boolean = () => attempt() !== NOT_YET,
  ): Side {
    const spin = new AdaptiveSpin()
    const syncSpin = () => spin.spin(settled, this.#spin, syncRules.deadline)
    const syncRules = this.#rules(Number.POSITIVE_INFINITY, undefined, syncSpin)
    const room = new RoomWait(syncRules, PEER_CHECK_MS)
    const block = new AsyncBlock(this.#asyncBlock)
    return { events, spin, block, size: 0, room, attempt, settled, syncRules, syncSpin }
  }

  /** The rules of one wait: peer checks every PEER_CHECK_MS, `spin` before the first sleep. */
  #rules(deadline: number, signal: AbortSignal | undefined, spin: (() => boolean) | undefined): WaitRules {
    return { deadline, signal, spin, sliceMs: PEER_CHECK_MS, onSlice: this.#check, label: this.#label }
  }

  /**
   * The async spin policy: the adaptive spin, then (when it missed) one
   * short blocking futex wait, registered, so a quick answer wakes this
   * thread directly (its length: waiting/async-block.ts). True when
   * `settled` holds after either.
   */
  #asyncSpinFor(side: Side, settled: () => boolean, deadline: number): boolean {
    if (side.spin.spin(settled, this.#asyncSpin, deadline)) return true
    const ms = Math.min(side.block.next(runtime().waits.size > 0), remaining(deadline))
    if (ms <= 0) return false
    const started = performance.now()
    const answered = side.events.pauseSync(settled, ms)
    side.block.record(answered, performance.now() - started)
    return answered
  }
}

/** A ring wait's result from the event count's. */
function outcome(result: RingWaitResult | typeof TIMED_OUT): RingWaitResult {
  return result === TIMED_OUT ? 'timed-out' : result
}

/**
 * Writes an empty ring's header at `byteOffset` of `buffer` (zeroing its
 * counters and flags). Call once, before any process attaches (e.g. in a
 * Segment's `init`).
 */
export function initSpscRing(buffer: ArrayBufferLike, byteOffset: number, capacity: number): void {
  checkCapacity(capacity)
  const i32 = viewOf(buffer, byteOffset)
  if (byteOffset + SPSC_HEADER_BYTES + capacity > buffer.byteLength)
    throw outOfRange(`A ring of ${capacity} bytes at offset ${byteOffset} does not fit in ${buffer.byteLength} bytes`)
  const base = byteOffset / 4
  i32.fill(0, base, base + SPSC_HEADER_BYTES / 4)
  Atomics.store(i32, base + W_CAPACITY, capacity)
  Atomics.store(i32, base + W_MAGIC, SPSC_MAGIC)
}
