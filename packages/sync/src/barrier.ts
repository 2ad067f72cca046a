/**
 * Barrier: Python's multiprocessing.Barrier across processes and threads,
 * which breaks instead of hanging when a party dies. Layout in layout.ts.
 *
 * Why a RobustLock-guarded record rather than one CAS-packed word: a waiter
 * must learn how *its* generation ended (released, or broken by reset,
 * abort, a timeout or a dead party), also when later generations have come
 * and gone before it runs again. A packed word says only how the current
 * generation stands. So each waiting call has an entry, and whoever ends a
 * generation writes its fate into every entry of that generation, holding
 * the lock, before anyone can start the next one. The entries also record
 * who waits (slot and thread), which the dead-party rule needs. The lock is
 * held only inside short synchronous sections (never across an await): an
 * arrival is one acquire, a few stores and one release. An async call that
 * waits for it takes it with `acquireThen`, which runs the section in the
 * step that takes it, so no other task of this thread (a close(), an abort
 * of the call's signal, another call of this object) runs while this
 * object holds it.
 *
 * Protocol (all under the lock unless said):
 * - arrive: BROKEN set → BrokenBarrierError. index = COUNT. If index + 1 =
 *   PARTIES: a dead waiting party (below) breaks the barrier and the call
 *   throws BrokenBarrierError; else mark every PENDING entry RELEASED,
 *   GENERATION + 1, COUNT = 0, release the lock, bump EVENT and wake all;
 *   return index. Else write an entry (GEN, SLOT, TID, then STATE =
 *   PENDING), COUNT + 1, release, and sleep on EVENT (EventCount) until the
 *   entry's STATE is not PENDING.
 * - its fate, read without the lock: RELEASED → return index; BROKEN →
 *   BrokenBarrierError. Either way the waiter then stores STATE = FREE.
 * - timeout or abort: take the lock; if the entry is still PENDING, break
 *   (below) and throw BrokenBarrierError (or `signal.reason`); if it was
 *   released meanwhile, return its index.
 * - break (abort(), a timeout, a dead party): every PENDING entry → BROKEN,
 *   BROKEN = 1, COUNT = 0, wake all. reset(): the same with BROKEN = 0 and
 *   GENERATION + 1, so arrivals after it start afresh. Entries are marked by
 *   CAS PENDING → fate (see the next point).
 * - a live holder keeps the lock past a call's deadline (a stopped process,
 *   a scribbled lock word): every lock wait of a call with a timeout ends at
 *   the later of its deadline and LOCK_SLICE_MS after the wait began (a
 *   holder merely descheduled releases well within that), and the call
 *   breaks the barrier without the lock: CAS its own entry PENDING → BROKEN
 *   (if it arrived), BROKEN = 1, wake all; it throws BrokenBarrierError. A
 *   waiter that finds BROKEN = 1 beside its PENDING entry takes BROKEN by
 *   the same CAS (under the lock BROKEN = 1 is stored only after every
 *   PENDING entry was marked, so nothing else shows that pair). The races it
 *   adds, both only with a holder stopped past LOCK_SLICE_MS: the holder,
 *   if it was the last arriver, resumes and releases whichever waiters have
 *   not yet taken BROKEN (a generation then ends with some parties passed
 *   and some broken) and returns its index itself; and a break without the
 *   lock that overlaps a reset() may store BROKEN = 1 after it, so the
 *   barrier is broken again after reset() returned. Either way the barrier
 *   stays broken until the next reset(). abort() and reset() wait for the
 *   lock at most TAG_STALL_MS, then throw TimeoutError.
 * - a waiter's checks (each wake-up and PEER_CHECK_MS slice) range-check
 *   its entry's STATE, COUNT and BROKEN: a corrupt word fails the wait with
 *   CorruptError, which breaks the barrier as a failed wait does.
 *
 * Why generations in a row work: a fast party that re-enters before the
 * slow ones have woken arrives in GENERATION + 1 and gets a new entry; the
 * slow ones read the fate already written into their own entries, which
 * nothing of a later generation touches (only PENDING entries are marked,
 * and theirs are not PENDING any more). No draining phase is needed.
 *
 * Dead parties: a waiter sleeps at most PEER_CHECK_MS at a time; after a
 * slice it tries the lock without waiting (RobustLock takes over a dead
 * holder), and looks at the PENDING entries: one whose object is no longer
 * attached (`attachmentAlive`: SIGKILL, ended thread, closed) breaks the
 * barrier. So a party that dies while waiting, or while holding the lock,
 * breaks the barrier for everyone within about PEER_CHECK_MS. The same
 * check (`#deadPartyLocked`) runs in the arrival that would release a
 * generation, which must not pass a dead party when nobody else waits to
 * notice it (an arrival that waits notices after its first slice), and in
 * the `nWaiting`/`broken` getters (only when the lock is free); both at most
 * every PEER_CHECK_MS per object, so a release within that time of a
 * party's death may still pass it, as a waiter's slice may not have ended. A lock taken over from a dead holder
 * (`previousOwnerDied`) breaks it too when anyone waits: the dead holder
 * may have been half-way through a release. With nobody waiting it does not
 * (a last arriver killed after its release, before its unlock, leaves a
 * finished generation).
 *
 * What a SIGKILL can lose: a waiter killed after its fate was written
 * leaves its entry not FREE; it is swept when the table fills (the owner's
 * liveness is checked). A party killed between its arrival and the release
 * it made (the last arriver) is caught by the lock takeover. Nothing else.
 */
import { CorruptError, IncompatibleError, IpcError, TimeoutError } from '@ipc/core'
import {
  type Attachment,
  attachmentAlive,
  type CreationSpec,
  checkOptionsObject,
  checkPersistent,
  checkWaitOptions,
  deadlineOf,
  EventCount,
  fromHandle,
  type Handle,
  invalidArgType,
  LookCadence,
  NOT_YET,
  openPrimitive,
  outOfRange,
  PEER_CHECK_MS,
  Primitive,
  type PrimitiveKind,
  ROBUST_LOCK_BYTES,
  RobustLock,
  remaining,
  type Segment,
  syncTimeoutOf,
  TAG_STALL_MS,
  TIMED_OUT,
  threadId,
  WAIT_OPTIONS,
  type WaitRules,
} from '@ipc/core/internal'
import { BrokenBarrierError } from './errors.js'
import {
  B_BROKEN,
  B_CAPACITY,
  B_COUNT,
  B_ENTRIES,
  B_ENTRY_WORDS,
  B_EVENT,
  B_GENERATION,
  B_LOCK,
  B_MAGIC,
  B_PARTIES,
  B_WAITERS,
  BARRIER_KIND,
  BARRIER_MAGIC,
  BE_GEN,
  BE_SLOT,
  BE_STATE,
  BE_TID,
  BROKEN,
  barrierBytes,
  barrierCapacity,
  FREE,
  MAX_PARTIES,
  PENDING,
  RELEASED,
} from './layout.js'
import {
  BARRIER_CREATE_OPTIONS,
  type BarrierCreateOptions,
  type BarrierOpenOptions,
  SYNC_OPTIONS,
  type SyncOptions,
  type WaitOptions,
  type WaitSyncOptions,
} from './options.js'

/**
 * The least time a call whose deadline has passed (or that gives up) still
 * waits for the barrier's lock: a free lock, or one in a normal section
 * (microseconds, plus a scheduler delay if its holder was descheduled), is
 * taken; a live holder that keeps it longer ends the call without it. The
 * kernel's peer-check slice: long beside any preemption, short beside a
 * stopped process.
 */
const LOCK_SLICE_MS = PEER_CHECK_MS

/** How long a call with `deadline` may wait for the lock: what is left, at least LOCK_SLICE_MS (Infinity without a deadline). */
function lockTimeout(deadline: number): number {
  return Math.max(remaining(deadline), LOCK_SLICE_MS)
}

/** The `.handle` of a Barrier. */
export interface BarrierHandle extends Handle {
  kind: 'barrier'
}

interface BarrierAttachment extends Attachment {
  readonly parties: number
  readonly capacity: number
  readonly lock: RobustLock
  readonly events: EventCount
}

interface BarrierSpec extends CreationSpec {
  parties: number
}

const BARRIER: PrimitiveKind<BarrierAttachment, BarrierSpec> = {
  segment: BARRIER_KIND,
  className: 'Barrier',
  module: import.meta.url,
  dataBytes: (spec) => barrierBytes(spec.parties),
  init(created, spec) {
    const base = created.dataOffset / 4
    Atomics.store(created.i32, base + B_PARTIES, spec.parties)
    Atomics.store(created.i32, base + B_CAPACITY, barrierCapacity(spec.parties))
    Atomics.store(created.i32, base + B_MAGIC, BARRIER_MAGIC)
  },
  // A dead holder's slot is about to be freed: its hold of the lock becomes abandoned (the next
  // taker takes it over), not left naming a slot that a new attacher with its thread id may claim.
  // A data area too short for the lock is left to attach, which reports it corrupt.
  onReap(slot: number, reaped: Segment): void {
    if (reaped.dataBytes < B_LOCK * 4 + ROBUST_LOCK_BYTES) return
    barrierLock(reaped, false).abandonFor(slot)
  },
  attach(opened: Segment): BarrierAttachment {
    const base = opened.dataOffset / 4
    const i32 = opened.i32
    if (Atomics.load(i32, base + B_MAGIC) !== BARRIER_MAGIC)
      throw new IncompatibleError(`Cannot open barrier "${opened.name}": its data is not a barrier's`)
    const parties = Atomics.load(i32, base + B_PARTIES)
    const capacity = Atomics.load(i32, base + B_CAPACITY)
    if (
      !(parties >= 1 && parties <= MAX_PARTIES) ||
      capacity !== barrierCapacity(parties) ||
      barrierBytes(parties) > opened.dataBytes
    )
      throw new CorruptError(
        `Cannot open barrier "${opened.name}": its shared memory is corrupt (parties ${parties}, capacity ${capacity})`,
      )
    return {
      segment: opened,
      parties,
      capacity,
      // Held only inside synchronous sections (acquireThen for the async calls): a lock word naming this
      // object met by any acquire of it was scribbled, and is CorruptError (not ValueError, not a wait).
      lock: barrierLock(opened, true),
      events: new EventCount(opened, i32, base + B_EVENT, base + B_WAITERS),
    }
  },
}

/** The barrier's internal lock (word B_LOCK of the data area of `segment`). */
function barrierLock(segment: Segment, ownCodeIsCorrupt: boolean): RobustLock {
  return new RobustLock(segment, segment.dataOffset + B_LOCK * 4, {
    label: `the lock of barrier "${segment.name}"`,
    ownCodeIsCorrupt,
  })
}

function checkParties(parties: unknown): number {
  if (typeof parties !== 'number')
    throw invalidArgType(`The "parties" argument must be a number, received ${typeof parties}`)
  if (!Number.isInteger(parties) || parties < 1 || parties > MAX_PARTIES)
    throw outOfRange(`The "parties" argument must be an integer from 1 to ${MAX_PARTIES}, received ${parties}`)
  return parties
}

function barrierSpec(parties: unknown, options: SyncOptions | undefined, name?: string): BarrierSpec {
  const checked = checkParties(parties)
  checkOptionsObject(options, SYNC_OPTIONS)
  return { parties: checked, name: name ?? options?.name, persistent: checkPersistent(options?.persistent) }
}

/** How a wait ended, once its entry has a fate. */
type Fate = typeof RELEASED | typeof BROKEN

/**
 * A barrier for a fixed number of parties in processes and threads:
 * Python's `multiprocessing.Barrier`. Each party calls `wait()`; once
 * `parties` have called it, all of them return together, each with a
 * distinct index from `0` (the first to arrive) to `parties - 1` (the last,
 * which released the others), and the barrier is ready for the next round.
 *
 * Guarantees:
 * - Each generation releases exactly `parties` calls, with the indexes
 *   `0 … parties-1` once each, in arrival order (as Python's).
 * - Generations in a row: a party that comes back before the others woke
 *   up waits in the next generation and never confuses the last one.
 * - It breaks instead of hanging: a timeout, an aborted `signal`, `abort()`,
 *   `reset()` while parties wait, or a party that dies (even by SIGKILL), whose
 *   worker thread ends, or that closes its Barrier while it waits makes every
 *   waiter of that generation throw `BrokenBarrierError`, within about 100 ms
 *   for a dead party (also for the call that would complete its generation,
 *   when it comes later than that). Python's Barrier hangs on a dead party.
 * - A broken barrier stays broken (every `wait()` throws at once) until `reset()`.
 *
 * @throws {RangeError} `parties` is not an integer from 1 to 1000.
 * @throws {ExistsError} `options.name` is taken.
 * @example
 * ```ts
 * const barrier = new Barrier(2)
 * const [a, b] = await Promise.all([barrier.wait(), barrier.wait()])
 * a + b // => 1: one got 0, the other 1
 * barrier.close()
 * ```
 * @see The tested walkthrough: apps/docs/examples/sync/rounds.ts
 */
export class Barrier extends Primitive<BarrierAttachment, BarrierHandle> {
  readonly #i32: Int32Array
  readonly #base: number
  readonly #parties: number
  readonly #capacity: number
  readonly #lock: RobustLock
  readonly #events: EventCount
  readonly #label: string
  readonly #tid: number
  /** Entries this object made and has not freed (its waits in progress). */
  readonly #mine = new Set<number>()
  /** When this object last looked for dead parties (`#checkParties`, or the release's look). */
  readonly #looks = new LookCadence(PEER_CHECK_MS)

  constructor(parties: number, options?: SyncOptions) {
    super(BARRIER, () => barrierSpec(parties, options))
    const attached = this.attachment
    this.#i32 = attached.segment.i32
    this.#base = attached.segment.dataOffset / 4
    this.#parties = attached.parties
    this.#capacity = attached.capacity
    this.#lock = attached.lock
    this.#events = attached.events
    this.#label = `barrier "${this.name}"`
    this.#tid = threadId()
  }

  /**
   * Attaches to the barrier called `name`; with `create: { parties }`,
   * creates it when the name does not exist (atomically: of racing
   * processes exactly one creates it; all attach to it, whatever `parties`
   * the others gave).
   * @throws {NotFoundError} No barrier has that name (and `create` is not given).
   * @throws {IncompatibleError} It is not a Barrier.
   * @example
   * ```ts
   * const start = Barrier.open('start', { create: { parties: 3 } })
   * ```
   */
  static open(name: string, options?: BarrierOpenOptions): Barrier {
    return openPrimitive(
      attachableBarrier,
      BARRIER,
      name,
      options as { create?: boolean | BarrierCreateOptions } | undefined,
      (create: Partial<BarrierCreateOptions> & { name: string }) => {
        if (create.parties === undefined)
          throw invalidArgType(`Cannot create barrier "${name}": pass its parties, as in { create: { parties: 3 } }`)
        return barrierSpec(create.parties, { persistent: create.persistent as boolean }, create.name)
      },
      BARRIER_CREATE_OPTIONS,
    )
  }

  /**
   * Attaches to the barrier a `.handle` describes.
   * @throws {TypeError} `handle` is not a Barrier's handle.
   * @throws {NotFoundError} The barrier no longer exists.
   * @example
   * ```ts
   * const start = Barrier.from(workerData.start)
   * ```
   */
  static from(handle: BarrierHandle | Handle): Barrier {
    return fromHandle(attachableBarrier, BARRIER, handle)
  }

  /** The number of parties a generation needs. */
  get parties(): number {
    return this.#parties
  }

  /**
   * Parties waiting in the current generation now (0 while broken). A
   * snapshot; a waiting party that died breaks the barrier first (looked
   * for at most every 100 ms).
   */
  get nWaiting(): number {
    this.#assertOpen()
    this.#checkPartiesDue()
    return this.#broken() ? 0 : this.#count()
  }

  /**
   * True while the barrier is broken (until `reset()`). A snapshot; a
   * waiting party that died breaks the barrier first (looked for at most
   * every 100 ms).
   */
  get broken(): boolean {
    this.#assertOpen()
    this.#checkPartiesDue()
    return this.#broken()
  }

  /**
   * Waits until `parties` calls have arrived, without blocking the event
   * loop; resolves with this call's index (`0` for the first arrival,
   * `parties - 1` for the last). A timeout or an aborted signal breaks the
   * barrier (every waiter throws `BrokenBarrierError`, as a timeout does in
   * Python); the aborted call itself rejects with `signal.reason`. The
   * timeout also bounds the wait for the barrier's internal lock: a process
   * that keeps it past the timeout (stopped, or corrupt memory) makes the
   * call break the barrier and throw `BrokenBarrierError` all the same.
   * @throws {BrokenBarrierError} The barrier is or became broken, or the timeout passed.
   * @throws {ClosedError} The object was closed (also while waiting).
   * @throws {CorruptError} The barrier's shared memory breaks its layout.
   * @example
   * ```ts
   * const barrier = new Barrier(1)
   * await barrier.wait() // => 0
   * barrier.close()
   * ```
   */
  async wait(options?: WaitOptions): Promise<number> {
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    if (signal?.aborted) throw signal.reason
    this.#assertOpen()
    const deadline = deadlineOf(timeout)
    // acquireThen arrives in the step that takes the lock: an abort or a close() of this thread lands
    // before the take (the call rejects, nothing changed) or after the arrival, never in between.
    const arrived = this.#lock.tryAcquire()
      ? this.#arriveLocked()
      : await this.#lock.acquireThen({ signal, timeout: lockTimeout(deadline) }, () => this.#arriveLocked(), undefined)
    // A live holder kept the lock past the deadline: break the barrier without it.
    if (arrived === undefined) throw this.#lockedOut()
    if (arrived.entry < 0) return arrived.index
    let fate: Fate | typeof TIMED_OUT
    try {
      fate = await this.#events.wait(this.#attemptOf(arrived.entry), this.#rules(deadline, signal))
    } catch (error) {
      if (this.closed) throw error
      // Aborted (or failed): break the barrier unless the generation was released meanwhile.
      if ((await this.#giveUp(arrived.entry)) !== RELEASED) throw error
      return arrived.index
    }
    if (fate !== TIMED_OUT) return this.#finish(arrived, fate, false)
    return this.#finish(arrived, await this.#giveUp(arrived.entry), true)
  }

  /**
   * `wait()` blocking the thread, for worker threads and scripts. The
   * signal is checked on entry only; a timeout breaks the barrier.
   * @throws {BrokenBarrierError} The barrier is or became broken.
   * @throws {ClosedError} The object was closed.
   * @throws {CorruptError} The barrier's shared memory breaks its layout.
   * @example
   * ```ts
   * const barrier = new Barrier(1)
   * barrier.waitSync() // => 0
   * barrier.close()
   * ```
   */
  waitSync(options?: WaitSyncOptions): number {
    const deadline = deadlineOf(syncTimeoutOf(options, WAIT_OPTIONS))
    this.#assertOpen()
    if (!this.#lock.acquireSync({ timeout: lockTimeout(deadline) })) throw this.#lockedOut()
    const arrived = this.#arriveLocked()
    if (arrived.entry < 0) return arrived.index
    let fate: Fate | typeof TIMED_OUT
    try {
      fate = this.#events.waitSync(this.#attemptOf(arrived.entry), this.#rules(deadline, undefined))
    } catch (error) {
      if (this.closed) throw error
      // Failed (corrupt memory): break the barrier unless the generation was released meanwhile.
      if (this.#giveUpSync(arrived.entry) !== RELEASED) throw error
      return arrived.index
    }
    if (fate !== TIMED_OUT) return this.#finish(arrived, fate, false)
    return this.#finish(arrived, this.#giveUpSync(arrived.entry), true)
  }

  /** The end of a wait that arrived and slept (its entry freed already when `timedOut`): its index, or BrokenBarrierError. */
  #finish(arrived: { index: number; entry: number }, fate: Fate, timedOut: boolean): number {
    if (!timedOut) this.#free(arrived.entry)
    if (fate === RELEASED) return arrived.index
    throw new BrokenBarrierError(
      timedOut
        ? `Cannot pass ${this.#label}: the timeout passed before ${this.#parties} parties arrived, so it broke the barrier`
        : `Cannot pass ${this.#label}: it was broken while this call waited`,
    )
  }

  /**
   * A wait that gives up (timeout, abort, failure) after it arrived: takes
   * the lock within LOCK_SLICE_MS and gives up holding it, else without it.
   * Returns the entry's fate (the entry is freed).
   */
  async #giveUp(entry: number): Promise<Fate> {
    if (this.#lock.tryAcquire()) return this.#giveUpLocked(entry)
    // acquireThen runs the give-up in the step that takes the lock: no other task of this thread (a
    // close(), another call of this object) runs while this object holds it.
    const fate = await this.#lock.acquireThen({ timeout: LOCK_SLICE_MS }, () => this.#giveUpLocked(entry), undefined)
    return fate ?? this.#giveUpUnlocked(entry)
  }

  /** `#giveUp` blocking the thread (at most LOCK_SLICE_MS for the lock). */
  #giveUpSync(entry: number): Fate {
    if (this.#lock.acquireSync({ timeout: LOCK_SLICE_MS })) return this.#giveUpLocked(entry)
    return this.#giveUpUnlocked(entry)
  }

  /**
   * A wait that gives up while a live holder keeps the lock (a stopped
   * process, or a scribbled lock word): CAS its own entry PENDING → BROKEN,
   * then BROKEN = 1 and wake all, without the lock. The other waiters read
   * BROKEN = 1 beside their PENDING entry as their break (`#attemptOf`);
   * holders CAS PENDING entries, so none overwrites this fate. Returns the
   * entry's fate (a release or break that came first wins) and frees it.
   */
  #giveUpUnlocked(entry: number): Fate {
    const state = Atomics.compareExchange(this.#i32, this.#at(entry, BE_STATE), PENDING, BROKEN)
    if (state === PENDING) this.#breakUnlocked()
    else if (state !== RELEASED && state !== BROKEN)
      throw this.#corrupt(`waiter entry ${entry} has state ${state} while its waiter waited`)
    this.#free(entry)
    return state === RELEASED ? RELEASED : BROKEN
  }

  /**
   * A call that could not take the lock before its deadline (a live holder
   * keeps it): it has not arrived; it breaks the barrier without the lock
   * (BROKEN = 1, wake all; see `#giveUpUnlocked`), as a timeout does.
   */
  #lockedOut(): BrokenBarrierError {
    this.#breakUnlocked()
    return new BrokenBarrierError(
      `Cannot pass ${this.#label}: the timeout passed while ${this.#holderText()} held its lock, so it broke the barrier`,
    )
  }

  /**
   * The break of a call that gives up without the lock: BROKEN = 1, then
   * wake all. Waiters whose entry is still PENDING take it as their break
   * (`#attemptOf`); see the file comment for the races it allows.
   */
  #breakUnlocked(): void {
    Atomics.store(this.#i32, this.#base + B_BROKEN, 1)
    this.#events.notify()
  }

  /** Who holds the lock, for messages. */
  #holderText(): string {
    try {
      const owner = this.#lock.owner
      return owner === undefined ? 'another party' : `process ${owner.pid} (slot ${owner.slot})`
    } catch {
      return 'another party'
    }
  }

  /**
   * Holding the lock: arrives. Returns the index and, when this call must
   * wait, its entry (-1 when it released the generation). Releases the lock.
   */
  #arriveLocked(): { index: number; entry: number } {
    let locked = true
    try {
      this.#repairLocked()
      if (this.#broken()) throw new BrokenBarrierError(`Cannot pass ${this.#label}: it is broken (reset() mends it)`)
      const index = this.#count()
      if (index + 1 === this.#parties) {
        // The waiters look for dead parties only after a sleep slice: the release must look too, or a
        // party that died waiting (with nobody else waiting to notice) would be passed as arrived.
        // At most every PEER_CHECK_MS per object, as everywhere: a look costs a liveness syscall per
        // waiting party, and a release every few microseconds must not pay it each time.
        if (this.#deadPartyDueLocked()) {
          locked = false
          this.#breakLocked()
          throw new BrokenBarrierError(`Cannot pass ${this.#label}: a waiting party died, so it broke the barrier`)
        }
        this.#endLocked(RELEASED)
        Atomics.add(this.#i32, this.#base + B_GENERATION, 1)
        this.#lock.release()
        locked = false
        this.#events.notify()
        return { index, entry: -1 }
      }
      const entry = this.#enterLocked()
      Atomics.store(this.#i32, this.#base + B_COUNT, index + 1)
      return { index, entry }
    } finally {
      if (locked) this.#lock.release()
    }
  }

  /** Holding the lock: a PENDING entry of this call in the current generation. */
  #enterLocked(): number {
    let entry = this.#findFree()
    if (entry < 0) {
      this.#sweepLocked()
      entry = this.#findFree()
    }
    if (entry < 0)
      throw new IpcError(
        `Cannot wait on ${this.#label}: ${this.#capacity} calls wait on it already, the most it holds (2 × parties + 8)`,
      )
    const i32 = this.#i32
    Atomics.store(i32, this.#at(entry, BE_GEN), Atomics.load(i32, this.#base + B_GENERATION))
    Atomics.store(i32, this.#at(entry, BE_SLOT), this.attachment.segment.slot)
    Atomics.store(i32, this.#at(entry, BE_TID), this.#tid)
    Atomics.store(i32, this.#at(entry, BE_STATE), PENDING)
    this.#mine.add(entry)
    return entry
  }

  #anyPending(): boolean {
    for (let entry = 0; entry < this.#capacity; entry++) if (this.#state(entry) === PENDING) return true
    return false
  }

  #findFree(): number {
    for (let entry = 0; entry < this.#capacity; entry++) if (this.#state(entry) === FREE) return entry
    return -1
  }

  /** Holding the lock, on a full table: frees the fates nobody will read (their waiters died). */
  #sweepLocked(): void {
    for (let entry = 0; entry < this.#capacity; entry++) {
      const state = this.#state(entry)
      if ((state === RELEASED || state === BROKEN) && !this.#alive(entry, true))
        Atomics.store(this.#i32, this.#at(entry, BE_STATE), FREE)
    }
  }

  /**
   * Holding the lock: writes `fate` into every PENDING entry (the current
   * generation's waiters) and empties the generation. The caller then bumps
   * EVENT (after releasing the lock is fine: the fates are stored).
   */
  #endLocked(fate: Fate): void {
    // CAS: a waiter giving up without the lock may turn its own PENDING entry BROKEN meanwhile.
    for (let entry = 0; entry < this.#capacity; entry++)
      if (this.#state(entry) === PENDING) Atomics.compareExchange(this.#i32, this.#at(entry, BE_STATE), PENDING, fate)
    Atomics.store(this.#i32, this.#base + B_COUNT, 0)
  }

  /** Holding the lock: breaks the barrier (fates BROKEN, BROKEN = 1), releases the lock and wakes everyone. */
  #breakLocked(): void {
    try {
      this.#endLocked(BROKEN)
      Atomics.store(this.#i32, this.#base + B_BROKEN, 1)
    } finally {
      this.#lock.release()
    }
    this.#events.notify()
  }

  /**
   * Holding the lock: a wait that gave up (timeout, abort). Its entry still
   * PENDING breaks the barrier; returns the entry's fate and frees it.
   * Releases the lock.
   */
  #giveUpLocked(entry: number): Fate {
    let state: number
    try {
      this.#repairLocked()
      state = this.#state(entry)
    } catch (error) {
      this.#lock.release()
      throw error
    }
    if (state === PENDING) this.#breakLocked()
    else this.#lock.release()
    this.#free(entry)
    return state === RELEASED ? RELEASED : BROKEN
  }

  /**
   * Holding the lock: a lock taken over from a dead holder (half-way through
   * a release, maybe) breaks the barrier, unless nobody waits (COUNT 0 and no
   * PENDING entry): then the dead holder either finished releasing a
   * generation (killed before its unlock) or had not arrived yet, and
   * breaking would only fail the next generation for nothing.
   */
  #repairLocked(): void {
    if (!this.#lock.previousOwnerDied) return
    if (this.#count() === 0 && !this.#anyPending()) return
    this.#endLocked(BROKEN)
    Atomics.store(this.#i32, this.#base + B_BROKEN, 1)
    this.#events.notify()
  }

  /** This call read its fate: its entry is free again (a plain store; nobody else writes a non-PENDING entry). */
  #free(entry: number): void {
    if (this.attachment.segment.closed) return
    Atomics.store(this.#i32, this.#at(entry, BE_STATE), FREE)
    this.#mine.delete(entry)
  }

  /**
   * The check of a waiting call, at each wake-up and slice: its entry's
   * fate, else NOT_YET. While PENDING it also range-checks COUNT and BROKEN
   * (CorruptError), and BROKEN = 1 is a break made without the lock
   * (`#giveUpUnlocked`; a break under the lock marks the entries first):
   * it takes BROKEN for its entry by CAS.
   */
  #attemptOf(entry: number): () => Fate | typeof NOT_YET {
    return () => {
      let state = this.#state(entry)
      if (state === PENDING) {
        this.#count()
        if (!this.#broken()) return NOT_YET
        state = Atomics.compareExchange(this.#i32, this.#at(entry, BE_STATE), PENDING, BROKEN)
        if (state === PENDING) return BROKEN
      }
      if (state === RELEASED || state === BROKEN) return state
      throw this.#corrupt(`waiter entry ${entry} has state ${state} while its waiter waited`)
    }
  }

  #rules(deadline: number, signal: AbortSignal | undefined): WaitRules {
    return { deadline, signal, sliceMs: PEER_CHECK_MS, onSlice: this.#checkParties, label: this.#label }
  }

  /**
   * After a sleep slice (and from the getters): takes the lock if it is free
   * now (taking it over from a dead holder, which breaks the barrier), and
   * breaks the barrier if a waiting party's object is no longer attached.
   * Busy lock: next time.
   */
  readonly #checkParties = (): void => {
    if (!this.#lock.tryAcquire()) return
    // Stamped only for a look that runs: a busy lock must not hold off the release's look.
    this.#looks.stamp()
    let dead: boolean
    try {
      this.#repairLocked()
      dead = this.#deadPartyLocked()
    } catch (error) {
      this.#lock.release()
      throw error
    }
    if (dead) this.#breakLocked()
    else this.#lock.release()
  }

  /**
   * `#checkParties` unless this object ran it less than PEER_CHECK_MS ago:
   * a getter read in a loop costs a clock read, not the lock and a liveness
   * syscall per waiting party.
   */
  #checkPartiesDue(): void {
    if (this.#looks.due()) this.#checkParties()
  }

  /** Holding the lock: `#deadPartyLocked` unless this object looked less than PEER_CHECK_MS ago. */
  #deadPartyDueLocked(): boolean {
    return this.#looks.claim() && this.#deadPartyLocked()
  }

  /**
   * Holding the lock: true when a PENDING entry's object is no longer
   * attached (`attachmentAlive`: SIGKILL, ended thread, closed). The one
   * dead-party rule: sleep slices, getters and the release use it.
   */
  #deadPartyLocked(): boolean {
    for (let entry = 0; entry < this.#capacity; entry++)
      if (this.#state(entry) === PENDING && !this.#alive(entry, true)) return true
    return false
  }

  /**
   * Breaks the barrier: every waiting call throws `BrokenBarrierError`, and
   * so does every later `wait()` until `reset()` (Python's `abort()`).
   * Blocks the thread for the barrier's internal lock, at most 2 s.
   * @throws {ClosedError} The object was closed.
   * @throws {TimeoutError} A live process kept the barrier's internal lock 2 s (stopped, or corrupt memory).
   * @example
   * ```ts
   * const barrier = new Barrier(2)
   * barrier.abort()
   * barrier.broken // => true
   * barrier.close()
   * ```
   */
  abort(): void {
    this.#assertOpen()
    this.#acquireBounded('abort')
    try {
      this.#repairLocked()
    } catch (error) {
      this.#lock.release()
      throw error
    }
    this.#breakLocked()
  }

  /**
   * Returns the barrier to its first state: calls waiting now throw
   * `BrokenBarrierError`, and later calls start a fresh generation (also
   * after `abort()` or a break). Python's `reset()`. Blocks the thread for
   * the barrier's internal lock, at most 2 s.
   * @throws {ClosedError} The object was closed.
   * @throws {TimeoutError} A live process kept the barrier's internal lock 2 s (stopped, or corrupt memory).
   * @example
   * ```ts
   * const barrier = new Barrier(2)
   * barrier.abort()
   * barrier.reset()
   * barrier.broken // => false
   * barrier.close()
   * ```
   */
  reset(): void {
    this.#assertOpen()
    this.#acquireBounded('reset')
    try {
      this.#repairLocked()
      this.#endLocked(BROKEN)
      Atomics.store(this.#i32, this.#base + B_BROKEN, 0)
      Atomics.add(this.#i32, this.#base + B_GENERATION, 1)
    } finally {
      this.#lock.release()
    }
    this.#events.notify()
  }

  /**
   * Takes the lock for a call without a timeout (abort, reset), blocking
   * the thread at most TAG_STALL_MS: the bound of @ipc on a live object that
   * keeps a short section busy (a stopped process, a scribbled lock word).
   * @throws {TimeoutError} The lock stayed held that long.
   */
  #acquireBounded(call: string): void {
    if (this.#lock.acquireSync({ timeout: TAG_STALL_MS })) return
    throw new TimeoutError(
      `Cannot ${call} ${this.#label}: ${this.#holderText()} has held its lock for ${TAG_STALL_MS} ms without releasing it`,
    )
  }

  /** Word index of word `word` of entry `entry`. */
  #at(entry: number, word: number): number {
    return this.#base + B_ENTRIES + entry * B_ENTRY_WORDS + word
  }

  #state(entry: number): number {
    const state = Atomics.load(this.#i32, this.#at(entry, BE_STATE))
    if (!(state >= FREE && state <= BROKEN)) throw this.#corrupt(`waiter entry ${entry} has state ${state}`)
    return state
  }

  #count(): number {
    const count = Atomics.load(this.#i32, this.#base + B_COUNT)
    if (!(count >= 0 && count < this.#parties))
      throw this.#corrupt(`${count} parties are waiting, outside 0 to ${this.#parties - 1}`)
    return count
  }

  #broken(): boolean {
    const broken = Atomics.load(this.#i32, this.#base + B_BROKEN)
    if (broken !== 0 && broken !== 1) throw this.#corrupt(`its broken word is ${broken}`)
    return broken === 1
  }

  /** Whether the object that made `entry` is still attached (slot, thread; `thorough`: process and thread exist). */
  #alive(entry: number, thorough: boolean): boolean {
    const slot = Atomics.load(this.#i32, this.#at(entry, BE_SLOT))
    const tid = Atomics.load(this.#i32, this.#at(entry, BE_TID))
    return attachmentAlive(this.attachment.segment, slot, thorough, tid)
  }

  #corrupt(what: string): CorruptError {
    return new CorruptError(`Cannot use ${this.#label}: its shared memory is corrupt (${what})`)
  }

  #assertOpen(): void {
    this.attachment.segment.assertOpen(this.#label)
  }

  /**
   * Detaches this object (idempotent). A wait of this object in progress
   * rejects with `ClosedError` and breaks the barrier for the other parties
   * (a party that left). The barrier is removed when its last object closes
   * or its last process dies, unless it is persistent. Corrupt shared memory
   * does not make it throw.
   * @example
   * ```ts
   * const barrier = new Barrier(2)
   * barrier.close()
   * barrier.closed // => true
   * ```
   */
  override close(): void {
    super.close()
  }

  /**
   * Run once by `close()`: a party that leaves while waiting breaks the
   * barrier; its entries are freed. An entry still PENDING because the lock
   * could not be had within a second is left: once this slot is free, the
   * other waiters' dead-party check finds it and breaks the barrier. A
   * corrupt word that stops the break under the lock (another entry's state,
   * the lock word) makes it break without the lock, as a wait that gives up
   * does (`#giveUpUnlocked`): its entries turn BROKEN and are freed.
   */
  protected override detach(): void {
    if (this.#mine.size === 0) return
    const pending = () =>
      [...this.#mine].some((entry) => Atomics.load(this.#i32, this.#at(entry, BE_STATE)) === PENDING)
    try {
      if (pending() && this.#lock.acquireSync({ timeout: 1000 })) {
        try {
          // A dead holder taken over: repaired first, as on every other path that takes the lock.
          this.#repairLocked()
        } catch (error) {
          this.#lock.release()
          throw error
        }
        if (pending()) this.#breakLocked()
        else this.#lock.release()
      }
    } catch (error) {
      if (!(error instanceof CorruptError)) throw error
      let left = false
      for (const entry of this.#mine)
        if (Atomics.compareExchange(this.#i32, this.#at(entry, BE_STATE), PENDING, BROKEN) === PENDING) left = true
      if (left) this.#breakUnlocked()
    } finally {
      for (const entry of this.#mine)
        if (Atomics.load(this.#i32, this.#at(entry, BE_STATE)) !== PENDING)
          Atomics.store(this.#i32, this.#at(entry, BE_STATE), FREE)
      this.#mine.clear()
    }
  }

  protected override closedFields(): Record<string, unknown> {
    return { parties: this.#parties }
  }

  protected inspectFields(): Record<string, unknown> {
    const broken = this.#broken()
    return { parties: this.#parties, nWaiting: broken ? 0 : this.#count(), broken }
  }
}

/**
 * A Barrier for Primitive's `attachTo` (which supplies the attachment; no
 * creation argument is read). Outside the class body, so that the bundler
 * keeps the class's name (Barrier, not _Barrier).
 */
function attachableBarrier(): Barrier {
  return new Barrier(1)
}
