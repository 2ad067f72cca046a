/**
 * A multi-producer / multi-consumer ring of variable-length messages in a
 * Segment's data area. Any number of threads and processes put and get; each
 * message is taken by exactly one get; messages of one producer come out in
 * the order they went in. Queue is a thin layer over it.
 *
 * Design: one producer lock and one consumer lock. The holder of the producer
 * lock appends at `tail`, the holder of the consumer lock takes at `head`;
 * the two sides run in parallel like a single-producer/single-consumer ring.
 * Each lock is an owner word (ownership/owner-word.ts: segment slot + thread
 * id, a WAITERS bit), so a waiter that finds the owner dead (SIGKILL, or a
 * terminated worker thread) takes the lock over and repairs the one counter
 * its owner may have left half-updated. Waiting for a message or for room is
 * the kernel's event count (waiting/event-count.ts) on C_EVENT / P_EVENT,
 * with per-slot waiter shares and the backoff spin (waiting/backoff-spin.ts).
 *
 * Ring header (i32 words from the ring's start, which is 64-byte aligned; each
 * group sits on its own cache line so the two sides do not false-share):
 *
 * | word    | name              | written by                 | meaning                                              |
 * |---------|-------------------|----------------------------|------------------------------------------------------|
 * | 0       | P_LOCK            | producers (CAS)            | owner word (owner-word.ts): 0 free, else slot+1, tid |
 * | 1       | TAIL              | producer-lock holder       | byte position where the next message goes, mod 2·cap |
 * | 2       | TAIL_COUNT        | producer-lock holder       | messages ever put (u32, wraps); bumped before TAIL   |
 * | 3       | P_OLD_TAIL        | producer-lock holder       | journal: TAIL before the commit in progress          |
 * | 4       | P_OLD_COUNT       | producer-lock holder       | journal: TAIL_COUNT before the commit in progress    |
 * | 5       | P_CACHED_HEAD     | producer-lock holder       | a recent HEAD (never ahead of the real one)          |
 * | 6       | P_CACHED_HCOUNT   | producer-lock holder       | a recent HEAD_COUNT (never ahead of the real one)    |
 * | 7       | P_PHASE           | producer-lock holder       | 1 while a commit is in progress (journal valid)      |
 * | 8       | P_BATCH           | producer-lock holder       | journal: messages the commit in progress puts        |
 * | 16      | C_LOCK            | consumers (CAS)            | as P_LOCK, for the consumer side                     |
 * | 17      | HEAD              | consumer-lock holder       | byte position of the oldest message, mod 2·cap       |
 * | 18      | HEAD_COUNT        | consumer-lock holder       | messages ever taken (u32, wraps); bumped after HEAD  |
 * | 19      | C_OLD_HEAD        | consumer-lock holder       | journal: HEAD before the commit in progress          |
 * | 20      | C_OLD_COUNT       | consumer-lock holder       | journal: HEAD_COUNT before the commit in progress    |
 * | 21      | C_CACHED_TAIL     | consumer-lock holder       | a recent TAIL (never ahead of the real one)          |
 * | 22      | C_PHASE           | consumer-lock holder       | 1 while a commit is in progress (journal valid)      |
 * | 23      | C_BATCH           | consumer-lock holder       | journal: messages the commit in progress takes       |
 * | 32      | MAGIC             | init                       | 0x434d504d ('MPMC')                                  |
 * | 33      | VERSION           | init                       | MPMC_RING_VERSION                                    |
 * | 34      | CAPACITY          | init                       | bytes of the data area (multiple of 8)               |
 * | 35      | MAX_ITEMS         | init                       | 0 = no limit; else puts wait while this many are in  |
 * | 36      | FLAGS             | shutdown()                 | bit 0: shut down (no more puts)                      |
 * | 37      | C_WAITERS         | consumers about to sleep   | how many sleep (or are about to) on C_EVENT          |
 * | 38      | C_EVENT           | producers, shutdown()      | bumped to wake consumers waiting for a message       |
 * | 39      | P_WAITERS         | producers about to sleep   | how many sleep on P_EVENT                            |
 * | 40      | P_EVENT           | consumers, shutdown()      | bumped to wake producers waiting for room            |
 * | 41      | P_NEED            | producers about to sleep   | free bytes sleeping producers are woken at (below)   |
 * | 42      | P_NEED_ITEMS      | producers about to sleep   | free item places they are woken at (MAX_ITEMS > 0)   |
 * | 43      | C_EPOCH           | consumers about to sleep   | sleep epoch of C_EVENT (event-count.ts)              |
 * | 44      | P_EPOCH           | producers about to sleep   | sleep epoch of P_EVENT                               |
 * | 64+s    | (reserved)        | nobody                     | 0; attach epochs of layout version 1                 |
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
 * - Sleeping (the event count): a waiter reads the EVENT word, adds itself
 *   to WAITERS (and its slot's share), re-checks the condition, then
 *   futex-waits on EVENT with the value it read. The other side changes the
 *   condition (a seq-cst store of TAIL or HEAD), then reads WAITERS and, if
 *   non-zero, bumps EVENT and wakes. Seq-cst order makes one of them see the
 *   other, so no wake is lost; when nobody sleeps no syscall is made (the
 *   bump too is skipped: a waiter that registers after the read of WAITERS
 *   sees the change in its re-check). Nor when every sleeper was woken
 *   already and has not run yet: each side has a sleep epoch (C_EPOCH,
 *   P_EPOCH; event-count.ts, "The sleep epoch"), so a consumer descheduled
 *   between its wake-up and its leave no longer costs the producer a wake
 *   syscall per message (over a million per 4 million messages, 1 to 1).
 * - Locks (the owner word): uncontended, lock and unlock are one CAS each.
 *   A sleeper sets WAITERS before it sleeps; the unlock that finds it wakes
 *   one; a woken sleeper takes the lock with WAITERS set again, so a dead
 *   sleeper costs at most one extra wake. A sleeper looks for a dead owner
 *   after each PEER_CHECK_MS slice (its slot freed or re-claimed, its process
 *   dead, its thread gone: `attachmentAlive`); so does a caller about to give
 *   up. A word naming a free or re-claimed slot is a dead owner, not
 *   corruption: a holder that died and whose slot was reaped by a process
 *   with no ring attached leaves exactly that. Only words no attachment could
 *   write, or naming this very attachment (it never waits for itself), are
 *   corrupt.
 * - Waiting for a lock is bounded by the call's deadline: an async call spins
 *   for microseconds, then awaits the owner word (a futex wait of at most
 *   PEER_CHECK_MS at a time, so a dead owner is still found), taking the lock
 *   and running its attempt synchronously once it is free; a sync call
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
 *   with plain stores in program order. A commit may publish several messages
 *   at once (putMany / getMany: one position store and one wake-up per batch).
 *   Producer: old position, old count, BATCH, PHASE = 1, new count, then TAIL
 *   with Atomics.store (the commit), then PHASE = 0; the count runs ahead of
 *   TAIL, which only makes producers see the ring fuller than it is.
 *   Consumer: old position, old count, BATCH, PHASE = 1, HEAD (the commit),
 *   new count, PHASE = 0; the count never runs ahead of HEAD, so producers
 *   never admit more than MAX_ITEMS. A killed process's stores stay in
 *   program order, so whoever takes the lock over from it and finds PHASE = 1
 *   decides from the position whether the commit happened and sets the count
 *   to the old count + BATCH, or back to the old count. `count()`,
 *   `putCount()` and a put that finds MAX_ITEMS reached, finding PHASE = 1,
 *   do that takeover too (`#settleCommit`): no later put or get may come.
 * - Hysteresis on a full ring (room-wait.ts, the rule of both rings): a
 *   put whose look found no room announces the room it is to be woken at,
 *   then looks once more: P_NEED = the larger of its record and WAKE_ROOM
 *   (its record alone once the consumers stalled), P_NEED_ITEMS = half of
 *   MAX_ITEMS, at most WAKE_ITEMS (1 once stalled). Both are the smallest
 *   need announced since the last wake-up (an atomic min; 0 = none), so no
 *   sleeper waits for another's larger need. A consumer that moved HEAD
 *   wakes the producers once that much is free (or when none is announced),
 *   setting both to 0 first: every woken producer that still finds no room
 *   announces again. A consumer stores HEAD, then reads P_WAITERS, then the
 *   needs; a producer registers, announces, then looks: a consumer that read
 *   older needs stored HEAD before the producer's second look, which sees
 *   the room. Without it, producers faster than the consumers were all woken
 *   for every message taken: a wake syscall and a context switch per small
 *   message (4 producers into 1 consumer ran at a fifth of the speed).
 *   Corrupt needs cost a late wake-up, never a hang: the consumer caps them
 *   at the capacity and MAX_ITEMS, a wake-up resets them, and sleeps are
 *   slices (FULL_RING_SLICE_MS while a producer waits for more than its
 *   record).
 * - A waiting get looks without the lock first (`#emptyAndOpen`): equal
 *   counts and equal positions mean empty, and it takes the lock only
 *   otherwise, so an idle wait writes nothing to the segment.
 * - Per-slot waiter shares are added before and subtracted after the global
 *   counter, so reclaiming a dead slot's share never makes the global counter
 *   smaller than the number of live sleepers (too large only costs a syscall).
 *
 * Range checks (any process can scribble on these words; one helper each,
 * used by every path): `#span` checks HEAD and TAIL (multiples of 8 below
 * 2·CAPACITY, at most CAPACITY apart) wherever they are read (a cached copy
 * that fails is reloaded instead); `#getLocked` checks a message header (size
 * from 0 with the whole message within what was published, tag known); the
 * owner word checks every lock word it reads (slot 1…128, bit 31 clear, not
 * this attachment's own); `#putLocked` checks the item count when it
 * enforces MAX_ITEMS; the constructor checks the whole header once
 * (`#checkHeader`). A violation, or a payload the codec cannot revive, throws
 * CorruptError and makes this attachment refuse every later put and get (a
 * message that could be delimited was first dropped, so other processes go
 * on); `detach` and closing the segment still work. A value nested too deep
 * for this thread's stack is not corruption (v8 writes values nested deeper
 * than it reads back): DataCloneError for that get, that message dropped,
 * nothing faulted (`#unrevivable`). Sleeps last at most
 * RECHECK_MS, so a corrupt WAITERS count costs a late wake-up, never a hang.
 * A lock word scribbled to name a live attachment looks like a stopped
 * holder: calls wait for it up to their deadline, as above.
 *
 * What a SIGKILL can lose: a producer killed inside `put` loses only the item
 * of that call, which is then either wholly in the ring or not at all (never
 * partial). A consumer killed inside `get` before it committed HEAD loses
 * nothing (the next consumer gets the item); killed after the commit and before
 * its caller used the value, that one item is lost. Nothing else is lost and
 * no other participant waits more than PEER_CHECK_MS longer than it would.
 */
import {
  decodePayload,
  decodeSplit,
  type Encoded,
  encode,
  NESTED_TOO_DEEP,
  SHORT_STRING,
  TAG_LATIN1,
  TAG_MAX,
  writePayload,
} from '../codec/codec.js'
import { decodeLatin1, writeLatin1 } from '../codec/latin1.js'
import { CorruptError, DataCloneError, IncompatibleError, outOfRange, TimeoutError } from '../errors.js'
import type { Segment } from '../memory/segment.js'
import { attachmentAlive } from '../ownership/liveness.js'
import { BUSY, OwnerWord } from '../ownership/owner-word.js'
import { BackoffSpin } from '../waiting/backoff-spin.js'
import { EventCount, NOT_YET, PEER_CHECK_MS, RECHECK_MS, TIMED_OUT, type WaitRules } from '../waiting/event-count.js'
import { afterTimeout, deadlineOf, onAbort, remaining } from '../waiting/signal.js'
import { FULL_RING_SLICE_MS, RoomWait, wokenForRecordAlone } from './room-wait.js'

/** Layout version of the ring; bump when the table above changes. */
export const MPMC_RING_VERSION = 4
const MAGIC = 0x434d504d

const P_LOCK = 0
const TAIL = 1
const TAIL_COUNT = 2
const P_OLD_TAIL = 3
const P_OLD_COUNT = 4
const P_CACHED_HEAD = 5
const P_CACHED_HCOUNT = 6
const P_PHASE = 7
const P_BATCH = 8
const C_LOCK = 16
const HEAD = 17
const HEAD_COUNT = 18
const C_OLD_HEAD = 19
const C_OLD_COUNT = 20
const C_CACHED_TAIL = 21
const C_PHASE = 22
const C_BATCH = 23
const MAGIC_WORD = 32
const VERSION_WORD = 33
const CAPACITY = 34
const MAX_ITEMS = 35
const FLAGS = 36
const C_WAITERS = 37
const C_EVENT = 38
const P_WAITERS = 39
const P_EVENT = 40
const P_NEED = 41
const P_NEED_ITEMS = 42
const C_EPOCH = 43
const P_EPOCH = 44
const SLOT_C_WAITERS = 192
const SLOT_P_WAITERS = 320
const HEADER_WORDS = 448
/** Bytes of the ring header; the data area follows. */
export const MPMC_RING_HEADER_BYTES = HEADER_WORDS * 4

const FLAG_SHUTDOWN = 1
const SLOTS = 128
const MESSAGE_HEADER = 8
/** Largest capacity: positions run modulo 2·capacity in a positive int32. */
export const MPMC_RING_MAX_CAPACITY = 0x3ffffff8
/** Smallest capacity accepted. */
export const MPMC_RING_MIN_CAPACITY = 64
/** The most free item places a producer waiting on MAX_ITEMS is woken at (see the header, "Hysteresis"). */
const WAKE_ITEMS = 1024
/** Loads of a lock word before sleeping on it. */
const LOCK_SPINS = 200
/**
 * How long the calls that have no timeout of their own and must not hang wait
 * for a lock that one live owner holds (normally for microseconds):
 * `shutdown(true)`, and the exit hook that finishes pending async puts.
 */
const LOCK_BOUND_MS = 2000
/** A deadline already passed: the attempt does not sleep for a lock. */
const NO_WAIT = 0
/** After this many wakes that woke nobody, look for dead waiters. */
const FUTILE_WAKES = 256
/**
 * After wakes skipped for this long (every counted sleeper woken already,
 * none left since: dead, stopped, or left asleep by a notifier killed
 * between its bump and its wake-up), wake them all and look for dead
 * waiters. A live woken sleeper leaves within a scheduling delay.
 */
const SKIPPED_WAKES_MS = PEER_CHECK_MS

/** Lowers a need word to `value` unless it holds a smaller positive need (an atomic min; 0 or less: none). */
function lowerNeed(i32: Int32Array, index: number, value: number): void {
  for (;;) {
    const seen = Atomics.load(i32, index)
    if ((seen > 0 && seen <= value) || Atomics.compareExchange(i32, index, seen, value) === seen) return
  }
}

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

/** What a waiting put or get repeats, and what it waits on: one per side of each attachment. */
interface WaitSide {
  /** True: tryPut (waits for room); false: tryGet (waits for a message). */
  readonly put: boolean
  /** What the attempt returns when it must wait: MPMC_PUT_FULL or MPMC_EMPTY. */
  readonly none: unknown
  /** Room (P_EVENT, P_WAITERS, SLOT_P_WAITERS) or data (C_EVENT, C_WAITERS, SLOT_C_WAITERS). */
  readonly events: EventCount
  /** The lock the attempt takes: P_LOCK or C_LOCK. */
  readonly lock: OwnerWord
  /**
   * The backoff spin before the first sleep: of a get, and of a sync put
   * woken for its record alone (a large one; see `#waitSync`). An async put
   * does not spin.
   */
  readonly spinner: BackoffSpin
  /** Wakes of this side skipped in a row (the sleep epoch; see `#wake`), and when the first of them was. */
  skipped: number
  skippedSince: number
  /** The attempt of a sync wait: reads the call's arguments from the ring (one sync wait at a time per thread). */
  readonly attemptSync: () => unknown
  /** The rules of a sync wait; only `deadline` changes from call to call. */
  readonly syncRules: WaitRules
}

/**
 * A batch of items for one put (Queue's putMany): the items, their
 * encodings from `prepare`, and how many are in the ring so far. Put with
 * `putBatch`/`putBatchSync` (a put whose value is the batch and whose
 * encoding is BATCH); each attempt appends what fits, in order, with one
 * commit, and the put is OK once all are in. A put that ends FULL or
 * SHUTDOWN has put the first `done` items.
 */
export class PutBatch {
  done = 0
  constructor(
    readonly values: readonly unknown[],
    readonly encodeds: readonly (Encoded | undefined)[],
  ) {}
}

/**
 * The `encoded` of a put whose value is a PutBatch: an identity check on
 * the put path (an `instanceof` there measured 0.6 % of a put and get).
 */
const BATCH: Encoded = Object.freeze({ tag: -1, size: -1, bytes: undefined, text: undefined })

/** An async put still waiting (for room or the lock) in this thread. */
interface PendingPut {
  readonly ring: MpmcRing
  readonly value: unknown
  readonly encoded: Encoded | undefined
}

/** This thread's pending async puts, oldest first: the exit hook finishes them. */
const pendingPuts = new Set<PendingPut>()
let exitHookInstalled = false

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
  /** The producer lock (P_LOCK) and the consumer lock (C_LOCK), owned as this attachment and thread. */
  readonly #pLock: OwnerWord
  readonly #cLock: OwnerWord
  readonly #putSide: WaitSide
  readonly #getSide: WaitSide
  readonly #slot: number
  readonly #label: string
  #scratch: Buffer | undefined
  #futile = 0
  /** Async puts of this object still waiting; while there are any, later puts queue behind them. */
  #putsWaiting = 0
  /** Settles when the latest of those puts settles. */
  #lastPut: Promise<void> | undefined
  /** The arguments of the sync wait in progress (see WaitSide.attemptSync). */
  #syncValue: unknown
  #syncEncoded: Encoded | undefined
  #syncDeadline = NO_WAIT
  /** Of a sync getMany in progress: its `max` (0: a plain get). */
  #syncMax = 0
  /** Ring bytes of the record of this thread's sync put (what its spin waits for). */
  #syncRecord = 0
  /** The room wait of this thread's sync put (one at a time). */
  readonly #syncRoom: RoomWait
  /** The first corruption found; every later put and get throws it. */
  #fault: CorruptError | undefined
  /**
   * Runs after a get dropped a message too deep to revive (it threw
   * DataCloneError), once the drop is committed: a JoinableQueue counts the
   * item done, as no one will call taskDone for it.
   */
  onUnrevivable: (() => void) | undefined = undefined
  /** What the last `#read` found: the message's bytes (header and padding included), and why its payload could not be revived. */
  #readBytes = 0
  #readFailure: CorruptError | DataCloneError | undefined

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
   * primitive in error messages ("queue"). The header must lie inside the
   * segment: its kind declares `minDataBytes` up to the header's end, so
   * Segment.open refuses a file cut shorter; the capacity is checked here.
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
    this.#slot = segment.slot
    const what = `${label} "${segment.name}"`
    const lockOptions = (lock: number) => ({
      label: what,
      onTakeover: () => this.#repair(lock),
      corrupt: (word: number) => this.corrupt(`a lock word is ${word}`),
      ownCodeIsCorrupt: true,
    })
    this.#pLock = new OwnerWord(segment, w + P_LOCK, lockOptions(P_LOCK))
    this.#cLock = new OwnerWord(segment, w + C_LOCK, lockOptions(C_LOCK))
    this.#putSide = this.#side(true, what)
    this.#getSide = this.#side(false, what)
    this.#syncRoom = new RoomWait(this.#putSide.syncRules, RECHECK_MS)
    // A fresh attachment has no sleepers and holds no lock: whatever its slot
    // still counts or holds was left by an earlier occupant that died without
    // leaving (an open that found every slot taken took its slot over before
    // this ring existed to reclaim it). Its locks are abandoned, so their next
    // taker repairs; left as they were, one naming this slot and this thread
    // (a reused pid) would read as this object's own code: corrupt. First, as
    // the header check reads the lock words by that rule.
    this.#pLock.abandonFor(this.#slot)
    this.#cLock.abandonFor(this.#slot)
    this.#checkHeader()
    this.#reclaimShares(this.#slot)
  }

  /** The wait state of one side (put: room, get: data). */
  #side(put: boolean, what: string): WaitSide {
    const w = this.#w
    const slot = this.#slot
    const events = put
      ? new EventCount(this.#segment, this.#i32, w + P_EVENT, w + P_WAITERS, {
          shares: { base: w + SLOT_P_WAITERS, slot },
          epoch: w + P_EPOCH,
        })
      : new EventCount(this.#segment, this.#i32, w + C_EVENT, w + C_WAITERS, {
          shares: { base: w + SLOT_C_WAITERS, slot },
          epoch: w + C_EPOCH,
        })
    const spinner = new BackoffSpin(put ? () => this.#roomForSyncPut() : () => this.#dataChanged())
    const attemptSync = put
      ? () => {
          let status = this.#putBy(this.#syncValue, this.#syncEncoded, this.#syncDeadline)
          if (status === MPMC_PUT_FULL) {
            // Announce, then look once more (see the header, "Hysteresis").
            this.#announceNeed(this.#syncValue, this.#syncEncoded, this.#syncRoom)
            status = this.#putBy(this.#syncValue, this.#syncEncoded, this.#syncDeadline)
          }
          return status === MPMC_PUT_FULL ? NOT_YET : status
        }
      : () => {
          if (this.#emptyAndOpen()) return NOT_YET
          const taken = this.#getManyBy(this.#syncDeadline, this.#syncMax)
          return taken === MPMC_EMPTY ? NOT_YET : taken
        }
    return {
      put,
      none: put ? MPMC_PUT_FULL : MPMC_EMPTY,
      events,
      lock: put ? this.#pLock : this.#cLock,
      spinner,
      skipped: 0,
      skippedSince: 0,
      attemptSync,
      syncRules: { deadline: NO_WAIT, spin: spinner.spin, respin: true, sliceMs: RECHECK_MS, label: what },
    }
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
    this.#pLock.read()
    this.#cLock.read()
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

  /** Largest payload (encoded bytes) one message may have. */
  get maxPayload(): number {
    return this.capacity - MESSAGE_HEADER
  }

  /**
   * Messages in the ring now (a put in progress may count already). Exact
   * once no put or get is in progress, even when a holder died mid-commit:
   * see `#settleCommit`.
   */
  count(): number {
    this.assertSound()
    const i32 = this.#i32
    const w = this.#w
    if (i32[w + P_PHASE] !== 0) this.#settleCommit(this.#pLock)
    if (i32[w + C_PHASE] !== 0) this.#settleCommit(this.#cLock)
    // HEAD_COUNT first: it never passes TAIL_COUNT, so the difference is never negative.
    // Both move while we read them, so a bad pair is clamped (to what the bytes can hold), not thrown.
    const head = Atomics.load(i32, w + HEAD_COUNT)
    const tail = Atomics.load(i32, w + TAIL_COUNT)
    const count = (tail - head) | 0
    return Math.min(Math.max(count, 0), this.capacity / MESSAGE_HEADER)
  }

  /**
   * Messages ever put (an int32 that wraps; a put in progress may count
   * already). A put whose producer died mid-commit is settled first, as in
   * `count()`: JoinableQueue's join counts on it.
   */
  putCount(): number {
    this.assertSound()
    if (this.#i32[this.#w + P_PHASE] !== 0) this.#settleCommit(this.#pLock)
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
    if (!this.#pLock.take() && this.#pLock.acquireSync(deadline, LOCK_SPINS) === BUSY) return LOCKED
    return this.#putLocked(value, encoded)
  }

  /** Waits up to `timeout` ms for room (and for the producer lock), blocking the thread. */
  putSync(value: unknown, encoded: Encoded | undefined, timeout: number): MpmcPutStatus {
    const first = this.#putBy(value, encoded, NO_WAIT)
    if (first === MPMC_PUT_OK || first === MPMC_PUT_SHUTDOWN) return first
    if (timeout <= 0) return MPMC_PUT_FULL
    return this.#waitSync(this.#putSide, value, encoded, deadlineOf(timeout)) as MpmcPutStatus
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
      return (await this.#waitAsync(this.#putSide, value, encoded, deadline, signal, locked, pending)) as MpmcPutStatus
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
      const removeAbort = onAbort(signal, () => {
        cancelTimer()
        reject(signal?.reason)
      })
      const cancelTimer = afterTimeout(remaining(deadline), () => {
        removeAbort()
        resolve(false)
      })
      void previous.then(() => {
        cancelTimer()
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

  /**
   * Appends one message, or what fits of a batch (`encoded` BATCH); the
   * caller holds P_LOCK, which this releases. The one-message path is
   * written out in full rather than through #write and #publishTail (the
   * batch path's): measured with callgrind, the calls cost 5 % more
   * instructions per put and get.
   */
  #putLocked(value: unknown, encoded: Encoded | undefined): MpmcPutStatus {
    if (encoded === BATCH) return this.#putBatchLocked(value as PutBatch)
    const i32 = this.#i32
    const w = this.#w
    const cap = this.capacity
    let status: MpmcPutStatus = MPMC_PUT_FULL
    try {
      // A takeover's repair that found the journal corrupt: throw once the lock is released.
      if (this.#fault !== undefined) throw this.#fault
      // Plain read: whoever set the flag then took this lock (shutdown) is ordered before us.
      if (((i32[w + FLAGS] as number) & FLAG_SHUTDOWN) !== 0) {
        status = MPMC_PUT_SHUTDOWN
        return status
      }
      const tail = i32[w + TAIL] as number
      const count = i32[w + TAIL_COUNT] as number
      if (this.#atMaxItems(count)) return status
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
        // Latin-1 fast path (writeLatin1). The bytes are not published until
        // TAIL moves, so a failed attempt leaves nothing.
        const text = value as string
        // A payload that would wrap, or a char past Latin-1, goes the encode path.
        if (payload + size <= cap && writeLatin1(text, this.#buf, this.#data + payload)) {
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
      i32[w + P_BATCH] = 1
      i32[w + P_PHASE] = 1
      i32[w + TAIL_COUNT] = (count + 1) | 0
      Atomics.store(i32, w + TAIL, newTail)
      i32[w + P_PHASE] = 0
      status = MPMC_PUT_OK
      return status
    } finally {
      this.#pLock.release()
      // The event count's own waiters word, read in place: the common no-sleeper case costs one load.
      if (status === MPMC_PUT_OK && Atomics.load(i32, w + C_WAITERS) > 0) this.#wake(this.#getSide)
    }
  }

  /**
   * Appends as many of the batch's remaining items as fit (room and
   * MAX_ITEMS), in order, with one commit; OK once all are in. The caller
   * holds P_LOCK, which this releases.
   */
  #putBatchLocked(batch: PutBatch): MpmcPutStatus {
    const i32 = this.#i32
    const w = this.#w
    let put = 0
    try {
      // A takeover's repair that found the journal corrupt: throw once the lock is released.
      if (this.#fault !== undefined) throw this.#fault
      if (((i32[w + FLAGS] as number) & FLAG_SHUTDOWN) !== 0) return MPMC_PUT_SHUTDOWN
      const { values, encodeds } = batch
      const from = batch.done
      const first = i32[w + TAIL] as number
      const count = i32[w + TAIL_COUNT] as number
      let tail = first
      while (from + put < values.length && !this.#atMaxItems((count + put) | 0)) {
        const next = this.#write(values[from + put], encodeds[from + put], tail)
        if (next < 0) break
        tail = next
        put++
      }
      if (put > 0) {
        this.#publishTail(first, count, tail, put)
        batch.done = from + put
      }
      return batch.done === values.length ? MPMC_PUT_OK : MPMC_PUT_FULL
    } finally {
      this.#pLock.release()
      if (put > 0 && Atomics.load(i32, w + C_WAITERS) > 0) this.#wake(this.#getSide)
    }
  }

  /**
   * True when MAX_ITEMS messages are in the ring once `count` have been put
   * (HEAD_COUNT reloaded when the cached one says so). A consumer killed
   * between its HEAD store and its count leaves HEAD_COUNT a batch low, so
   * the ring looks full and no get may come to repair it: a get in progress
   * (C_PHASE = 1) is settled first (`#settleCommit`; it never waits, so taking
   * the consumer lock under the producer lock cannot deadlock).
   */
  #atMaxItems(count: number): boolean {
    if (this.maxItems === 0) return false
    const i32 = this.#i32
    const w = this.#w
    // Counts wrap at 2^32: `| 0` gives the true (small) difference.
    if (((count - (i32[w + P_CACHED_HCOUNT] as number)) | 0) < this.maxItems) return false
    let headCount = Atomics.load(i32, w + HEAD_COUNT)
    if (this.#checkCount(count, headCount) >= this.maxItems && i32[w + C_PHASE] !== 0) {
      this.#settleCommit(this.#cLock)
      headCount = Atomics.load(i32, w + HEAD_COUNT)
    }
    i32[w + P_CACHED_HCOUNT] = headCount
    return this.#checkCount(count, headCount) >= this.maxItems
  }

  /** Free bytes after `tail`, from the cached HEAD, or from a fresh one when the cached one leaves fewer than `need`. */
  #roomAfter(tail: number, need: number): number {
    const i32 = this.#i32
    const w = this.#w
    // A cached head that breaks the rules (-1) is reloaded like one that leaves too little room.
    let used = this.#spanOf(i32[w + P_CACHED_HEAD] as number, tail)
    if (used < 0 || this.capacity - used < need) {
      const head = Atomics.load(i32, w + HEAD)
      i32[w + P_CACHED_HEAD] = head
      used = this.#span(head, tail)
    }
    return this.capacity - used
  }

  /**
   * Writes one message at `tail` when it fits; returns the position after
   * it, or -1 when it does not fit. Nothing is visible to consumers until
   * TAIL moves, so a write that fails halfway leaves nothing. Kept small (the
   * short Latin-1 string inline, the rest in #writeEncoded) so that V8
   * inlines it into the put paths.
   */
  #write(value: unknown, encoded: Encoded | undefined, tail: number): number {
    if (encoded === undefined) {
      const cap = this.capacity
      const size = (value as string).length
      const total = MESSAGE_HEADER + ((size + 7) & ~7)
      if (this.#roomAfter(tail, total) < total) return -1
      const index = tail >= cap ? tail - cap : tail
      let payload = index + MESSAGE_HEADER
      if (payload === cap) payload = 0
      // Latin-1 fast path (writeLatin1); a payload that would wrap, or a char
      // past Latin-1, goes the encode path.
      if (payload + size <= cap && writeLatin1(value as string, this.#buf, this.#data + payload)) {
        const at = (this.#data + index) >> 2
        this.#i32[at + 1] = TAG_LATIN1
        this.#i32[at] = size
        return this.#advance(tail, total)
      }
      encoded = encode(value as string)
    }
    return this.#writeEncoded(encoded, tail)
  }

  /** `#write` of an encoded payload. */
  #writeEncoded(encoded: Encoded, tail: number): number {
    const cap = this.capacity
    const size = encoded.size
    const total = MESSAGE_HEADER + ((size + 7) & ~7)
    if (this.#roomAfter(tail, total) < total) return -1
    const index = tail >= cap ? tail - cap : tail
    const at = (this.#data + index) >> 2
    let payload = index + MESSAGE_HEADER
    if (payload === cap) payload = 0
    if (payload + size <= cap) writePayload(encoded, this.#buf, this.#data + payload)
    else this.#writeWrapped(encoded, payload)
    this.#i32[at + 1] = encoded.tag
    this.#i32[at] = size
    return this.#advance(tail, total)
  }

  /** Journal, count, commit of `put` messages written from `tail` to `newTail` (see the header comment). */
  #publishTail(tail: number, count: number, newTail: number, put: number): void {
    const i32 = this.#i32
    const w = this.#w
    i32[w + P_OLD_TAIL] = tail
    i32[w + P_OLD_COUNT] = count
    i32[w + P_BATCH] = put
    i32[w + P_PHASE] = 1
    i32[w + TAIL_COUNT] = (count + put) | 0
    Atomics.store(i32, w + TAIL, newTail)
    i32[w + P_PHASE] = 0
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

  /** `#scratchOf` as a function, for the codec's `decodeSplit` (made once, not per call). */
  readonly #scratchFor = (size: number): Buffer => this.#scratchOf(size)

  #scratchOf(size: number): Buffer {
    if (this.#scratch === undefined || this.#scratch.length < size)
      this.#scratch = Buffer.allocUnsafeSlow(Math.max(size, 4096))
    return this.#scratch
  }

  /** `put` of a batch (see PutBatch): OK once every item is in. */
  putBatch(batch: PutBatch, timeout: number, signal?: AbortSignal): MpmcPutStatus | Promise<MpmcPutStatus> {
    return this.put(batch, BATCH, timeout, signal)
  }

  /** `putSync` of a batch (see PutBatch). */
  putBatchSync(batch: PutBatch, timeout: number): MpmcPutStatus {
    return this.putSync(batch, BATCH, timeout)
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
    if (!this.#cLock.take() && this.#cLock.acquireSync(deadline, LOCK_SPINS) === BUSY) return LOCKED
    return this.#getLocked(true)
  }

  /** `#getBy` for up to `max` messages at once (an array), or for one when `max` is 0. */
  #getManyBy(deadline: number, max: number): Taken {
    if (max === 0) return this.#getBy(deadline)
    this.assertSound()
    if (!this.#cLock.take() && this.#cLock.acquireSync(deadline, LOCK_SPINS) === BUSY) return LOCKED
    return this.#getManyLocked(max)
  }

  /** `tryGet` for up to `max` messages at once: an array of at least one, MPMC_EMPTY or MPMC_SHUTDOWN. */
  tryGetMany(max: number): Taken {
    const taken = this.#getManyBy(NO_WAIT, max)
    return taken === LOCKED ? MPMC_EMPTY : taken
  }

  /** `getSync` for up to `max` messages: waits for the first, then takes what else is there (one commit). */
  getManySync(max: number, timeout: number): Taken {
    const first = this.#getManyBy(NO_WAIT, max)
    if (first !== MPMC_EMPTY && first !== LOCKED) return first
    if (timeout <= 0) return MPMC_EMPTY
    this.#syncMax = max
    try {
      return this.#waitSync(this.#getSide, undefined, undefined, deadlineOf(timeout))
    } finally {
      this.#syncMax = 0
    }
  }

  /** `get` for up to `max` messages, as `getManySync` without blocking the event loop. */
  getMany(max: number, timeout: number, signal?: AbortSignal): Taken | Promise<Taken> {
    const first = this.#getManyBy(NO_WAIT, max)
    if (first !== MPMC_EMPTY && first !== LOCKED) return first
    if (timeout <= 0) return MPMC_EMPTY
    return this.#waitAsync(this.#getSide, max, undefined, deadlineOf(timeout), signal, first === LOCKED)
  }

  /** Waits up to `timeout` ms for a message (and for the consumer lock), blocking the thread. */
  getSync(timeout: number): Taken {
    const first = this.#getBy(NO_WAIT)
    if (first !== MPMC_EMPTY && first !== LOCKED) return first
    if (timeout <= 0) return MPMC_EMPTY
    return this.#waitSync(this.#getSide, undefined, undefined, deadlineOf(timeout))
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
    return this.#waitAsync(this.#getSide, undefined, undefined, deadlineOf(timeout), signal, first === LOCKED)
  }

  // ---------------------------------------------------------------- waiting
  //
  // One wait serves put and get: `side` says which attempt to repeat (tryPut
  // of `value`/`encoded`, or tryGet), which event count to wait on (with this
  // slot's waiter share) and which lock the attempt takes. The caller's first
  // attempt failed. The loops themselves are the kernel's (EventCount for
  // room and data, OwnerWord for the lock).

  /**
   * Repeats `side`'s attempt until `deadline`, blocking the thread (for the
   * lock too: each attempt waits for it until the deadline). Spins first.
   */
  #waitSync(side: WaitSide, value: unknown, encoded: Encoded | undefined, deadline: number): unknown {
    this.#syncValue = value
    this.#syncEncoded = encoded
    this.#syncDeadline = deadline
    side.syncRules.deadline = deadline
    side.spinner.reset()
    if (side.put) {
      this.#syncRoom.begin(Atomics.load(this.#i32, this.#w + HEAD_COUNT))
      // A put woken for more than its record sleeps at once (room-wait.ts).
      this.#syncRecord = this.#recordOf(value, encoded)
      side.syncRules.spin = wokenForRecordAlone(this.#syncRecord, this.capacity) ? side.spinner.spin : undefined
    }
    try {
      const result = side.events.waitSync(side.attemptSync, side.syncRules)
      // LOCKED: a live owner still held the lock at our deadline.
      return result === TIMED_OUT || result === LOCKED ? side.none : result
    } finally {
      this.#syncValue = undefined
      this.#syncEncoded = undefined
    }
  }

  /**
   * Like `#waitSync`, without blocking the event loop: each attempt only
   * spins for the lock, and a lock held beyond the spin (`locked`: the
   * caller's first attempt found it so) is awaited on its owner word, which
   * runs the attempt holding it as soon as it is taken (never across an await).
   */
  async #waitAsync(
    side: WaitSide,
    value: unknown,
    encoded: Encoded | undefined,
    deadline: number,
    signal: AbortSignal | undefined,
    locked: boolean,
    pending?: PendingPut,
  ): Promise<unknown> {
    // For a get, `value` is getMany's `max` (undefined: a plain get).
    const max = side.put ? 0 : ((value as number | undefined) ?? 0)
    // A put that lands leaves `pendingPuts` at once, in the same synchronous
    // step: an attempt can run before the first await (the lock or the room
    // was free by then), and a process.exit() that follows must not put it again.
    const landed = (status: MpmcPutStatus): MpmcPutStatus => {
      if (status !== MPMC_PUT_FULL && pending !== undefined) pendingPuts.delete(pending)
      return status
    }
    // A short spin catches a producer that is about to publish, saving a
    // futex round trip through the waiter thread.
    const rules: WaitRules = {
      deadline,
      signal,
      spin: locked || side.put ? undefined : side.spinner.reset().spin,
      respin: true,
      sliceMs: RECHECK_MS,
      label: `${this.#label} "${this.#segment.name}"`,
    }
    // A put's wait for room (see the header, "Hysteresis"); a get has none.
    const room = side.put ? new RoomWait(rules, RECHECK_MS) : undefined
    room?.begin(Atomics.load(this.#i32, this.#w + HEAD_COUNT))
    const attempt = side.put
      ? (): unknown => {
          let status = this.#putBy(value, encoded, NO_WAIT)
          if (status === MPMC_PUT_FULL) {
            // Announce, then look once more (see the header, "Hysteresis").
            this.#announceNeed(value, encoded, room as RoomWait)
            status = this.#putBy(value, encoded, NO_WAIT)
          }
          if (status === LOCKED) return status
          return landed(status as MpmcPutStatus) === MPMC_PUT_FULL ? NOT_YET : status
        }
      : (): unknown => {
          if (this.#emptyAndOpen()) return NOT_YET
          const taken = this.#getManyBy(NO_WAIT, max)
          return taken === MPMC_EMPTY ? NOT_YET : taken
        }
    const holding = side.put
      ? () => landed(this.#putLocked(value, encoded))
      : () => (max > 0 ? this.#getManyLocked(max) : this.#getLocked(true))
    for (;;) {
      if (locked) {
        // Not counted as a waiter for the event meanwhile: only the lock's release concerns us.
        this.assertSound()
        const result = await side.lock.acquireThen(deadline, signal, holding, LOCKED)
        if (result === LOCKED) return side.none
        if (result !== side.none) return result
        locked = false
      }
      const result: unknown = await side.events.wait<unknown>(attempt, rules)
      if (result === TIMED_OUT) return side.none
      if (result !== LOCKED) return result
      locked = true
      rules.spin = undefined
    }
  }

  /**
   * After a put's look found no room: announces the room it is to be woken
   * at (P_NEED, P_NEED_ITEMS: an atomic min; see the header, "Hysteresis")
   * and sets its next sleep's slice.
   */
  #announceNeed(value: unknown, encoded: Encoded | undefined, wait: RoomWait): void {
    const i32 = this.#i32
    const w = this.#w
    const record = this.#recordOf(value, encoded)
    lowerNeed(i32, w + P_NEED, wait.need(record, Atomics.load(i32, w + HEAD_COUNT), this.capacity))
    if (this.maxItems === 0) return
    const items = wait.stalled ? 1 : Math.max(1, Math.min(WAKE_ITEMS, this.maxItems >> 1))
    lowerNeed(i32, w + P_NEED_ITEMS, items)
    if (items > 1) wait.rules.sliceMs = FULL_RING_SLICE_MS
  }

  /** Ring bytes of the record a put of `value` writes (a batch: its next item's); an estimate for unencoded text. */
  #recordOf(value: unknown, encoded: Encoded | undefined): number {
    let size: number
    if (encoded === BATCH) {
      const batch = value as PutBatch
      const next = batch.encodeds[batch.done]
      size = next === undefined ? (batch.values[batch.done] as string).length : next.size
    } else size = encoded === undefined ? (value as string).length : encoded.size
    return Math.min(MESSAGE_HEADER + ((size + 7) & ~7), this.capacity)
  }

  /**
   * After a take moved HEAD (the lock released): wakes the producers
   * waiting for room once the room they announced is free (see the header,
   * "Hysteresis"). Needs and positions that break the rules wake them.
   */
  #wakeProducers(): void {
    const i32 = this.#i32
    const w = this.#w
    if (Atomics.load(i32, w + P_WAITERS) <= 0) return
    // Read after P_WAITERS (see the header, "Hysteresis"); 0 or less: none announced, wake.
    const need = Atomics.load(i32, w + P_NEED)
    if (this.#freeBytes() < Math.min(need, this.capacity)) return
    if (this.maxItems > 0) {
      const needItems = Math.min(Atomics.load(i32, w + P_NEED_ITEMS), this.maxItems)
      const items = (Atomics.load(i32, w + TAIL_COUNT) - Atomics.load(i32, w + HEAD_COUNT)) | 0
      if (items >= 0 && items <= this.maxItems && this.maxItems - items < needItems) return
    }
    // The woken producers that still find no room announce again.
    Atomics.store(i32, w + P_NEED, 0)
    Atomics.store(i32, w + P_NEED_ITEMS, 0)
    this.#wake(this.#putSide)
  }

  /** True when the record of this thread's sync put fits now (bytes only), or the ring was shut down. */
  #roomForSyncPut(): boolean {
    if ((Atomics.load(this.#i32, this.#w + FLAGS) & FLAG_SHUTDOWN) !== 0) return true
    return this.#freeBytes() >= this.#syncRecord
  }

  /**
   * Free bytes now, from fresh HEAD and TAIL; the whole capacity when they
   * break the rules (the caller's look then finds the corruption, a waiter
   * is not kept waiting for it).
   */
  #freeBytes(): number {
    const used = this.#spanOf(Atomics.load(this.#i32, this.#w + HEAD), Atomics.load(this.#i32, this.#w + TAIL))
    return used < 0 ? this.capacity : this.capacity - used
  }

  /**
   * A waiting get's look before it takes the consumer lock: true when the
   * ring was empty and open when it looked. HEAD_COUNT (bumped after HEAD)
   * is loaded before TAIL_COUNT (bumped before TAIL), so equal counts mean
   * every message published by then was taken (they are exact, and 2^32
   * messages cannot pass between two loads, while a position may come round
   * to the same value). HEAD and TAIL must be equal too: they stay the truth
   * when a count was scribbled (counts are range-checked only where
   * MAX_ITEMS is enforced), and TAIL's seq-cst store is what a registered
   * waiter's re-check must see or be seen by (see "Sleeping" in the header).
   * FLAGS, never cleared, was 0 then too. A half-done commit of a dead
   * holder leaves the counts unequal, so the locked path and its takeover
   * run. So an idle getter's periodic look, and the re-check after it
   * registers, write nothing and take no lock.
   */
  #emptyAndOpen(): boolean {
    this.assertSound()
    const i32 = this.#i32
    const w = this.#w
    return (
      Atomics.load(i32, w + HEAD_COUNT) === Atomics.load(i32, w + TAIL_COUNT) &&
      Atomics.load(i32, w + HEAD) === Atomics.load(i32, w + TAIL) &&
      (Atomics.load(i32, w + FLAGS) & FLAG_SHUTDOWN) === 0
    )
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
   * caller holds C_LOCK, which this releases. Written out in full rather than
   * through #read and #publishHead (getMany's), for the same measured reason
   * as #putLocked.
   */
  #getLocked(decode: boolean): Taken {
    const i32 = this.#i32
    const w = this.#w
    const cap = this.capacity
    let moved = false
    let failure: unknown
    let value: unknown
    try {
      // A takeover's repair that found the journal corrupt: throw once the lock is released.
      if (this.#fault !== undefined) throw this.#fault
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
      // `size <= used - 8` first: a size near 2^31 would overflow the padded sum.
      if (!(size >= 0 && size <= used - MESSAGE_HEADER && MESSAGE_HEADER + ((size + 7) & ~7) <= used))
        throw this.corrupt(`a message of size ${size} and tag ${tag} at position ${head}, ${used} bytes published`)
      if (!(tag >= TAG_LATIN1 && tag <= TAG_MAX))
        throw this.corrupt(`a message of size ${size} and tag ${tag} at position ${head}, ${used} bytes published`)
      if (decode) {
        let payload = index + MESSAGE_HEADER
        if (payload === cap) payload = 0
        try {
          if (payload + size <= cap) {
            const start = this.#data + payload
            value =
              tag === TAG_LATIN1
                ? decodeLatin1(this.#buf, start, size)
                : decodePayload(tag, this.#buf, start, start + size)
          } else {
            const start = this.#data + payload
            const end2 = this.#data + size - (cap - payload)
            value = decodeSplit(tag, this.#buf, start, this.#data + cap, this.#data, end2, this.#scratchFor)
          }
        } catch (error) {
          // A message that cannot be revived is dropped, not left to wedge the ring for others.
          failure = this.#unrevivable(head, error)
        }
      }
      let newHead = head + MESSAGE_HEADER + ((size + 7) & ~7)
      if (newHead >= this.#cap2) newHead -= this.#cap2
      const count = i32[w + HEAD_COUNT] as number
      // Journal, commit, count (see the header comment).
      i32[w + C_OLD_HEAD] = head
      i32[w + C_OLD_COUNT] = count
      i32[w + C_BATCH] = 1
      i32[w + C_PHASE] = 1
      Atomics.store(i32, w + HEAD, newHead)
      i32[w + HEAD_COUNT] = (count + 1) | 0
      i32[w + C_PHASE] = 0
      moved = true
    } finally {
      this.#cLock.release()
      if (moved) this.#wakeProducers()
    }
    if (failure !== undefined) {
      if (failure instanceof DataCloneError) this.onUnrevivable?.()
      throw failure
    }
    return value
  }

  /**
   * Takes up to `max` of the messages there now, with one commit: an array
   * of at least one value, MPMC_EMPTY or MPMC_SHUTDOWN. A message that cannot
   * be revived ends the batch: a corrupt one is dropped, the values before it
   * are returned, and the attachment is faulted (the next call throws); one
   * too deep to revive (DataCloneError) stays for the next call. When it
   * comes first, the call throws (and drops it). The caller holds C_LOCK,
   * which this releases.
   */
  #getManyLocked(max: number): unknown[] | typeof MPMC_EMPTY | typeof MPMC_SHUTDOWN {
    const i32 = this.#i32
    const w = this.#w
    const values: unknown[] = []
    let taken = 0
    try {
      // A takeover's repair that found the journal corrupt: throw once the lock is released.
      if (this.#fault !== undefined) throw this.#fault
      const first = i32[w + HEAD] as number
      // One fresh TAIL for the whole batch: what is there now.
      const tail = Atomics.load(i32, w + TAIL)
      i32[w + C_CACHED_TAIL] = tail
      if (first === tail) return (Atomics.load(i32, w + FLAGS) & FLAG_SHUTDOWN) !== 0 ? MPMC_SHUTDOWN : MPMC_EMPTY
      let used = this.#span(first, tail)
      let head = first
      while (taken < max && used > 0) {
        const value = this.#read(head, used, true)
        // Too deep to revive: left for the next call, which takes it first and throws.
        if (taken > 0 && this.#readFailure instanceof DataCloneError) break
        head = this.#advance(head, this.#readBytes)
        used -= this.#readBytes
        taken++
        if (this.#readFailure !== undefined) break
        values.push(value)
      }
      this.#publishHead(first, head, taken)
    } finally {
      this.#cLock.release()
      if (taken > 0) this.#wakeProducers()
    }
    const failure = this.#readFailure
    if (values.length === 0 && failure !== undefined) {
      if (failure instanceof DataCloneError) this.onUnrevivable?.()
      throw failure
    }
    return values
  }

  /** The position `bytes` after `position` (positions run modulo 2·capacity). */
  #advance(position: number, bytes: number): number {
    const next = position + bytes
    return next >= this.#cap2 ? next - this.#cap2 : next
  }

  /**
   * Reads the message at `head` (`used` bytes published from there): its
   * value when `decode`, and its size with header and padding in
   * `#readBytes`. A payload the codec cannot revive leaves the CorruptError
   * in `#readFailure` (the message can still be dropped); a header that
   * breaks the rules throws.
   */
  #read(head: number, used: number, decode: boolean): unknown {
    const i32 = this.#i32
    const cap = this.capacity
    const index = head >= cap ? head - cap : head
    const at = (this.#data + index) >> 2
    const size = i32[at] as number
    const tag = i32[at + 1] as number
    this.#readFailure = undefined
    // The message must lie within what was published (which also keeps it within the area).
    // `size <= used - 8` first: a size near 2^31 would overflow the padded sum.
    if (
      !(
        size >= 0 &&
        size <= used - MESSAGE_HEADER &&
        MESSAGE_HEADER + ((size + 7) & ~7) <= used &&
        tag >= TAG_LATIN1 &&
        tag <= TAG_MAX
      )
    )
      throw this.corrupt(`a message of size ${size} and tag ${tag} at position ${head}, ${used} bytes published`)
    this.#readBytes = MESSAGE_HEADER + ((size + 7) & ~7)
    if (!decode) return undefined
    let payload = index + MESSAGE_HEADER
    if (payload === cap) payload = 0
    try {
      if (payload + size <= cap) {
        const start = this.#data + payload
        return tag === TAG_LATIN1
          ? decodeLatin1(this.#buf, start, size)
          : decodePayload(tag, this.#buf, start, start + size)
      }
      const end2 = this.#data + size - (cap - payload)
      return decodeSplit(tag, this.#buf, this.#data + payload, this.#data + cap, this.#data, end2, this.#scratchFor)
    } catch (error) {
      this.#readFailure = this.#unrevivable(head, error)
      return undefined
    }
  }

  /**
   * Why the message at `head` could not be revived: a value nested too deep
   * for this thread's stack (the codec's DataCloneError; sound bytes, so this
   * object is not faulted and the next message is read as usual), or else a
   * corrupt payload (faulted).
   */
  #unrevivable(head: number, error: unknown): CorruptError | DataCloneError {
    if (!(error instanceof DataCloneError))
      return this.corrupt(`the message at position ${head} cannot be revived`, error)
    return new DataCloneError(
      `Cannot revive the item taken from the ${this.#label} "${this.#segment.name}", which was dropped: ${NESTED_TOO_DEEP}`,
      { cause: error },
    )
  }

  /** Journal, commit, count of `taken` messages from `head` to `newHead` (see the header comment). */
  #publishHead(head: number, newHead: number, taken: number): void {
    const i32 = this.#i32
    const w = this.#w
    const count = i32[w + HEAD_COUNT] as number
    i32[w + C_OLD_HEAD] = head
    i32[w + C_OLD_COUNT] = count
    i32[w + C_BATCH] = taken
    i32[w + C_PHASE] = 1
    Atomics.store(i32, w + HEAD, newHead)
    i32[w + HEAD_COUNT] = (count + taken) | 0
    i32[w + C_PHASE] = 0
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Marks the ring shut down in every process: later puts return
   * MPMC_PUT_SHUTDOWN, gets drain what is left then return MPMC_SHUTDOWN, and
   * every sleeper wakes to see it. With `immediate`, drops the messages still
   * in the ring and returns how many it dropped; `onDropped` runs after each
   * drop, so a caller counting them has counted every one dropped when this
   * throws part-way (TimeoutError, CorruptError). A SIGKILL between a drop and
   * its `onDropped` loses that one count.
   */
  shutdown(immediate: boolean, onDropped?: () => void): number {
    this.assertSound()
    const i32 = this.#i32
    const w = this.#w
    Atomics.or(i32, w + FLAGS, FLAG_SHUTDOWN)
    let dropped = 0
    if (immediate) {
      // Taking the producer lock once waits out any put that read the flag before it was set.
      this.#lockForShutdown(this.#pLock, 'producer')
      this.#pLock.release()
      for (;;) {
        this.#lockForShutdown(this.#cLock, 'consumer')
        const taken = this.#getLocked(false)
        if (taken === MPMC_EMPTY || taken === MPMC_SHUTDOWN) break
        dropped++
        onDropped?.()
      }
    }
    this.#getSide.events.notifyAll()
    this.#putSide.events.notifyAll()
    return dropped
  }

  // ---------------------------------------------------------------- locks

  /**
   * Takes `lock` for `shutdown({ immediate })`, which has no timeout: waits
   * LOCK_BOUND_MS for a live owner, then throws TimeoutError (the ring is
   * shut down; what is left was not dropped, what was dropped before stays dropped).
   */
  #lockForShutdown(lock: OwnerWord, side: string): void {
    if (lock.take() || lock.acquireSync(deadlineOf(LOCK_BOUND_MS), LOCK_SPINS) !== BUSY) return
    throw new TimeoutError(
      `Cannot drop the items of the ${this.#label} "${this.#segment.name}": its ${side} lock ` +
        `has been held by slot ${lock.holder()?.slot} for ${LOCK_BOUND_MS} ms (it is shut down; shutting it down again drops them)`,
    )
  }

  /**
   * A commit in progress (PHASE = 1) whose holder died leaves its count a
   * batch off until someone takes the lock over; a put or get does, but
   * after the last one nobody would, and the count would stay off for good.
   * So a reader of the counts that finds a commit in progress (`count()`,
   * `putCount()`, a put at MAX_ITEMS) takes the lock if its holder is dead
   * (the takeover repairs the count) and releases it at once. A live holder
   * keeps it: that costs a liveness check (a few syscalls), only when the
   * read lands inside a commit.
   */
  #settleCommit(lock: OwnerWord): void {
    if (lock.tryAcquire(true) === BUSY) return
    lock.release()
    // A repair that found the journal corrupt recorded it: throw it now the lock is free.
    this.assertSound()
  }

  /** Finishes or rolls back the count update of a dead lock owner (the owner word's onTakeover). The caller holds `lock`. */
  #repair(lock: number): void {
    const i32 = this.#i32
    const w = this.#w
    if (lock === P_LOCK) {
      if (i32[w + P_PHASE] !== 1) return
      const committed = Atomics.load(i32, w + TAIL) !== i32[w + P_OLD_TAIL]
      i32[w + TAIL_COUNT] = ((i32[w + P_OLD_COUNT] as number) + (committed ? this.#batchOf(P_BATCH) : 0)) | 0
      i32[w + P_PHASE] = 0
    } else {
      if (i32[w + C_PHASE] !== 1) return
      const committed = Atomics.load(i32, w + HEAD) !== i32[w + C_OLD_HEAD]
      i32[w + HEAD_COUNT] = ((i32[w + C_OLD_COUNT] as number) + (committed ? this.#batchOf(C_BATCH) : 0)) | 0
      i32[w + C_PHASE] = 0
    }
  }

  /**
   * A journal's BATCH word: 1 to the most messages the ring holds. Out of
   * range, it records the corruption (the caller's attempt, which holds the
   * lock, throws it once it has released the lock) and counts 0: the repair
   * must not throw, or the lock would stay with this live attachment.
   */
  #batchOf(word: number): number {
    const batch = this.#i32[this.#w + word] as number
    if (batch >= 1 && batch <= this.capacity / MESSAGE_HEADER) return batch
    this.corrupt(`a journal's batch is ${batch} messages`)
    return 0
  }

  // ---------------------------------------------------------------- sleepers

  /**
   * Wakes the sleepers of `side` that were not woken yet (the sleep epoch);
   * looks for dead sleepers when wake syscalls keep finding nobody, or when
   * wakes were skipped for SKIPPED_WAKES_MS (then also wakes every sleeper:
   * a notifier killed between its bump and its wake-up left one asleep on
   * the bumped value, which the epoch calls woken). Never throws CorruptError.
   */
  #wake(side: WaitSide): void {
    const woken = side.events.notifyUnwoken()
    if (woken > 0) {
      side.skipped = 0
      return
    }
    if (woken === 0) {
      if (++this.#futile < FUTILE_WAKES) return
      this.#futile = 0
    } else {
      // Skipped: the registered sleepers were all woken already and not one has left since.
      if (side.skipped++ === 0) side.skippedSince = performance.now()
      if ((side.skipped & 15) !== 0 || performance.now() - side.skippedSince < SKIPPED_WAKES_MS) return
      side.skipped = 0
      side.events.notifyAll()
    }
    // Every caller has committed (a put's item is in, a get's taken): a corrupt word the sweep
    // meets has faulted this object (`corrupt`), and the next call throws it. Thrown from here,
    // it would fail a call that took effect: its caller would put the item again, or lose it.
    try {
      this.sweep()
    } catch (error) {
      if (!(error instanceof CorruptError)) throw error
      this.#fault ??= error
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
    // The segment frees the slot even when this throws (a scribbled lock word): its shares and the
    // other lock go first, or every later put would pay a wake syscall for a sleeper that is gone.
    try {
      this.#pLock.reclaim(slot)
    } finally {
      try {
        this.#cLock.reclaim(slot)
      } finally {
        this.#reclaimShares(slot)
      }
    }
  }

  /**
   * Finds attachments that died without detaching: reaps dead processes'
   * slots (the segment calls `reclaimSlot` through its onReap) and reclaims
   * the slots of worker threads that were terminated.
   */
  sweep(): void {
    if (this.#segment.closed) return
    this.#segment.reap()
    for (let slot = 0; slot < SLOTS; slot++) {
      if (slot === this.#slot) continue
      const owner = this.#segment.slotOwner(slot)
      // reap() just judged every process; what it cannot see is a worker thread gone without detaching.
      if (owner === undefined || owner.tid === owner.pid) continue
      if (!attachmentAlive(this.#segment, slot, true)) this.reclaimSlot(slot)
    }
  }

  /** Call before closing the segment: drops this object's sleeper shares (its pending waits end with ClosedError). */
  detach(): void {
    if (this.#segment.closed) return
    this.#reclaimShares(this.#slot)
  }
}
