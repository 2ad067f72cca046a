/**
 * A multi-producer / multi-consumer ring of variable-length messages in a
 * Segment's data area. Any number of threads and processes put and get; each
 * message is taken by exactly one get; messages of one producer come out in
 * the order they went in. Queue is a thin layer over it.
 *
 * Design: one producer lock and one consumer lock. The holder of the producer
 * lock appends at `tail`, the holder of the consumer lock takes at `head`;
 * the two sides run in parallel like a single-producer/single-consumer ring.
 * A lock word names its owner (segment slot + attach epoch), so a waiter that
 * finds the owner dead (SIGKILL, or a terminated worker thread) takes the lock
 * over and repairs the one counter its owner may have left half-updated.
 *
 * Ring header (i32 words from the ring's start, which is 64-byte aligned; each
 * group sits on its own cache line so the two sides do not false-share):
 *
 * | word    | name              | written by                 | meaning                                              |
 * |---------|-------------------|----------------------------|------------------------------------------------------|
 * | 0       | P_LOCK            | producers (CAS)            | 0 free; else owner word: slot+1, WAITERS bit, epoch  |
 * | 1       | TAIL              | producer-lock holder       | byte position where the next message goes, mod 2·cap |
 * | 2       | TAIL_COUNT        | producer-lock holder       | messages ever put (u32, wraps); bumped before TAIL   |
 * | 3       | P_OLD_TAIL        | producer-lock holder       | journal: TAIL before the commit in progress          |
 * | 4       | P_OLD_COUNT       | producer-lock holder       | journal: TAIL_COUNT before the commit in progress    |
 * | 5       | P_CACHED_HEAD     | producer-lock holder       | a recent HEAD (never ahead of the real one)          |
 * | 6       | P_CACHED_HCOUNT   | producer-lock holder       | a recent HEAD_COUNT (never ahead of the real one)    |
 * | 7       | P_PHASE           | producer-lock holder       | 1 while a commit is in progress (journal valid)      |
 * | 16      | C_LOCK            | consumers (CAS)            | as P_LOCK, for the consumer side                     |
 * | 17      | HEAD              | consumer-lock holder       | byte position of the oldest message, mod 2·cap       |
 * | 18      | HEAD_COUNT        | consumer-lock holder       | messages ever taken (u32, wraps); bumped after HEAD  |
 * | 19      | C_OLD_HEAD        | consumer-lock holder       | journal: HEAD before the commit in progress          |
 * | 20      | C_OLD_COUNT       | consumer-lock holder       | journal: HEAD_COUNT before the commit in progress    |
 * | 21      | C_CACHED_TAIL     | consumer-lock holder       | a recent TAIL (never ahead of the real one)          |
 * | 22      | C_PHASE           | consumer-lock holder       | 1 while a commit is in progress (journal valid)      |
 * | 32      | MAGIC             | init                       | 0x434d504d ('MPMC')                                  |
 * | 33      | VERSION           | init                       | MPMC_RING_VERSION                                    |
 * | 34      | CAPACITY          | init                       | bytes of the data area (multiple of 8)               |
 * | 35      | MAX_ITEMS         | init                       | 0 = no limit; else puts wait while this many are in  |
 * | 36      | FLAGS             | shutdown()                 | bit 0: shut down (no more puts)                      |
 * | 37      | C_WAITERS         | consumers about to sleep   | how many sleep (or are about to) on C_EVENT          |
 * | 38      | C_EVENT           | producers, shutdown()      | bumped to wake consumers waiting for a message       |
 * | 39      | P_WAITERS         | producers about to sleep   | how many sleep on P_EVENT                            |
 * | 40      | P_EVENT           | consumers, shutdown()      | bumped to wake producers waiting for room            |
 * | 64+s    | SLOT_EPOCH[s]     | the object attaching at s  | bumped at each attach; makes owner words unique      |
 * | 192+s   | SLOT_C_WAITERS[s] | the object at slot s       | its share of C_WAITERS (reclaimed when it dies)      |
 * | 320+s   | SLOT_P_WAITERS[s] | the object at slot s       | its share of P_WAITERS                               |
 * | 448     | data              | producer-lock holder       | CAPACITY bytes of messages                           |
 *
 * A message: i32 payload size, i32 codec tag, then the payload, padded to 8
 * bytes. The 8-byte header never wraps (positions are multiples of 8); the
 * payload may wrap to the start of the data area. HEAD and TAIL run modulo
 * 2·CAPACITY so that HEAD == TAIL means empty and a distance of CAPACITY full.
 *
 * Why the orderings are safe:
 * - A producer writes the message, then stores TAIL (seq-cst). A consumer
 *   loads TAIL before reading the message, so it never sees a half-written
 *   one; a producer killed before the store leaves nothing visible.
 * - A consumer copies the message out, then stores HEAD. A producer loads HEAD
 *   before overwriting, so it never overwrites an unread message; a consumer
 *   killed before the store leaves the message to the next consumer.
 * - Sleeping: a waiter reads the EVENT word, adds itself to WAITERS, re-checks
 *   the condition, then futex-waits on EVENT with the value it read. The other
 *   side changes the condition, then reads WAITERS and, if non-zero, bumps
 *   EVENT and wakes. Seq-cst order makes one of them see the other, so no
 *   wake is lost; when nobody sleeps no syscall is made.
 * - Locks: the owner word holds slot+1, a WAITERS bit and the attach epoch.
 *   A sleeper sets WAITERS before it sleeps. Unlock CASes the owner's own word
 *   to 0; when that fails (WAITERS was set) it exchanges the word with 0 and
 *   wakes one sleeper. A woken sleeper takes the lock with WAITERS set again
 *   (others may sleep), so a dead sleeper costs at most one extra wake. A
 *   sleeper checks every LOCK_POLL_MS whether the owner is gone: its slot
 *   re-attached (epoch changed), freed or its process dead, or (Linux) its
 *   thread gone; so does a caller about to give up. A word naming a free or
 *   re-attached slot is a dead owner, not corruption: a holder that died and
 *   whose slot was reaped by a process with no ring attached leaves exactly
 *   that. Only words no attachment could write are corrupt (`#checkOwner`).
 * - Waiting for a lock is bounded by the call's deadline: an async call spins
 *   for microseconds, then awaits a futex wait on the lock word (at most
 *   LOCK_POLL_MS at a time, so a dead owner is still found); a sync call
 *   sleeps on it until its own deadline; a call that does not wait (timeout
 *   0) gives up after the spin and reports "empty" / "full". A call with no
 *   timeout waits while a live owner holds the lock (a stopped process may
 *   hold it for as long as it stays stopped). The lock is never held across
 *   an await: the attempt that takes it also releases it. An async put still
 *   waiting when its thread exits gets one last attempt in an exit hook
 *   (waiting up to LOCK_BOUND_MS for the lock), so `put(); process.exit()`
 *   keeps the item even when the lock was busy. An async put waits behind an
 *   earlier async put of the same object that still waits, so un-awaited
 *   puts keep one producer's order.
 * - Journal: only the lock holder writes the journal, PHASE and the counts,
 *   with plain stores in this order: old position, old count, PHASE = 1, new
 *   count, then the position with Atomics.store (the commit), then PHASE = 0.
 *   A killed process's stores stay in program order, so whoever takes the lock
 *   over from it and finds PHASE = 1 decides from the position whether the
 *   commit happened and sets the count to match.
 * - Per-slot waiter shares are added before and subtracted after the global
 *   counter, so reclaiming a dead slot's share never makes the global counter
 *   smaller than the number of live sleepers (too large only costs a syscall).
 *
 * Range checks (any process can scribble on these words; one helper each,
 * used by every path): `#span` checks HEAD and TAIL (multiples of 8 below
 * 2·CAPACITY, at most CAPACITY apart) wherever they are read (a cached copy
 * that fails is reloaded instead); `#getLocked`
 * checks a message header (size from 0 with the whole message within what
 * was published, tag known); `#checkOwner` checks a lock word (slot 1…128,
 * bit 31 clear, not this attachment's own); `#putLocked` checks the item count
 * when it enforces MAX_ITEMS; the constructor checks the whole header once
 * (`#checkHeader`). A violation, or a payload the codec cannot revive, throws
 * CorruptError and makes this attachment refuse every later put and get (a
 * message that could be delimited was first dropped, so other processes go
 * on); `detach` and closing the segment still work. Sleeps last at most
 * RECHECK_MS, so a corrupt WAITERS count costs a late wake-up, never a hang.
 * A lock word scribbled to name a live attachment looks like a stopped
 * holder: calls wait for it up to their deadline, as above.
 *
 * What a SIGKILL can lose: a producer killed inside `put` loses only the item
 * of that call, which is then either wholly in the ring or not at all (never
 * partial). A consumer killed inside `get` before it committed HEAD loses
 * nothing (the next consumer gets the item); killed after the commit and before
 * its caller used the value, that one item is lost. Nothing else is lost and
 * no other participant waits more than LOCK_POLL_MS longer than it would.
 */
import { existsSync } from 'node:fs'
import { decodePayload, type Encoded, encode, TAG_LATIN1, TAG_MAX, writePayload } from '../codec/codec.js'
import { ClosedError, CorruptError, IncompatibleError, outOfRange, TimeoutError } from '../errors.js'
import type { Segment } from '../memory/segment.js'
import { notifyWord, waitWord, waitWordSync } from '../waiting/futex.js'
import { deadlineOf, onAbort, remaining } from '../waiting/signal.js'

/** Layout version of the ring; bump when the table above changes. */
export const MPMC_RING_VERSION = 1
const MAGIC = 0x434d504d

const P_LOCK = 0
const TAIL = 1
const TAIL_COUNT = 2
const P_OLD_TAIL = 3
const P_OLD_COUNT = 4
const P_CACHED_HEAD = 5
const P_CACHED_HCOUNT = 6
const P_PHASE = 7
const C_LOCK = 16
const HEAD = 17
const HEAD_COUNT = 18
const C_OLD_HEAD = 19
const C_OLD_COUNT = 20
const C_CACHED_TAIL = 21
const C_PHASE = 22
const MAGIC_WORD = 32
const VERSION_WORD = 33
const CAPACITY = 34
const MAX_ITEMS = 35
const FLAGS = 36
const C_WAITERS = 37
const C_EVENT = 38
const P_WAITERS = 39
const P_EVENT = 40
const SLOT_EPOCH = 64
const SLOT_C_WAITERS = 192
const SLOT_P_WAITERS = 320
const HEADER_WORDS = 448
/** Bytes of the ring header; the data area follows. */
export const MPMC_RING_HEADER_BYTES = HEADER_WORDS * 4

const FLAG_SHUTDOWN = 1
const OWNER_SLOT_MASK = 0xff
const WAITERS_BIT = 0x100
const EPOCH_SHIFT = 9
const EPOCH_MASK = 0x3fffff
const SLOTS = 128
const MESSAGE_HEADER = 8
/** Largest capacity: positions run modulo 2·capacity in a positive int32. */
export const MPMC_RING_MAX_CAPACITY = 0x3ffffff8
/** Smallest capacity accepted. */
export const MPMC_RING_MIN_CAPACITY = 64
/** Strings up to this length try the Latin-1 fast path (a JS loop, no codec call). */
const SHORT_STRING = 256
/** Spins on a lock before sleeping. */
const LOCK_SPINS = 200
/**
 * Checks of a waiting get/put before it sleeps. Between checks it idles on
 * private memory, doubling the pause from 32 to 2048 iterations (about 70 µs
 * in all), so a consumer that caught up lets a few messages accumulate rather
 * than pulling the producer's cache lines over on every message. Measured on
 * 2 cores: a 20 µs budget sleeps (and costs futex round trips) far more often,
 * halving throughput with 2 producers and 2 consumers.
 */
const WAIT_SPINS = 40
const PAUSE_MIN = 32
const PAUSE_MAX = 2048
/** How often a sleeper on a lock checks whether the owner died, in ms. */
const LOCK_POLL_MS = 5
/**
 * How long the calls that have no timeout of their own and must not hang wait
 * for a lock that one live owner holds (normally for microseconds):
 * `shutdown(true)`, and the exit hook that finishes pending async puts.
 */
const LOCK_BOUND_MS = 2000
/** A deadline already passed: the attempt does not sleep for a lock. */
const NO_WAIT = 0
/** Longest single sleep of a waiting put or get before it looks again, in ms. */
const RECHECK_MS = 1000
/** After this many wakes that woke nobody, look for dead waiters. */
const FUTILE_WAKES = 256
const ALL = 0x7fffffff

/** Result of a put attempt. */
export const MPMC_PUT_OK = 0
/** No room (bytes or MAX_ITEMS) right now. */
export const MPMC_PUT_FULL = 1
/** The ring was shut down; nothing was put. */
export const MPMC_PUT_SHUTDOWN = 2
export type MpmcPutStatus = typeof MPMC_PUT_OK | typeof MPMC_PUT_FULL | typeof MPMC_PUT_SHUTDOWN

/** Returned by get attempts when no message is there. */
export const MPMC_EMPTY: unique symbol = Symbol('ring-empty')
/** Returned by get attempts when no message is there and the ring was shut down. */
export const MPMC_SHUTDOWN: unique symbol = Symbol('ring-shutdown')
/** Internal: a live owner held the lock at the attempt's deadline; nothing was done. */
const LOCKED: unique symbol = Symbol('ring-locked')
type Taken = unknown

/** Options fixed when the ring is created. */
export interface MpmcRingInit {
  /** Bytes of the data area; a message takes 8 bytes of header plus its payload padded to 8. */
  capacity: number
  /** 0 = no limit; else `put` waits while this many messages are in the ring. */
  maxItems?: number
}

/** Bytes a ring of `capacity` needs in a segment (header + data). */
export function mpmcRingBytes(capacity: number): number {
  return MPMC_RING_HEADER_BYTES + checkMpmcCapacity(capacity)
}

/** Validates a capacity and rounds it up to a multiple of 8. */
export function checkMpmcCapacity(capacity: number): number {
  if (!Number.isSafeInteger(capacity) || capacity < MPMC_RING_MIN_CAPACITY || capacity > MPMC_RING_MAX_CAPACITY)
    throw outOfRange(
      `The "capacity" option must be an integer from ${MPMC_RING_MIN_CAPACITY} to ${MPMC_RING_MAX_CAPACITY} bytes, received ${capacity}`,
    )
  return (capacity + 7) & ~7
}

/** Buffer's own Latin-1 slicing (present on every Buffer, missing from its types). */
interface FastSlice {
  latin1Slice(start: number, end: number): string
}

/** Strings up to this length are decoded by String.fromCharCode (no native call). */
const SHORT_DECODE = 16
const fromCharCode = String.fromCharCode

/** Decodes a Latin-1 string of at most SHORT_DECODE bytes: one call, a flat one-byte string. */
function shortLatin1(u: Uint8Array, s: number, n: number): string {
  // biome-ignore format: one case per length reads best in columns
  switch (n) {
    case 0: return ''
    case 1: return fromCharCode(u[s] as number)
    case 2: return fromCharCode(u[s] as number, u[s + 1] as number)
    case 3: return fromCharCode(u[s] as number, u[s + 1] as number, u[s + 2] as number)
    case 4: return fromCharCode(u[s] as number, u[s + 1] as number, u[s + 2] as number, u[s + 3] as number)
    default: {
      const a = u[s] as number, b = u[s + 1] as number, c = u[s + 2] as number, d = u[s + 3] as number
      const e = u[s + 4] as number
      switch (n) {
        case 5: return fromCharCode(a, b, c, d, e)
        case 6: return fromCharCode(a, b, c, d, e, u[s + 5] as number)
        case 7: return fromCharCode(a, b, c, d, e, u[s + 5] as number, u[s + 6] as number)
        case 8: return fromCharCode(a, b, c, d, e, u[s + 5] as number, u[s + 6] as number, u[s + 7] as number)
        default: {
          const f = u[s + 5] as number, g = u[s + 6] as number, h = u[s + 7] as number, i = u[s + 8] as number
          switch (n) {
            case 9: return fromCharCode(a, b, c, d, e, f, g, h, i)
            case 10: return fromCharCode(a, b, c, d, e, f, g, h, i, u[s + 9] as number)
            case 11: return fromCharCode(a, b, c, d, e, f, g, h, i, u[s + 9] as number, u[s + 10] as number)
            case 12: return fromCharCode(a, b, c, d, e, f, g, h, i, u[s + 9] as number, u[s + 10] as number, u[s + 11] as number)
            default: {
              const j = u[s + 9] as number, k = u[s + 10] as number, l = u[s + 11] as number, m = u[s + 12] as number
              switch (n) {
                case 13: return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m)
                case 14: return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, u[s + 13] as number)
                case 15: return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, u[s + 13] as number, u[s + 14] as number)
                default: return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, u[s + 13] as number, u[s + 14] as number, u[s + 15] as number)
              }
            }
          }
        }
      }
    }
  }
}

/** What a waiting put or get repeats, and the words it sleeps on (offsets from the ring start). */
interface WaitSide {
  /** True: tryPut (waits for room); false: tryGet (waits for a message). */
  readonly put: boolean
  /** What the attempt returns when it must wait: MPMC_PUT_FULL or MPMC_EMPTY. */
  readonly none: unknown
  readonly event: number
  readonly waiters: number
  readonly slotWaiters: number
  /** The lock the attempt takes: P_LOCK or C_LOCK. */
  readonly lock: number
  /** Whether an async wait spins before it sleeps (only get does). */
  readonly spinsAsync: boolean
}

const PUT_SIDE: WaitSide = {
  put: true,
  none: MPMC_PUT_FULL,
  event: P_EVENT,
  waiters: P_WAITERS,
  slotWaiters: SLOT_P_WAITERS,
  lock: P_LOCK,
  spinsAsync: false,
}
const GET_SIDE: WaitSide = {
  put: false,
  none: MPMC_EMPTY,
  event: C_EVENT,
  waiters: C_WAITERS,
  slotWaiters: SLOT_C_WAITERS,
  lock: C_LOCK,
  spinsAsync: true,
}

/** Private memory to idle on: spinning here makes no cache-coherence traffic. */
const idleWord = new Int32Array(16)

/** Busy-waits about `iterations` nanoseconds without touching shared memory. */
function idle(iterations: number): void {
  let x = idleWord[0] as number
  for (let i = 0; i < iterations; i++) x = (x + i) | 0
  idleWord[0] = x
}

/** An async put still waiting (for room or the lock) in this thread. */
interface PendingPut {
  readonly ring: MpmcRing
  readonly value: unknown
  readonly encoded: Encoded | undefined
}

/** This thread's pending async puts, oldest first: the exit hook finishes them. */
const pendingPuts = new Set<PendingPut>()
let exitHookInstalled = false

let threadsVisible: boolean | undefined

/**
 * Whether /proc shows this process's threads, so that a missing
 * /proc/<pid>/task/<tid> means the thread is gone (checked once: without
 * /proc every thread would look gone).
 */
function canSeeThreads(): boolean {
  if (threadsVisible === undefined)
    threadsVisible = process.platform === 'linux' && existsSync(`/proc/${process.pid}/task/${process.pid}`)
  return threadsVisible
}

/**
 * One attachment to a ring (one per Segment object). Not shared between
 * threads: each thread attaches its own.
 */
export class MpmcRing {
  /** Bytes of the data area. */
  readonly capacity: number
  /** 0 = no limit on the number of messages. */
  readonly maxItems: number
  readonly #segment: Segment
  readonly #i32: Int32Array
  readonly #u8: Uint8Array
  readonly #buf: Buffer
  /** Word index of the ring's first word in #i32. */
  readonly #w: number
  /** Byte offset of the data area in the mapping. */
  readonly #data: number
  readonly #cap2: number
  /** This object's owner word for the locks. */
  readonly #me: number
  readonly #slot: number
  readonly #label: string
  #scratch: Buffer | undefined
  #futile = 0
  /** Async puts of this object still waiting; while there are any, later puts queue behind them. */
  #putsWaiting = 0
  /** Settles when the latest of those puts settles. */
  #lastPut: Promise<void> | undefined
  /** The owner word (WAITERS set) of the lock the last LOCKED attempt found held: what to sleep on. */
  #held = 0
  /** The first corruption found; every later put and get throws it. */
  #fault: CorruptError | undefined

  /** Writes a fresh ring header at byte `offset` of the segment (in Segment.create's `init`). */
  static init(segment: Segment, offset: number, options: MpmcRingInit): void {
    const capacity = checkMpmcCapacity(options.capacity)
    const maxItems = options.maxItems ?? 0
    if (!Number.isSafeInteger(maxItems) || maxItems < 0 || maxItems > 0x7fffffff)
      throw outOfRange(`The ring's "maxItems" must be an integer from 0 to 2147483647, received ${maxItems}`)
    if (offset % 64 !== 0) throw outOfRange(`The ring offset must be 64-byte aligned, received ${offset}`)
    if (offset + MPMC_RING_HEADER_BYTES + capacity > segment.u8.byteLength)
      throw outOfRange(`The segment is too small for a ring of ${capacity} bytes at offset ${offset}`)
    const w = offset / 4
    const i32 = segment.i32
    i32.fill(0, w, w + HEADER_WORDS)
    i32[w + CAPACITY] = capacity
    i32[w + MAX_ITEMS] = maxItems
    i32[w + VERSION_WORD] = MPMC_RING_VERSION
    Atomics.store(i32, w + MAGIC_WORD, MAGIC)
  }

  /**
   * Attaches to the ring at byte `offset` of `segment`. `label` names the
   * primitive in error messages ("queue").
   */
  constructor(segment: Segment, offset: number, label = 'ring') {
    this.#segment = segment
    this.#i32 = segment.i32
    this.#u8 = segment.u8
    this.#buf = Buffer.from(segment.buffer)
    this.#w = offset / 4
    this.#label = label
    const i32 = this.#i32
    const w = this.#w
    if (Atomics.load(i32, w + MAGIC_WORD) !== MAGIC)
      throw this.corrupt(`its ring header has magic ${i32[w + MAGIC_WORD]}, not ${MAGIC}`)
    if (i32[w + VERSION_WORD] !== MPMC_RING_VERSION)
      throw new IncompatibleError(
        `Cannot attach to the ${label} "${segment.name}": its ring has layout version ${i32[w + VERSION_WORD]}, this process knows ${MPMC_RING_VERSION}`,
      )
    this.capacity = i32[w + CAPACITY] as number
    this.maxItems = i32[w + MAX_ITEMS] as number
    this.#cap2 = this.capacity * 2
    this.#data = offset + MPMC_RING_HEADER_BYTES
    this.#checkHeader()
    this.#slot = segment.slot
    const epoch = (Atomics.add(i32, w + SLOT_EPOCH + this.#slot, 1) + 1) & EPOCH_MASK
    this.#me = (this.#slot + 1) | (epoch << EPOCH_SHIFT)
    // A fresh attachment has no sleepers: whatever its slot still counts was
    // left by an earlier occupant that died without leaving.
    this.#reclaimShares(this.#slot)
  }

  // ---------------------------------------------------------------- soundness

  /**
   * Records a layout violation (or a payload that cannot be revived) and
   * returns the CorruptError to throw; every later put and get of this
   * attachment throws the first one.
   */
  corrupt(detail: string, cause?: unknown): CorruptError {
    const error = new CorruptError(
      `Cannot use the ${this.#label} "${this.#segment.name}": its shared memory is corrupt (${detail})`,
      cause === undefined ? undefined : { cause },
    )
    this.#fault ??= error
    return error
  }

  /** Throws the corruption found earlier, if any (users of the ring call it before their own reads). */
  assertSound(): void {
    if (this.#fault !== undefined) throw this.#fault
  }

  /** Checks every header word once, at attach: sizes, positions, states, lock owners, the item count. */
  #checkHeader(): void {
    const i32 = this.#i32
    const w = this.#w
    const cap = this.capacity
    if (
      !Number.isInteger(cap) ||
      cap < MPMC_RING_MIN_CAPACITY ||
      cap > MPMC_RING_MAX_CAPACITY ||
      cap % 8 !== 0 ||
      this.#data + cap > this.#u8.byteLength
    )
      throw this.corrupt(
        `capacity ${cap} is not a multiple of 8 from 64 to ${MPMC_RING_MAX_CAPACITY} that fits the segment`,
      )
    if (this.maxItems < 0) throw this.corrupt(`maxItems ${this.maxItems} is negative`)
    if (((i32[w + FLAGS] as number) & ~FLAG_SHUTDOWN) !== 0) throw this.corrupt(`flags ${i32[w + FLAGS]} are unknown`)
    for (const phase of [P_PHASE, C_PHASE])
      if (((i32[w + phase] as number) & ~1) !== 0) throw this.corrupt(`a commit phase is ${i32[w + phase]}`)
    for (const lock of [P_LOCK, C_LOCK]) {
      const owner = Atomics.load(i32, w + lock)
      if (owner !== 0) this.#checkOwner(owner)
    }
    // Positions and counts move while we look: check how they relate on a
    // snapshot read twice alike; a ring too busy to catch still gets each
    // position's range checked (the per-message checks do the rest). The
    // cached copies need no check: a bad one is reloaded where it is used.
    const words = [HEAD, TAIL, HEAD_COUNT, TAIL_COUNT]
    const read = () => words.map((word) => Atomics.load(i32, w + word))
    for (let tries = 0; tries < 64; tries++) {
      const seen = read()
      if (read().some((value, k) => value !== seen[k])) continue
      const [head, tail, headCount, tailCount] = seen as [number, number, number, number]
      this.#span(head, tail)
      this.#checkCount(tailCount, headCount)
      return
    }
    for (const word of [HEAD, TAIL]) {
      const position = Atomics.load(i32, w + word)
      this.#span(position, position)
    }
  }

  /**
   * Bytes from `head` to `tail` (positions run modulo 2·capacity), after
   * checking both are multiples of 8 below 2·capacity and at most capacity apart.
   */
  #span(head: number, tail: number): number {
    const used = this.#spanOf(head, tail)
    if (used < 0)
      throw this.corrupt(
        `head ${head} and tail ${tail} must be multiples of 8 below ${this.#cap2} at most ${this.capacity} apart`,
      )
    return used
  }

  /** `#span` without the throw: -1 when the pair breaks the rules (a cached copy is then reloaded). */
  #spanOf(head: number, tail: number): number {
    let used = tail - head
    if (used < 0) used += this.#cap2
    if (((head | tail) & 7) !== 0 || head >>> 0 >= this.#cap2 || tail >>> 0 >= this.#cap2 || used > this.capacity)
      return -1
    return used
  }

  /**
   * Checks messages put minus messages taken: each message takes at least 8
   * bytes, and a put and a get in progress may each count one more.
   */
  #checkCount(putCount: number, takenCount: number): number {
    const count = (putCount - takenCount) | 0
    if (count < -2 || count > this.capacity / MESSAGE_HEADER + 2)
      throw this.corrupt(`${putCount} messages put and ${takenCount} taken do not fit ${this.capacity} bytes`)
    return count
  }

  /** Checks a non-zero lock word: slot 1…128, bit 31 clear, and not ours (we never wait for ourselves). */
  #checkOwner(owner: number): void {
    const slot = owner & OWNER_SLOT_MASK
    if (owner < 0 || slot === 0 || slot > SLOTS || (owner & ~WAITERS_BIT) === this.#me)
      throw this.corrupt(`a lock word is ${owner}`)
  }

  /** Largest payload (encoded bytes) one message may have. */
  get maxPayload(): number {
    return this.capacity - MESSAGE_HEADER
  }

  /** Messages in the ring now (a put in progress may count already). */
  count(): number {
    this.assertSound()
    const i32 = this.#i32
    const w = this.#w
    // HEAD_COUNT first: it never passes TAIL_COUNT, so the difference is never negative.
    // Both move while we read them, so a bad pair is clamped (to what the bytes can hold), not thrown.
    const head = Atomics.load(i32, w + HEAD_COUNT)
    const tail = Atomics.load(i32, w + TAIL_COUNT)
    const count = (tail - head) | 0
    return Math.min(Math.max(count, 0), this.capacity / MESSAGE_HEADER)
  }

  /** Messages ever put (an int32 that wraps). */
  putCount(): number {
    this.assertSound()
    return Atomics.load(this.#i32, this.#w + TAIL_COUNT)
  }

  /** True once `shutdown()` ran in any process. */
  isShutdown(): boolean {
    return (Atomics.load(this.#i32, this.#w + FLAGS) & FLAG_SHUTDOWN) !== 0
  }

  /**
   * Encodes `value` for put, or returns undefined for a short Latin-1 string
   * (written by the fast path). Throws DataCloneError or RangeError before
   * anything is written.
   */
  prepare(value: unknown): Encoded | undefined {
    // A short string goes the fast path even if it turns out not to be
    // Latin-1: #putLocked then encodes it as UTF-8 (3 bytes a char at most).
    if (
      typeof value === 'string' &&
      value.length <= SHORT_STRING &&
      MESSAGE_HEADER + value.length * 3 + 7 <= this.capacity
    )
      return undefined
    return this.#checkSize(encode(value))
  }

  #checkSize(encoded: Encoded): Encoded {
    if (MESSAGE_HEADER + ((encoded.size + 7) & ~7) > this.capacity)
      throw outOfRange(
        `Cannot put an item of ${encoded.size} bytes (encoded) into the ${this.#label} "${this.#segment.name}": ` +
          `it holds ${this.capacity} bytes, so an item may take at most ${this.maxPayload}`,
      )
    return encoded
  }

  // ---------------------------------------------------------------- put

  /**
   * One put attempt that waits neither for room nor for the producer lock.
   * `encoded` comes from `prepare(value)`. MPMC_PUT_FULL also when another
   * live producer holds the lock beyond a brief spin (it is stopped, or was
   * descheduled mid-copy): the item could not be put now, and was not.
   */
  tryPut(value: unknown, encoded: Encoded | undefined): MpmcPutStatus {
    const status = this.#putBy(value, encoded, NO_WAIT)
    return status === LOCKED ? MPMC_PUT_FULL : status
  }

  /** One put attempt, waiting for the producer lock until `deadline` (not for room). */
  #putBy(value: unknown, encoded: Encoded | undefined, deadline: number): MpmcPutStatus | typeof LOCKED {
    this.assertSound()
    if (Atomics.compareExchange(this.#i32, this.#w + P_LOCK, 0, this.#me) !== 0 && !this.#lock(P_LOCK, deadline))
      return LOCKED
    return this.#putLocked(value, encoded)
  }

  /** Waits up to `timeout` ms for room (and for the producer lock), blocking the thread. */
  putSync(value: unknown, encoded: Encoded | undefined, timeout: number): MpmcPutStatus {
    const first = this.#putBy(value, encoded, NO_WAIT)
    if (first === MPMC_PUT_OK || first === MPMC_PUT_SHUTDOWN) return first
    if (timeout <= 0) return MPMC_PUT_FULL
    return this.#waitSync(PUT_SIDE, value, encoded, deadlineOf(timeout)) as MpmcPutStatus
  }

  /**
   * Waits up to `timeout` ms for room (and for the producer lock) without
   * blocking the event loop: beyond a brief spin, a held lock is awaited.
   * Returns the status synchronously when it is known at once. While an
   * earlier put of this object still waits, this one waits behind it (so
   * one producer's items keep their order), or with timeout 0 reports full.
   * An aborted `signal` rejects with its reason and nothing is put.
   */
  put(
    value: unknown,
    encoded: Encoded | undefined,
    timeout: number,
    signal?: AbortSignal,
  ): MpmcPutStatus | Promise<MpmcPutStatus> {
    let locked = false
    if (this.#putsWaiting === 0) {
      const first = this.#putBy(value, encoded, NO_WAIT)
      if (first === MPMC_PUT_OK || first === MPMC_PUT_SHUTDOWN) return first
      locked = first === LOCKED
    }
    if (timeout <= 0) return MPMC_PUT_FULL
    return this.#putAsync(value, encoded, deadlineOf(timeout), signal, locked)
  }

  /**
   * The waiting part of `put`, listed in `pendingPuts` while it waits: a
   * process that exits meanwhile (`process.exit()` right after an un-awaited
   * put) still puts the item, as it would have had the lock been free.
   */
  async #putAsync(
    value: unknown,
    encoded: Encoded | undefined,
    deadline: number,
    signal: AbortSignal | undefined,
    locked: boolean,
  ): Promise<MpmcPutStatus> {
    const pending: PendingPut = { ring: this, value, encoded }
    pendingPuts.add(pending)
    if (!exitHookInstalled) {
      exitHookInstalled = true
      // Before the segments' own exit hook, which closes them.
      process.prependListener('exit', () => MpmcRing.#finishPendingPuts())
    }
    const previous = this.#lastPut
    let settled = () => {}
    const mine = new Promise<void>((resolve) => {
      settled = resolve
    })
    this.#lastPut = mine
    this.#putsWaiting++
    try {
      if (previous !== undefined && !(await this.#after(previous, deadline, signal))) return MPMC_PUT_FULL
      return (await this.#waitAsync(PUT_SIDE, value, encoded, deadline, signal, locked)) as MpmcPutStatus
    } finally {
      this.#putsWaiting--
      if (this.#lastPut === mine) this.#lastPut = undefined
      settled()
      pendingPuts.delete(pending)
    }
  }

  /** True once `previous` settles; false at `deadline`; rejects with `signal.reason` on abort. */
  #after(previous: Promise<void>, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const removeAbort = onAbort(signal, () => {
        clearTimeout(timer)
        reject(signal?.reason)
      })
      const left = remaining(deadline)
      // setTimeout cannot wait past 2 ** 31 - 1 ms (~24.8 days): longer is forever here.
      if (left <= 0x7fffffff)
        timer = setTimeout(() => {
          removeAbort()
          resolve(false)
        }, left)
      void previous.then(() => {
        clearTimeout(timer)
        removeAbort()
        resolve(true)
      })
    })
  }

  /**
   * At exit: one last attempt for each pending put, oldest first, waiting up
   * to LOCK_BOUND_MS in all for a lock that a live owner holds (not for room:
   * a put that found the ring full still needs a consumer).
   */
  static #finishPendingPuts(): void {
    const deadline = deadlineOf(LOCK_BOUND_MS)
    for (const { ring, value, encoded } of pendingPuts) {
      if (ring.#segment.closed) continue
      try {
        ring.#putBy(value, encoded, deadline)
      } catch {
        // Corrupt memory: exiting anyway, with nothing more to do.
      }
    }
    pendingPuts.clear()
  }

  /** An async wait may resume after the segment was closed (and unmapped). */
  #assertOpen(): void {
    if (this.#segment.closed) throw new ClosedError(`Cannot use ${this.#label} "${this.#segment.name}": it was closed`)
  }

  /** True when a consumer moved HEAD since we last looked, or the ring was shut down. */
  #roomChanged(): boolean {
    const i32 = this.#i32
    const w = this.#w
    return (
      Atomics.load(i32, w + HEAD) !== i32[w + P_CACHED_HEAD] || (Atomics.load(i32, w + FLAGS) & FLAG_SHUTDOWN) !== 0
    )
  }

  /** Appends one message; the caller holds P_LOCK, which this releases. */
  #putLocked(value: unknown, encoded: Encoded | undefined): MpmcPutStatus {
    const i32 = this.#i32
    const w = this.#w
    const cap = this.capacity
    let status: MpmcPutStatus = MPMC_PUT_FULL
    try {
      // Plain read: whoever set the flag then took this lock (shutdown) is ordered before us.
      if (((i32[w + FLAGS] as number) & FLAG_SHUTDOWN) !== 0) {
        status = MPMC_PUT_SHUTDOWN
        return status
      }
      const tail = i32[w + TAIL] as number
      const count = i32[w + TAIL_COUNT] as number
      // Counts wrap at 2^32: `| 0` gives the true (small) difference.
      if (this.maxItems > 0 && ((count - (i32[w + P_CACHED_HCOUNT] as number)) | 0) >= this.maxItems) {
        const headCount = Atomics.load(i32, w + HEAD_COUNT)
        i32[w + P_CACHED_HCOUNT] = headCount
        if (this.#checkCount(count, headCount) >= this.maxItems) return status
      }
      let size = encoded === undefined ? (value as string).length : encoded.size
      let total = MESSAGE_HEADER + ((size + 7) & ~7)
      // A cached head that breaks the rules (-1) is reloaded like one that leaves too little room.
      let used = this.#spanOf(i32[w + P_CACHED_HEAD] as number, tail)
      if (used < 0 || cap - used < total) {
        const head = Atomics.load(i32, w + HEAD)
        i32[w + P_CACHED_HEAD] = head
        used = this.#span(head, tail)
        if (cap - used < total) return status
      }
      const index = tail >= cap ? tail - cap : tail
      const at = (this.#data + index) >> 2
      let payload = index + MESSAGE_HEADER
      if (payload === cap) payload = 0
      if (encoded === undefined) {
        // Latin-1 fast path, checking each char as it is copied. The bytes are
        // not published until TAIL moves, so a failed attempt leaves nothing.
        const text = value as string
        let k = 0
        if (payload + size <= cap) {
          const u8 = this.#u8
          const start = this.#data + payload
          for (; k < size; k++) {
            const c = text.charCodeAt(k)
            if (c > 0xff) break
            u8[start + k] = c
          }
        }
        if (k === size) {
          i32[at + 1] = TAG_LATIN1
        } else {
          encoded = encode(text)
          size = encoded.size
          total = MESSAGE_HEADER + ((size + 7) & ~7)
          if (cap - used < total) {
            const head = Atomics.load(i32, w + HEAD)
            i32[w + P_CACHED_HEAD] = head
            used = this.#span(head, tail)
            if (cap - used < total) return status
          }
          if (payload + size <= cap) writePayload(encoded, this.#buf, this.#data + payload)
          else this.#writeWrapped(encoded, payload)
          i32[at + 1] = encoded.tag
        }
      } else {
        if (payload + size <= cap) writePayload(encoded, this.#buf, this.#data + payload)
        else this.#writeWrapped(encoded, payload)
        i32[at + 1] = encoded.tag
      }
      i32[at] = size
      let newTail = tail + total
      if (newTail >= this.#cap2) newTail -= this.#cap2
      // Journal, count, commit (see the header comment).
      i32[w + P_OLD_TAIL] = tail
      i32[w + P_OLD_COUNT] = count
      i32[w + P_PHASE] = 1
      i32[w + TAIL_COUNT] = (count + 1) | 0
      Atomics.store(i32, w + TAIL, newTail)
      i32[w + P_PHASE] = 0
      status = MPMC_PUT_OK
      return status
    } finally {
      this.#unlock(P_LOCK)
      if (status === MPMC_PUT_OK && Atomics.load(i32, w + C_WAITERS) > 0) this.#wake(C_EVENT)
    }
  }

  /** Writes a payload that runs past the end of the data area in two pieces. */
  #writeWrapped(encoded: Encoded, payload: number): void {
    const cap = this.capacity
    let bytes: Uint8Array
    if (encoded.bytes !== undefined) bytes = encoded.bytes
    else {
      const scratch = this.#scratchOf(encoded.size)
      writePayload(encoded, scratch, 0)
      bytes = scratch.subarray(0, encoded.size)
    }
    const first = cap - payload
    this.#u8.set(bytes.subarray(0, first), this.#data + payload)
    this.#u8.set(bytes.subarray(first), this.#data)
  }

  #scratchOf(size: number): Buffer {
    if (this.#scratch === undefined || this.#scratch.length < size)
      this.#scratch = Buffer.allocUnsafeSlow(Math.max(size, 4096))
    return this.#scratch
  }

  // ---------------------------------------------------------------- get

  /**
   * Takes one message if there is one: the value, MPMC_EMPTY, or MPMC_SHUTDOWN
   * (empty and shut down). Waits for nothing: MPMC_EMPTY also when another
   * live consumer holds the lock beyond a brief spin (it is stopped, or was
   * descheduled mid-copy), and then nothing was taken.
   */
  tryGet(): Taken {
    const taken = this.#getBy(NO_WAIT)
    return taken === LOCKED ? MPMC_EMPTY : taken
  }

  /** One get attempt, waiting for the consumer lock until `deadline` (not for a message). */
  #getBy(deadline: number): Taken {
    this.assertSound()
    if (Atomics.compareExchange(this.#i32, this.#w + C_LOCK, 0, this.#me) !== 0 && !this.#lock(C_LOCK, deadline))
      return LOCKED
    return this.#getLocked(true)
  }

  /** Waits up to `timeout` ms for a message (and for the consumer lock), blocking the thread. */
  getSync(timeout: number): Taken {
    const first = this.#getBy(NO_WAIT)
    if (first !== MPMC_EMPTY && first !== LOCKED) return first
    if (timeout <= 0) return MPMC_EMPTY
    return this.#waitSync(GET_SIDE, undefined, undefined, deadlineOf(timeout))
  }

  /**
   * Waits up to `timeout` ms for a message (and for the consumer lock)
   * without blocking the event loop: beyond a brief spin, a held lock is
   * awaited. Returns the value synchronously when one is there (no promise,
   * no timer). An aborted `signal` rejects with its reason and nothing is taken.
   */
  get(timeout: number, signal?: AbortSignal): Taken | Promise<Taken> {
    const first = this.#getBy(NO_WAIT)
    if (first !== MPMC_EMPTY && first !== LOCKED) return first
    if (timeout <= 0) return MPMC_EMPTY
    return this.#waitAsync(GET_SIDE, undefined, undefined, deadlineOf(timeout), signal, first === LOCKED)
  }

  // ---------------------------------------------------------------- waiting
  //
  // One wait serves put and get: `side` says which attempt to repeat (tryPut
  // of `value`/`encoded`, or tryGet), on which EVENT to sleep and in which
  // WAITERS counters to count ourselves. The caller's first attempt failed.

  /**
   * One attempt of `side`, waiting for its lock until `deadline`: a put
   * status or a taken value (`side.none` = try again later), or LOCKED.
   */
  #attempt(side: WaitSide, value: unknown, encoded: Encoded | undefined, deadline: number): unknown {
    return side.put ? this.#putBy(value, encoded, deadline) : this.#getBy(deadline)
  }

  /** True when the other side moved since we last looked, or the ring was shut down. */
  #changed(side: WaitSide): boolean {
    return side.put ? this.#roomChanged() : this.#dataChanged()
  }

  /** Repeats `side`'s attempt until `deadline`, blocking the thread (for the lock too). */
  #waitSync(side: WaitSide, value: unknown, encoded: Encoded | undefined, deadline: number): unknown {
    const i32 = this.#i32
    const w = this.#w
    for (let spin = 0, pause = PAUSE_MIN; spin < WAIT_SPINS; spin++, pause = Math.min(pause * 2, PAUSE_MAX)) {
      idle(pause)
      if (this.#changed(side)) {
        const result = this.#attempt(side, value, encoded, deadline)
        if (result === LOCKED) return side.none
        if (result !== side.none) return result
      }
    }
    for (;;) {
      // Read EVENT, count ourselves in, re-try, sleep (see the header comment).
      const event = Atomics.load(i32, w + side.event)
      this.#enter(side.waiters, side.slotWaiters)
      try {
        const result = this.#attempt(side, value, encoded, deadline)
        // LOCKED: a live owner still held the lock at our deadline.
        if (result === LOCKED) return side.none
        if (result !== side.none) return result
        const left = remaining(deadline)
        if (left <= 0) return side.none
        waitWordSync(i32, w + side.event, event, Math.min(left, RECHECK_MS))
      } finally {
        this.#leave(side.waiters, side.slotWaiters)
      }
    }
  }

  /**
   * Like `#waitSync`, without blocking the event loop: each attempt only
   * spins for the lock, and a lock held beyond the spin (`locked`: the
   * caller's first attempt found it so) is awaited on its word.
   */
  async #waitAsync(
    side: WaitSide,
    value: unknown,
    encoded: Encoded | undefined,
    deadline: number,
    signal: AbortSignal | undefined,
    locked: boolean,
  ): Promise<unknown> {
    const i32 = this.#i32
    const w = this.#w
    if (side.spinsAsync && !locked) {
      // A short spin catches a producer that is about to publish, saving a
      // futex round trip through the waiter thread.
      for (let spin = 0, pause = PAUSE_MIN; spin < WAIT_SPINS; spin++, pause = Math.min(pause * 2, PAUSE_MAX)) {
        idle(pause)
        if (this.#changed(side)) break
      }
    }
    for (;;) {
      if (locked) {
        // Sleep on the lock word (not counted as a waiter for EVENT), then look again.
        const left = remaining(deadline)
        if (left <= 0) return side.none
        await this.#sleep(w + side.lock, this.#held, Math.min(left, LOCK_POLL_MS), signal)
        locked = false
      }
      if (signal?.aborted) throw signal.reason
      this.#assertOpen()
      // Read EVENT, count ourselves in, re-try, sleep (see the header comment).
      const event = Atomics.load(i32, w + side.event)
      this.#enter(side.waiters, side.slotWaiters)
      try {
        const result = this.#attempt(side, value, encoded, NO_WAIT)
        if (result === LOCKED) {
          locked = true
          continue
        }
        if (result !== side.none) return result
        const left = remaining(deadline)
        if (left <= 0) return side.none
        await this.#sleep(w + side.event, event, Math.min(left, RECHECK_MS), signal)
      } finally {
        if (!this.#segment.closed) this.#leave(side.waiters, side.slotWaiters)
      }
    }
  }

  /** An async futex wait on word `index` of the ring's memory; close() in this process ends it with ClosedError. */
  async #sleep(index: number, expected: number, timeout: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await waitWord(this.#i32, index, expected, timeout, signal)
    } catch (error) {
      // close() in this process cancels the wait: say so in the ring's own words.
      if (this.#segment.closed)
        throw new ClosedError(`Cannot use ${this.#label} "${this.#segment.name}": it was closed while the call waited`)
      throw error
    }
  }

  /** True when a producer moved TAIL past HEAD, or the ring was shut down. */
  #dataChanged(): boolean {
    const i32 = this.#i32
    const w = this.#w
    return (
      Atomics.load(i32, w + TAIL) !== Atomics.load(i32, w + HEAD) ||
      (Atomics.load(i32, w + FLAGS) & FLAG_SHUTDOWN) !== 0
    )
  }

  /**
   * Takes (decode = true) or drops (decode = false) the oldest message; the
   * caller holds C_LOCK, which this releases.
   */
  #getLocked(decode: boolean): Taken {
    const i32 = this.#i32
    const w = this.#w
    const cap = this.capacity
    let moved = false
    let failure: unknown
    let value: unknown
    try {
      const head = i32[w + HEAD] as number
      let tail = i32[w + C_CACHED_TAIL] as number
      // Nothing cached (0), or a cached tail that breaks the rules (-1): reload it.
      let used = this.#spanOf(head, tail)
      if (used <= 0) {
        tail = Atomics.load(i32, w + TAIL)
        i32[w + C_CACHED_TAIL] = tail
        if (head === tail) return (Atomics.load(i32, w + FLAGS) & FLAG_SHUTDOWN) !== 0 ? MPMC_SHUTDOWN : MPMC_EMPTY
        used = this.#span(head, tail)
      }
      const index = head >= cap ? head - cap : head
      const at = (this.#data + index) >> 2
      const size = i32[at] as number
      const tag = i32[at + 1] as number
      // The message must lie within what was published (which also keeps it within the area).
      if (!(size >= 0 && MESSAGE_HEADER + ((size + 7) & ~7) <= used && tag >= TAG_LATIN1 && tag <= TAG_MAX))
        throw this.corrupt(`a message of size ${size} and tag ${tag} at position ${head}, ${used} bytes published`)
      if (decode) {
        let payload = index + MESSAGE_HEADER
        if (payload === cap) payload = 0
        try {
          if (payload + size <= cap) {
            const start = this.#data + payload
            if (tag !== TAG_LATIN1) value = decodePayload(tag, this.#buf, start, start + size)
            else if (size <= SHORT_DECODE) value = shortLatin1(this.#u8, start, size)
            else value = (this.#buf as unknown as FastSlice).latin1Slice(start, start + size)
          } else {
            const scratch = this.#scratchOf(size)
            const first = cap - payload
            scratch.set(this.#u8.subarray(this.#data + payload, this.#data + cap), 0)
            scratch.set(this.#u8.subarray(this.#data, this.#data + size - first), first)
            value = decodePayload(tag, scratch, 0, size)
          }
        } catch (error) {
          // A message that cannot be revived is dropped, not left to wedge the ring for others.
          failure = this.corrupt(`the message at position ${head} cannot be revived`, error)
        }
      }
      let newHead = head + MESSAGE_HEADER + ((size + 7) & ~7)
      if (newHead >= this.#cap2) newHead -= this.#cap2
      const count = i32[w + HEAD_COUNT] as number
      // Journal, commit, count (see the header comment).
      i32[w + C_OLD_HEAD] = head
      i32[w + C_OLD_COUNT] = count
      i32[w + C_PHASE] = 1
      Atomics.store(i32, w + HEAD, newHead)
      i32[w + HEAD_COUNT] = (count + 1) | 0
      i32[w + C_PHASE] = 0
      moved = true
    } finally {
      this.#unlock(C_LOCK)
      if (moved && Atomics.load(i32, w + P_WAITERS) > 0) this.#wake(P_EVENT)
    }
    if (failure !== undefined) throw failure
    return value
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Marks the ring shut down in every process: later puts return
   * MPMC_PUT_SHUTDOWN, gets drain what is left then return MPMC_SHUTDOWN, and
   * every sleeper wakes to see it. With `immediate`, drops the messages still
   * in the ring and returns how many it dropped.
   */
  shutdown(immediate: boolean): number {
    this.assertSound()
    const i32 = this.#i32
    const w = this.#w
    Atomics.or(i32, w + FLAGS, FLAG_SHUTDOWN)
    let dropped = 0
    if (immediate) {
      // Taking the producer lock once waits out any put that read the flag before it was set.
      this.#lockForShutdown(P_LOCK)
      this.#unlock(P_LOCK)
      for (;;) {
        this.#lockForShutdown(C_LOCK)
        const taken = this.#getLocked(false)
        if (taken === MPMC_EMPTY || taken === MPMC_SHUTDOWN) break
        dropped++
      }
    }
    this.#wake(C_EVENT)
    this.#wake(P_EVENT)
    return dropped
  }

  // ---------------------------------------------------------------- locks

  /** One CAS, then a short spin; false when a live owner still holds the lock. */
  #tryLock(lock: number): boolean {
    const i32 = this.#i32
    const index = this.#w + lock
    if (Atomics.compareExchange(i32, index, 0, this.#me) === 0) return true
    for (let spin = 0; spin < LOCK_SPINS; spin++) {
      if (Atomics.load(i32, index) === 0 && Atomics.compareExchange(i32, index, 0, this.#me) === 0) return true
    }
    return false
  }

  /**
   * Takes `lock` by `deadline` (a performance.now() time; NO_WAIT: only spin),
   * sleeping (blocking the thread) while a live owner holds it and taking it
   * over from a dead one. False when a live owner still holds it at the
   * deadline: nothing was taken or changed, and `#held` is its word.
   */
  #lock(lock: number, deadline: number): boolean {
    if (this.#tryLock(lock)) return true
    const index = this.#w + lock
    let timedOut = false
    for (;;) {
      const left = remaining(deadline)
      // Liveness costs system calls: look only after a sleep timed out, or before giving up.
      const owner = this.#lockStep(lock, timedOut || left <= 0)
      if (owner === 0) return true
      if (left <= 0) {
        this.#held = owner
        return false
      }
      timedOut = waitWordSync(this.#i32, index, owner, Math.min(left, LOCK_POLL_MS)) === 'timed-out'
    }
  }

  /**
   * One look at `lock`, which the caller could not take at once: takes it
   * when free, or (with `checkLiveness`) from a dead owner, repairing its
   * half-done commit, and returns 0; else returns the live owner's word with
   * WAITERS set, to sleep on. Throws CorruptError for a word no attachment
   * could write.
   */
  #lockStep(lock: number, checkLiveness: boolean): number {
    const i32 = this.#i32
    const index = this.#w + lock
    // Having waited, we take the lock with WAITERS set: others may still sleep.
    const mine = this.#me | WAITERS_BIT
    for (;;) {
      let owner = Atomics.load(i32, index)
      if (owner === 0) {
        if (Atomics.compareExchange(i32, index, 0, mine) === 0) return 0
        continue
      }
      this.#checkOwner(owner)
      if (checkLiveness && this.#ownerGone(owner)) {
        if (Atomics.compareExchange(i32, index, owner, mine) !== owner) continue
        this.#repair(lock)
        return 0
      }
      if ((owner & WAITERS_BIT) === 0) {
        if (Atomics.compareExchange(i32, index, owner, owner | WAITERS_BIT) !== owner) continue
        owner |= WAITERS_BIT
      }
      return owner
    }
  }

  /**
   * Takes `lock` for `shutdown({ immediate })`, which has no timeout: waits
   * LOCK_BOUND_MS for a live owner, then throws TimeoutError (the ring is
   * shut down; what is left was not dropped).
   */
  #lockForShutdown(lock: number): void {
    if (Atomics.compareExchange(this.#i32, this.#w + lock, 0, this.#me) === 0) return
    if (this.#lock(lock, deadlineOf(LOCK_BOUND_MS))) return
    throw new TimeoutError(
      `Cannot drop the items of the ${this.#label} "${this.#segment.name}": its ${lock === P_LOCK ? 'producer' : 'consumer'} lock ` +
        `has been held by slot ${(this.#held & OWNER_SLOT_MASK) - 1} for ${LOCK_BOUND_MS} ms (it is shut down; shutting it down again drops them)`,
    )
  }

  /** True when the attachment that wrote `owner` can no longer run. */
  #ownerGone(owner: number): boolean {
    const slot = (owner & OWNER_SLOT_MASK) - 1
    const epoch = (owner >>> EPOCH_SHIFT) & EPOCH_MASK
    if ((Atomics.load(this.#i32, this.#w + SLOT_EPOCH + slot) & EPOCH_MASK) !== epoch) return true
    if (!this.#segment.slotAlive(slot)) return true
    return this.#threadGone(slot)
  }

  /** A worker thread ended without detaching (worker.terminate() runs no exit hooks). */
  #threadGone(slot: number): boolean {
    if (!canSeeThreads()) return false
    const owner = this.#segment.slotOwner(slot)
    // A holder in another PID namespace (not visible): its pid and tid name nothing in our /proc.
    if (owner === undefined || owner.tid <= 0 || !owner.visible) return false
    return !existsSync(`/proc/${owner.pid}/task/${owner.tid}`)
  }

  /** Finishes or rolls back the count update of a dead lock owner. The caller holds `lock`. */
  #repair(lock: number): void {
    const i32 = this.#i32
    const w = this.#w
    if (lock === P_LOCK) {
      if (i32[w + P_PHASE] !== 1) return
      const committed = Atomics.load(i32, w + TAIL) !== i32[w + P_OLD_TAIL]
      i32[w + TAIL_COUNT] = ((i32[w + P_OLD_COUNT] as number) + (committed ? 1 : 0)) | 0
      i32[w + P_PHASE] = 0
    } else {
      if (i32[w + C_PHASE] !== 1) return
      const committed = Atomics.load(i32, w + HEAD) !== i32[w + C_OLD_HEAD]
      i32[w + HEAD_COUNT] = ((i32[w + C_OLD_COUNT] as number) + (committed ? 1 : 0)) | 0
      i32[w + C_PHASE] = 0
    }
  }

  #unlock(lock: number): void {
    const index = this.#w + lock
    // Fast path: nobody marked the word (a CAS is cheaper than an exchange in V8).
    if (Atomics.compareExchange(this.#i32, index, this.#me, 0) === this.#me) return
    if ((Atomics.exchange(this.#i32, index, 0) & WAITERS_BIT) !== 0) notifyWord(this.#i32, index, 1)
  }

  // ---------------------------------------------------------------- sleepers

  // A sleeper adds itself to the global counter first and to its slot's share
  // second, and leaves in the reverse order, so a share never exceeds what it
  // added to the global counter.
  #enter(global: number, perSlot: number): void {
    Atomics.add(this.#i32, this.#w + global, 1)
    Atomics.add(this.#i32, this.#w + perSlot + this.#slot, 1)
  }

  #leave(global: number, perSlot: number): void {
    Atomics.sub(this.#i32, this.#w + perSlot + this.#slot, 1)
    Atomics.sub(this.#i32, this.#w + global, 1)
  }

  /** Bumps an EVENT word and wakes all its sleepers; looks for dead sleepers when wakes keep finding nobody. */
  #wake(event: number): void {
    Atomics.add(this.#i32, this.#w + event, 1)
    if (notifyWord(this.#i32, this.#w + event, ALL) === 0 && ++this.#futile >= FUTILE_WAKES) {
      this.#futile = 0
      this.sweep()
    }
  }

  /** Subtracts slot `slot`'s sleeper shares from the global counters. */
  #reclaimShares(slot: number): void {
    const i32 = this.#i32
    const w = this.#w
    let share = Atomics.exchange(i32, w + SLOT_C_WAITERS + slot, 0)
    if (share > 0) Atomics.sub(i32, w + C_WAITERS, share)
    share = Atomics.exchange(i32, w + SLOT_P_WAITERS + slot, 0)
    if (share > 0) Atomics.sub(i32, w + P_WAITERS, share)
  }

  /**
   * Releases the locks held by the attachment at `slot` (repairing them) and
   * drops its sleeper shares. For a slot whose holder died: the segment's
   * onReap, or `sweep()`.
   */
  reclaimSlot(slot: number): void {
    if (this.#segment.closed || slot === this.#slot) return
    const i32 = this.#i32
    for (const lock of [P_LOCK, C_LOCK]) {
      const owner = Atomics.load(i32, this.#w + lock)
      if (owner !== 0 && (owner & OWNER_SLOT_MASK) - 1 === slot) {
        if (Atomics.compareExchange(i32, this.#w + lock, owner, this.#me | WAITERS_BIT) === owner) {
          this.#repair(lock)
          this.#unlock(lock)
        }
      }
    }
    this.#reclaimShares(slot)
  }

  /**
   * Finds attachments that died without detaching: reaps dead processes'
   * slots (the segment calls `reclaimSlot` through its onReap) and reclaims
   * the slots of worker threads that were terminated.
   */
  sweep(): void {
    if (this.#segment.closed) return
    this.#segment.reap()
    if (!canSeeThreads()) return
    for (let slot = 0; slot < SLOTS; slot++) {
      if (slot === this.#slot || this.#segment.slotOwner(slot) === undefined) continue
      if (this.#threadGone(slot)) this.reclaimSlot(slot)
    }
  }

  /** Call before closing the segment: drops this object's sleeper shares (its pending waits end with ClosedError). */
  detach(): void {
    if (this.#segment.closed) return
    this.#reclaimShares(this.#slot)
  }
}
