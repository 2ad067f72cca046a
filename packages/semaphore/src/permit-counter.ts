/**
 * The shared-memory protocol behind Semaphore and BoundedSemaphore: a
 * counting semaphore in one segment (see layout.ts for the words), used by one
 * attached object (one segment slot). Everything here is synchronous; the
 * classes build sync and async waiting on top of it.
 *
 * Taking and giving (no kernel call when nobody sleeps):
 * - take: if STATE (the value we last saw, else a fresh load) has no tag,
 *   count > 0 and (no HANDOFF, or we are the oldest waiter): JOURNAL = held
 *   + 1; CAS STATE (count - 1, our tag); HELD = held + 1; store STATE without
 *   the tag. JOURNAL, HELD and the untagging store are plain stores (see
 *   tryTake). Uncontended, that is one CAS.
 * - give(n): CAS STATE count + n (tagged the same way when we hold permits,
 *   so HELD goes down with it); then, only if SLEEPERS > 0, wake the oldest.
 *
 * Waiting (the slow path) runs on @ipc/core's one wait loop, an EventCount
 * per slot with a claimed share (see event-count.ts): event = the slot's
 * WAKE, share = its SLEEP flag, waiters = SLEEPERS.
 * - A waiting object takes a ticket (NEXT_TICKET fetch-add) into its TICKET
 *   word and counts itself in WAITERS, then runs the loop: read WAKE, set
 *   SLEEP = 1 (SLEEPERS + 1), try to take, and if that fails sleep on WAKE
 *   for at most PEER_CHECK_MS. It does not spin first: measured, a spinning
 *   loser steals the permit back and forth and bounces the cache line;
 *   sleeping lets the holder run alone.
 * - After a wasted wake-up (woken, but a barging taker was first) its next
 *   sleep is a nap of `backOffMs` (doubling to `maxBackOffMs`, see WaitPolicy)
 *   with SLEEP = 0, where no giver wakes it: else a busy holder would pay a
 *   futex syscall on every release. Not under HANDOFF: the oldest waiter must
 *   stay wakeable.
 * - A giver wakes the waiter with the smallest ticket: the notify of that
 *   slot's EventCount CASes its SLEEP 1 → 0 and only on success bumps WAKE
 *   and makes the syscall (a waiter that is awake will try again before it
 *   sleeps, so it needs no syscall). Ordering: the giver CASes STATE then
 *   reads SLEEPERS and SLEEP; the waiter sets SLEEP and SLEEPERS, then reads
 *   STATE (all seq-cst), so one of them sees the other: no lost wake-up. The
 *   waiter reads WAKE before all that and sleeps only while WAKE still holds
 *   that value, so a wake between its try and its sleep counts.
 * - A tag still set after the spins (its owner descheduled or dead): the
 *   waiter looks once without sleeping (`SlotTagWatch.awaitUntag` in poll mode: range check,
 *   a dead owner reaped after TAG_LIVENESS_MS, TimeoutError after
 *   TAG_STALL_MS) and its next sleep is `busyPollMs` long: nobody notifies the
 *   untagging (the fast path pays no wake for it).
 * - Fairness: anyone may take a free permit (barging, as Python's and Go's
 *   locks do: much faster under contention) until a waiter has waited
 *   STARVE_MS. That waiter sets HANDOFF, and from then on only the oldest
 *   waiter may take; newcomers queue behind it. The waiter that takes clears
 *   HANDOFF when it waited less than STARVE_MS or was the last one (Go's
 *   sync.Mutex starvation mode).
 * - Oldest: the smallest ticket by wrapping difference (ties by slot), which
 *   real tickets always have. Scribbled tickets can make a cycle with no
 *   smallest; then the age `(NEXT_TICKET - ticket) >>> 0` decides, with
 *   NEXT_TICKET read after the tickets: a total order (see oldestIn). The
 *   common case reads no header word, so releases stay as cheap as before.
 * - A reservation is bounded: a waiter that sees a free permit reserved under
 *   HANDOFF for the same older ticket for HANDOFF_GRACE_MS (= PEER_CHECK_MS)
 *   skips that ticket from then on (its owner is stopped, e.g. SIGSTOP, or in
 *   another PID namespace, or the ticket is a scribble), and clears HANDOFF
 *   when it leaves and only skipped tickets remain. A live, running oldest
 *   waiter is woken by the giver and takes within microseconds, so it keeps
 *   its turn. Cost of a stopped or scribbled ticket: each waiting object
 *   loses at most one look interval (PEER_CHECK_MS, to notice the free
 *   permit) plus HANDOFF_GRACE_MS, once per such ticket; `tryAcquire` of a
 *   non-waiting object returns false while HANDOFF stays set.
 * - Crashes: reap() calls `reapSlot` once for each slot whose process died,
 *   which finishes the dead object's tagged operation, drops its ticket and
 *   gives back its HELD. Whoever finds no permit for it looks (`reapIfDue`):
 *   a waiter's attempt, tryOnce (`tryAcquire`, timeout 0) and `freeNow`
 *   (`.value` at 0), at most every LOOK_EVERY_MS per object, so a tight
 *   `tryAcquire` loop pays no syscall per call and a take that succeeds none
 *   at all. Waiters wake at least every PEER_CHECK_MS (the kernel's one
 *   dead-peer policy), so they look that often; a caller that does not wait
 *   looks on its own call: a dead holder's permits, and a dead waiter's
 *   ticket that HANDOFF reserved a free permit for, are found by the first
 *   call that would otherwise report "no permit".
 *
 * Range checks (any same-user process can scribble on these words). Each word
 * is checked where it is decoded, and a violation throws CorruptError and
 * makes this attachment refuse every later call (`fault`); `close()` works:
 * - At attach (`#checkLayout`): BOUND 0..MAX_VALUE; FLAGS only RECLAIM;
 *   MAX_SLOT 0..SLOT_COUNT; reserved header words 0; STATE's tag 0..SLOT_COUNT
 *   and count <= BOUND (when bounded); each slot's HELD 0..MAX_VALUE and SLEEP
 *   0 or 1.
 * - A tagged STATE (`#checkTag`, on the slow path only): the tag must be
 *   1..SLOT_COUNT and not our own (we never leave ours set outside a call).
 *   A tag that stays past TAG_LIVENESS_MS must name an attached slot: a dead
 *   owner is reaped, a free one is corruption (`#checkOwner`).
 * - Waiting for a tag to go (`awaitUntag`, core's slot-tag.ts) ends at the caller's deadline, and
 *   throws TimeoutError once the same owner's tag has stayed TAG_STALL_MS
 *   (a live object that never finishes, or a scribbler changing the value
 *   under its tag): never a hang. give() and reapSlot bound all the tag
 *   waits of one call by TAG_STALL_MS together (tags passed from owner to
 *   owner cannot stretch it); in poll mode give() looks once per call.
 * - give: a count above BOUND (checked only when the give would pass it).
 * - MAX_SLOT, wherever a scan reads it (`scanLimitIn`): 0..SLOT_COUNT.
 * - Our own SLEEP, after every failed try of a wait: 0 or 1 (a corrupt one
 *   keeps the flag CASes from matching, so the wait ends at its next look).
 * - reapSlot: JOURNAL and HELD of the dead slot 0..MAX_VALUE, BOUND again.
 * - Every look for dead objects (`reap`, see "Crashes"): a TICKET set in a slot no object
 *   holds (close and reapSlot clear it first). A waiter may skip it first
 *   (see "A reservation is bounded"): either way no wait hangs on it.
 * - Hints where every value is safe, so nothing to check: WAITERS (only
 *   decides whether to clear HANDOFF or pass a wake-up on), SLEEPERS (> 0
 *   makes a giver scan; a wrong value costs a scan or a wake-up late by at
 *   most PEER_CHECK_MS), NEXT_TICKET and a held slot's TICKET (ordered by
 *   age, a total order; a ticket that sits on a free permit is skipped after
 *   HANDOFF_GRACE_MS), WAKE (a futex word), HANDOFF (cleared by the next
 *   leaver).
 * The uncontended take and give check nothing more than before: a tagged
 * STATE already sent them to the slow path.
 */
import { CorruptError, TimeoutError } from '@ipc/core'
import {
  EventCount,
  LookCadence,
  NOT_YET,
  type NotYet,
  PEER_CHECK_MS,
  type Segment,
  SLOT_COUNT,
  SlotTagWatch,
  TAG_SPINS,
  TAG_STALL_MS,
  type WaitRules,
} from '@ipc/core/internal'
import {
  COUNT_SHIFT,
  countOf,
  FLAG_RECLAIM,
  HANDOFF,
  HEADER_WORDS,
  headerIndex,
  MAX_VALUE,
  ONE,
  S_HELD,
  S_JOURNAL,
  S_SLEEP,
  S_TICKET,
  S_WAKE,
  SLOT_WORDS,
  slotIndex,
  TAG_MASK,
  W_BOUND,
  W_FLAGS,
  W_MAX_SLOT,
  W_NEXT_TICKET,
  W_SLEEPERS,
  W_STATE,
  W_WAITERS,
} from './layout.js'

/** A waiter that has waited this long switches the semaphore to strict FIFO handoff. */
const STARVE_MS = 2
/**
 * How long a waiter lets a free permit stay reserved under HANDOFF for the
 * same older ticket before it skips that ticket (its owner is stopped, or the
 * ticket is a scribble): the kernel's dead-peer period.
 */
export const HANDOFF_GRACE_MS = PEER_CHECK_MS
/**
 * The shortest time between two looks for dead objects (reap) by one object.
 * Half the dead-peer period: an async waiter's ticks come PEER_CHECK_MS / 2
 * to PEER_CHECK_MS apart (a shared grid), and each must look.
 */
export const LOOK_EVERY_MS = PEER_CHECK_MS / 2

/**
 * How a semaphore's waiters sleep: the parameters of their EventCount waits,
 * one set per runner. Dead holders are looked for at the kernel's
 * PEER_CHECK_MS whatever these say; they only tune fairness and tag polling.
 */
export interface WaitPolicy {
  /** The sleep between two looks at a STATE that another object keeps tagged (its untagging notifies nobody), ms. */
  readonly busyPollMs: number
  /** The first nap after a wasted wake-up (see WaitRules.backOff), ms; doubled after each nap of the call. */
  readonly backOffMs: number
  /** The longest such nap, ms. */
  readonly maxBackOffMs: number
  /** The async runner never reaps while a tag is set: a reap waits for the tag, which would block the event loop. */
  readonly async: boolean
}

/** `acquireSync`: measured, naps of 50 µs to 0.4 ms keep contended throughput up without starving anyone. */
export const SYNC_WAIT: WaitPolicy = { busyPollMs: 0.05, backOffMs: 0.05, maxBackOffMs: 0.4, async: false }
/** `acquire`: the same steps, rounded to the 1 ms that a timer-driven wake-up costs anyway. */
export const ASYNC_WAIT: WaitPolicy = { busyPollMs: 1, backOffMs: 1, maxBackOffMs: 1, async: true }
/**
 * What the scans, wakes and reaps below need of an attachment: its
 * corruption report, the wait-out of STATE's tag (core's slot-tag rules,
 * see slot-tag.ts), and the EventCounts of other slots.
 */
interface TagWatcher {
  corrupt(detail: string): CorruptError
  readonly tags: SlotTagWatch
  /** The EventCount of `slot`'s waiters (its WAKE word and SLEEP flag): what a giver notifies. */
  slotEvents(slot: number): EventCount
}

/** STATE's slot-tag watch for an attachment with tag `ownTag` (0: none yet), reporting corruption through `corrupt`. */
function stateTags(segment: Segment, ownTag: number, label: string, corrupt: TagWatcher['corrupt']): SlotTagWatch {
  return new SlotTagWatch(segment, headerIndex(segment.dataOffset, W_STATE), TAG_MASK, ownTag, 'STATE', {
    corrupt,
    stall: (slot) =>
      new TimeoutError(
        `Cannot use the ${label} "${segment.name}": the object in slot ${slot} (process ${segment.slotOwner(slot)?.pid}) kept its state word busy for ${TAG_STALL_MS} ms`,
      ),
  })
}

/** The EventCount of the waiters of `slot` in a semaphore segment (see "Waiting" above). */
function eventsOfSlot(segment: Segment, slot: number): EventCount {
  const base = segment.dataOffset
  return new EventCount(segment, segment.i32, slotIndex(base, slot, S_WAKE), headerIndex(base, W_SLEEPERS), {
    shares: { base: slotIndex(base, 0, S_SLEEP), slot, stride: SLOT_WORDS, claim: true },
  })
}

/** A wait of one object for a permit: what its EventCount runs (see PermitCounter#waitFor). */
export interface PermitWait {
  readonly attempt: () => true | NotYet
  readonly rules: WaitRules
  onTaken: (() => void) | undefined
}

/** Counters by segment, so that reapSlot (called by @ipc/core) reports corruption to the right attachment. */
const counters = new WeakMap<Segment, PermitCounter>()

/** The result of one attempt to take a permit. */
export const TAKEN = 0
/** No permit is free for us (count 0, or HANDOFF and we are not the oldest waiter). */
const NONE = 1
/** Another object is in the middle of an operation (a tag is set); try again soon. */
export const BUSY = 2
type Attempt = typeof TAKEN | typeof NONE | typeof BUSY

/** One attached object's view of a semaphore segment. */
export class PermitCounter implements TagWatcher {
  readonly segment: Segment
  readonly i32: Int32Array
  readonly slot: number
  /** The largest value a release may reach (0 = MAX_VALUE). */
  readonly bound: number
  /** Permits this object holds: a copy of its HELD word, which only it writes while it lives. */
  held = 0
  /** This object's ticket while it waits, else 0. */
  ticket = 0
  /** performance.now() when the ticket was taken. */
  waitingSince = 0
  /** The last STATE value this object saw or wrote: the expected value of its next CAS. */
  #seen = 0
  /** How many waiting loops (sync and async) share the ticket. */
  #registrations = 0
  /** The first corruption found; every later call throws it. */
  fault: CorruptError | undefined
  /** Called once, when the first corruption is found (the owning object stops being usable). */
  onFault: () => void = () => {}
  /** STATE's slot tag, as this object waits it out. */
  readonly tags: SlotTagWatch
  readonly #label: string
  /** Names the semaphore in "closed while the call waited". */
  readonly #waitLabel: string
  readonly #tag: number
  readonly #state: number
  readonly #waiters: number
  readonly #nextTicket: number
  readonly #maxSlot: number
  readonly #sleepers: number
  readonly #heldIndex: number
  readonly #journal: number
  readonly #ticketIndex: number
  /** Index of this slot's SLEEP word. */
  readonly #sleepIndex: number
  /** This slot's waiters: the one wait loop of @ipc/core, on WAKE and SLEEP. */
  readonly events: EventCount
  /** Other slots' EventCounts, made on first wake. */
  readonly #slotEvents: (EventCount | undefined)[] = []
  readonly #base: number

  constructor(segment: Segment, label: string) {
    this.segment = segment
    this.#label = label
    this.#waitLabel = `the ${label} "${segment.name}"`
    this.i32 = segment.i32
    this.slot = segment.slot
    const offset = segment.dataOffset
    this.#base = offset
    this.#tag = segment.slot + 1
    this.tags = stateTags(segment, this.#tag, label, (detail) => this.corrupt(detail))
    this.#state = headerIndex(offset, W_STATE)
    this.#waiters = headerIndex(offset, W_WAITERS)
    this.#nextTicket = headerIndex(offset, W_NEXT_TICKET)
    this.#maxSlot = headerIndex(offset, W_MAX_SLOT)
    this.#sleepers = headerIndex(offset, W_SLEEPERS)
    this.#heldIndex = slotIndex(offset, segment.slot, S_HELD)
    this.#journal = slotIndex(offset, segment.slot, S_JOURNAL)
    this.#ticketIndex = slotIndex(offset, segment.slot, S_TICKET)
    this.#sleepIndex = slotIndex(offset, segment.slot, S_SLEEP)
    this.events = eventsOfSlot(segment, segment.slot)
    this.bound = Atomics.load(this.i32, headerIndex(offset, W_BOUND))
    this.#checkLayout()
    counters.set(segment, this)
    // Let scans reach this slot.
    for (;;) {
      const max = Atomics.load(this.i32, this.#maxSlot)
      if (max > segment.slot || Atomics.compareExchange(this.i32, this.#maxSlot, max, segment.slot + 1) === max) break
    }
    // A slot is reused only after it was freed, and freeing it gave its
    // permits back and left the line: close(), or reapSlot (the segment's
    // onReap, which @ipc/core runs for every dead slot it frees, also when a
    // full table makes Segment.open take over a dead slot).
  }

  /**
   * Records a layout violation and returns the CorruptError to throw; every
   * later call of this attachment throws the first one.
   */
  corrupt(detail: string): CorruptError {
    const error = new CorruptError(
      `Cannot use the ${this.#label} "${this.segment.name}": its shared memory is corrupt (${detail})`,
    )
    if (this.fault === undefined) {
      this.fault = error
      this.onFault()
    }
    return error
  }

  /** Checks every header and slot word once, at attach (see "Range checks" above). */
  #checkLayout(): void {
    const i32 = this.i32
    const base = this.#base
    const bound = this.bound
    if (bound < 0 || bound > MAX_VALUE) throw this.corrupt(`BOUND is ${bound}, not 0..${MAX_VALUE}`)
    const flags = Atomics.load(i32, headerIndex(base, W_FLAGS))
    if ((flags & ~FLAG_RECLAIM) !== 0) throw this.corrupt(`FLAGS ${flags} has unknown bits`)
    scanLimitIn(i32, base, this)
    for (let w = W_SLEEPERS + 1; w < HEADER_WORDS; w++)
      if (Atomics.load(i32, headerIndex(base, w)) !== 0) throw this.corrupt(`reserved header word ${w} is not 0`)
    const state = Atomics.load(i32, this.#state)
    if ((state & TAG_MASK) > SLOT_COUNT) throw this.corrupt(`STATE has tag ${state & TAG_MASK}, above ${SLOT_COUNT}`)
    if (bound !== 0 && countOf(state) > bound)
      throw this.corrupt(`STATE has count ${countOf(state)}, above BOUND ${bound}`)
    for (let s = 0; s < SLOT_COUNT; s++) {
      const held = Atomics.load(i32, slotIndex(base, s, S_HELD))
      if (held < 0 || held > MAX_VALUE) throw this.corrupt(`slot ${s} has HELD ${held}, not 0..${MAX_VALUE}`)
      const sleep = Atomics.load(i32, slotIndex(base, s, S_SLEEP))
      if ((sleep & ~1) !== 0) throw this.corrupt(`slot ${s} has SLEEP ${sleep}, not 0 or 1`)
    }
  }

  /** Permits available now, as STATE says (no look for dead holders: see freeNow). */
  get value(): number {
    return countOf(Atomics.load(this.i32, this.#state))
  }

  /**
   * `.value`: permits available now. At 0 it looks for dead holders first
   * (reapIfDue), so their permits count as free; not once this attachment is
   * corrupt (the count is read, nothing more).
   */
  freeNow(): number {
    const count = this.value
    if (count > 0 || this.fault !== undefined || !this.reapIfDue()) return count
    return this.value
  }

  /** True while the HANDOFF bit is set. */
  get handoff(): boolean {
    return (Atomics.load(this.i32, this.#state) & HANDOFF) !== 0
  }

  /**
   * Tries to take one permit. `asWaiter` is true for an object holding a
   * ticket: under HANDOFF it may take when its ticket is the oldest.
   */
  tryTake(asWaiter: boolean): Attempt {
    const i32 = this.i32
    const index = this.#state
    // Start from the last STATE we saw: when nobody else touched it, the CAS
    // succeeds without a separate load (CAS returns the real value otherwise).
    let state = this.#seen
    let spins = 0
    for (;;) {
      if ((state & TAG_MASK) !== 0 || state >>> COUNT_SHIFT === 0 || (state & HANDOFF) !== 0) {
        state = Atomics.load(i32, index)
        if ((state & TAG_MASK) !== 0) {
          if (++spins < TAG_SPINS) continue
          this.#seen = 0
          // The tag is range-checked by tags.awaitUntag, which every caller runs on BUSY.
          return BUSY
        }
        if (state >>> COUNT_SHIFT === 0 || ((state & HANDOFF) !== 0 && !(asWaiter && this.isOldest()))) {
          this.#seen = state
          return NONE
        }
      }
      const held = this.held + 1
      // JOURNAL first: if we die after the CAS, the reaper finds our tag and
      // sets HELD from it. Plain stores suffice for JOURNAL, HELD and the
      // untagging store: nobody else writes STATE while our tag is in it, other
      // objects only wait for the tag to go, and the reaper reads JOURNAL and
      // HELD only after our process died (its stores all landed by then).
      const seen = this.#commit(state, (state - ONE) | 0, held)
      if (seen !== state) {
        state = seen
        continue
      }
      return TAKEN
    }
  }

  /**
   * Commits a count change of STATE from `state` to `next`, with this
   * object's holding becoming `held`, journaled (see the comment in the take
   * above): JOURNAL, then the tagged CAS, then HELD and the untagged store.
   * Returns what STATE held: `state` when committed, else the value to retry from.
   */
  #commit(state: number, next: number, held: number): number {
    const i32 = this.i32
    i32[this.#journal] = held
    const seen = Atomics.compareExchange(i32, this.#state, state, next | this.#tag)
    if (seen !== state) return seen
    i32[this.#heldIndex] = held
    this.held = held
    i32[this.#state] = next
    this.#seen = next
    return state
  }

  /**
   * Gives `n` permits back (the first `held` of them leave this object's
   * HELD) and wakes that many waiters. Checks `bound` atomically: returns
   * false, changing nothing, when the count would pass it. Waits for
   * another object's tag until `deadline` (performance.now() ms; 0: do not
   * sleep) and returns BUSY after it; `poll`: never sleeps (see SlotTagWatch.awaitUntag).
   *
   * @throws {TimeoutError} A live object kept STATE tagged TAG_STALL_MS.
   * @throws {CorruptError} A word breaks the layout's rules.
   */
  give(n: number, deadline: number, poll = false): Attempt {
    const i32 = this.i32
    const index = this.#state
    const limit = this.bound === 0 ? MAX_VALUE : this.bound
    let state = this.#seen
    /** performance.now() of this call's first tag wait (0: none yet). */
    let waitedSince = 0
    for (;;) {
      if ((state & TAG_MASK) !== 0) {
        state = Atomics.load(i32, index)
        if ((state & TAG_MASK) !== 0) {
          // One bound for the whole call, whatever the owners: tags passed
          // from owner to owner (a scribbler's) cannot stretch it. `poll`: one look.
          if (waitedSince === 0) {
            // A tag lasts nanoseconds: spin before reading the clock (the contended release).
            for (let spins = 0; spins < TAG_SPINS && (state & TAG_MASK) !== 0; spins++) state = Atomics.load(i32, index)
            if ((state & TAG_MASK) === 0) continue
            waitedSince = performance.now()
          } else if (poll) return BUSY
          const stallAt = waitedSince + TAG_STALL_MS
          if (!this.tags.awaitUntag(state, Math.min(deadline, stallAt), poll)) {
            if (poll || deadline < stallAt) return BUSY
            throw this.tags.stallError(state)
          }
          state = Atomics.load(i32, index)
          continue
        }
      }
      if (countOf(state) + n > limit) {
        // Our guess may be stale: decide on the real value.
        const real = Atomics.load(i32, index)
        if (real !== state) {
          state = real
          continue
        }
        return this.#overLimit(state, limit)
      }
      const next = (state + n * ONE) | 0
      const fromHeld = Math.min(n, this.held)
      if (fromHeld === 0) {
        const seen = Atomics.compareExchange(i32, index, state, next)
        if (seen !== state) {
          state = seen
          continue
        }
        this.#seen = next
        break
      }
      const seen = this.#commit(state, next, this.held - fromHeld)
      if (seen !== state) {
        state = seen
        continue
      }
      break
    }
    // Our CAS met STATE untagged: a stall we waited in is over.
    if (waitedSince !== 0) this.tags.untagged()
    // Seq-cst CAS on STATE, then this load; a waiter adds to SLEEPERS, then
    // reads STATE. So either it sees our permits or we see it asleep.
    if (Atomics.load(i32, this.#sleepers) > 0) this.wakeOldest(n)
    return TAKEN
  }

  /** NONE for a give that would pass `limit`; CorruptError when the count is past it already. */
  #overLimit(state: number, limit: number): Attempt {
    if (countOf(state) > limit) throw this.corrupt(`STATE has count ${countOf(state)}, above ${limit}`)
    return NONE
  }

  /**
   * Looks for dead objects (reap) when this object found no permit for it,
   * unless it looked within LOOK_EVERY_MS (by any of its calls) or STATE is
   * tagged: a reap waits for a tag it meets while giving permits back, which
   * would block an async caller's event loop (the next call looks instead).
   * Returns true when it looked. The one place that decides when to reap.
   */
  reapIfDue(): boolean {
    if (this.tagged || !this.#looks.claim()) return false
    this.reap()
    return true
  }

  /** When this object last reaped (reapIfDue). */
  readonly #looks = new LookCadence(LOOK_EVERY_MS)

  /**
   * Frees the slots of dead processes (reapSlot), then checks that every
   * ticket belongs to an attached object: a leftover ticket would make
   * HANDOFF wait for a waiter that never comes. Call through reapIfDue.
   */
  reap(): void {
    const segment = this.segment
    segment.reap()
    const i32 = this.i32
    const max = scanLimitIn(i32, this.#base, this)
    const suspects = new Map<number, number>()
    for (let s = 0; s < max; s++) {
      const index = slotIndex(this.#base, s, S_TICKET)
      const ticket = Atomics.load(i32, index)
      // Re-read after the liveness check: a closing object clears its ticket before it frees its slot.
      if (ticket === 0 || segment.slotAlive(s) || Atomics.load(i32, index) !== ticket) continue
      // A holder that died after segment.reap() above still has its ticket until the
      // next round reaps it: only the same ticket seen on two rounds in a row is corrupt.
      if (this.#staleTickets.get(s) === ticket) throw this.corrupt(`slot ${s} has TICKET ${ticket} but no object`)
      suspects.set(s, ticket)
    }
    this.#staleTickets = suspects
  }

  /** Tickets of slots without a live object seen by the last reap(), by slot. */
  #staleTickets = new Map<number, number>()

  /** The EventCount of `slot`'s waiters (TagWatcher). */
  slotEvents(slot: number): EventCount {
    if (slot === this.slot) return this.events
    let events = this.#slotEvents[slot]
    if (events === undefined) {
      events = eventsOfSlot(this.segment, slot)
      this.#slotEvents[slot] = events
    }
    return events
  }

  /**
   * One wait of this object for a permit, on its EventCount: the attempt and
   * the rules to hand to `events.waitSync` / `events.wait`. Call after
   * `register()` and after a failed try of its own. `onTaken` runs
   * synchronously with a successful take (the async runner resolves its
   * first pending acquire there, so no abort can come in between). One set
   * per runner, reused by every wait of this object: the sync runner blocks
   * the thread and the async one runs one wait at a time (the pump), so
   * neither is reentered.
   */
  waitFor(policy: WaitPolicy, deadline: number, signal?: AbortSignal, onTaken?: () => void): PermitWait {
    let wait = policy.async ? this.#asyncWait : this.#syncWait
    if (wait === undefined) {
      wait = this.#newWait(policy)
      if (policy.async) this.#asyncWait = wait
      else this.#syncWait = wait
    }
    wait.rules.deadline = deadline
    wait.rules.signal = signal
    wait.rules.sliceMs = PEER_CHECK_MS
    wait.onTaken = onTaken
    return wait
  }

  /**
   * Rules for an async call that polls a tagged STATE on this object's
   * EventCount (a release from `withPermit`): no deadline, `busyPollMs`
   * slices; a dead or stuck owner is handled by the poll (SlotTagWatch.awaitUntag).
   */
  busyRules(policy: WaitPolicy): WaitRules {
    return { deadline: Number.POSITIVE_INFINITY, sliceMs: policy.busyPollMs, label: this.#waitLabel }
  }

  #syncWait: PermitWait | undefined
  #asyncWait: PermitWait | undefined

  #newWait(policy: WaitPolicy): PermitWait {
    const wait: PermitWait = {
      rules: {
        deadline: 0,
        signal: undefined,
        sliceMs: PEER_CHECK_MS,
        label: this.#waitLabel,
        backOff: { firstMs: policy.backOffMs, maxMs: policy.maxBackOffMs, when: () => !this.handoff },
        // No onSlice: every slice ends with an attempt, and an attempt that
        // finds no permit looks for dead objects (reapIfDue, below).
      },
      onTaken: undefined,
      attempt: () => {
        let result = this.tryTake(true)
        // A tag still set after the spins: look once without sleeping (a dead
        // owner is reaped, a stuck one ends the wait with TimeoutError), then
        // try again; if it stays, poll: its untagging notifies nobody.
        if (result === BUSY && this.waitWhileTagged(0, true)) result = this.tryTake(true)
        // No permit for us: a dead holder's permits or a dead older ticket may
        // be why. Look (rate-limited), also on the first attempt, so that a
        // wait shorter than a slice finds them too.
        if (result === NONE && this.reapIfDue()) result = this.tryTake(true)
        // Seen untagged: a stall of STATE's tag (continued across looks) is over.
        if (result !== BUSY) this.tags.untagged()
        if (result === TAKEN) {
          wait.onTaken?.()
          return true
        }
        const sleep = Atomics.load(this.i32, this.#sleepIndex)
        if ((sleep & ~1) !== 0) throw this.corrupt(`slot ${this.slot} has SLEEP ${sleep}, not 0 or 1`)
        const now = performance.now()
        this.maybeStarve(now)
        if (result === NONE) this.#expectGive()
        wait.rules.sliceMs = result === BUSY ? policy.busyPollMs : this.#sliceAfterNone(now)
        return NOT_YET
      },
    }
    return wait
  }

  /**
   * After a wait's try found STATE empty (no permit, no tag, no HANDOFF): its
   * next try most likely follows the wake-up of a give of one permit, so it
   * starts its CAS from that value. One transfer of STATE's line (the CAS)
   * instead of two (a load, then the CAS upgrading the line). A wrong guess
   * only fails the CAS, which returns the real value to go on from.
   */
  #expectGive(): void {
    const seen = this.#seen
    if ((seen & (TAG_MASK | HANDOFF)) === 0 && countOf(seen) === 0) this.#seen = (seen + ONE) | 0
  }

  /** Gives back every permit this object holds (close, exit); nothing when corrupt. */
  giveBackHeld(): void {
    if (this.held === 0 || this.fault !== undefined) return
    const n = this.held
    if (this.give(n, Number.POSITIVE_INFINITY) !== TAKEN) {
      // Only possible when more was given than taken elsewhere; drop our claim.
      Atomics.store(this.i32, this.#heldIndex, 0)
      this.held = 0
    }
  }

  /** Takes a ticket (or shares the one this object already has). */
  register(): void {
    if (this.#registrations++ > 0) return
    let ticket = 0
    while (ticket === 0) ticket = (Atomics.add(this.i32, this.#nextTicket, 1) + 1) | 0
    // TICKET first: a giver that later sees us asleep (SLEEPERS) finds our ticket.
    Atomics.store(this.i32, this.#ticketIndex, ticket)
    Atomics.add(this.i32, this.#waiters, 1)
    this.ticket = ticket
    this.waitingSince = performance.now()
    this.#reservedSince = 0
  }

  /**
   * Drops this object's ticket (when no other waiting loop shares it). `took`
   * says whether the waiter got a permit. Clears HANDOFF when the rules say
   * so, and passes the wake-up on when permits are left for other waiters.
   */
  leave(took: boolean): void {
    if (this.#registrations === 0 || --this.#registrations > 0) return
    const i32 = this.i32
    Atomics.store(i32, this.#ticketIndex, 0)
    // A loop still registered (the async one, when close comes first) leaves no SLEEP behind.
    this.events.withdraw()
    const left = Atomics.sub(i32, this.#waiters, 1) - 1
    this.ticket = 0
    const state = Atomics.load(i32, this.#state)
    // A wait that ends without a permit leaves no guess (#expectGive) behind: the next call's CAS
    // starts from the value read now, not from a give that did not come.
    if (!took) this.#seen = state
    // Waiters we skipped (stopped, or scribbled tickets) do not keep HANDOFF up.
    // The clock is read only under HANDOFF: a woken waiter's return path (the wake-up row) skips it.
    if (
      (state & HANDOFF) !== 0 &&
      (left <= this.#skippedLeft() || (took && performance.now() - this.waitingSince < STARVE_MS))
    )
      this.clearHandoff()
    // A wake-up we consumed (or a permit left over) must reach the next waiter.
    if (left > 0 && countOf(state) > 0) this.wakeOldest(1)
  }

  /** Drops the ticket whatever the number of waiting loops sharing it (close). */
  leaveAll(): void {
    if (this.#registrations === 0) return
    this.#registrations = 1
    this.leave(false)
  }

  /**
   * Blocks while another object's tag is in STATE, until `deadline`
   * (performance.now() ms; 0: no sleep, one liveness check). `poll` (for
   * waiting loops, which call it every few µs to ms): no sleep, and the
   * owner's liveness is checked only every TAG_LIVENESS_MS of the stall.
   * Returns false when STATE is still tagged then (see SlotTagWatch.awaitUntag).
   */
  waitWhileTagged(deadline: number, poll = false): boolean {
    const state = Atomics.load(this.i32, this.#state)
    return (state & TAG_MASK) === 0 ? this.tags.untagged() : this.tags.awaitUntag(state, deadline, poll)
  }

  /** True while STATE carries a tag. */
  get tagged(): boolean {
    return (Atomics.load(this.i32, this.#state) & TAG_MASK) !== 0
  }

  /** Sets HANDOFF once this object's wait passed STARVE_MS. */
  maybeStarve(now: number): void {
    if (this.ticket === 0 || now - this.waitingSince < STARVE_MS) return
    const state = Atomics.load(this.i32, this.#state)
    if ((state & (HANDOFF | TAG_MASK)) !== 0) return
    Atomics.compareExchange(this.i32, this.#state, state, state | HANDOFF)
  }

  /** Clears HANDOFF (best effort: a HANDOFF left without waiters is cleared by the next waiter that leaves). */
  clearHandoff(): void {
    clearHandoffIn(this.i32, this.#state)
  }

  /**
   * `tryAcquire()` semantics for an object that is not waiting: one attempt,
   * plus repair of a HANDOFF left behind with nobody waiting, plus one look
   * for dead objects (reapIfDue) when no permit is free for it: a dead
   * holder's permits come back, and a dead waiter's ticket (reapSlot drops
   * it, and clears HANDOFF when it was the last) stops reserving a free one.
   * Rounds: at most one BUSY, one look, one repair, then the take.
   */
  tryOnce(deadline: number): boolean {
    let looked = false
    for (let round = 0; round < 4; round++) {
      const attempt = this.tryTake(this.ticket !== 0)
      if (attempt === TAKEN) return true
      if (attempt === BUSY) {
        if (!this.waitWhileTagged(deadline)) return false
        continue
      }
      if (this.handoff && oldestTicketSlotIn(this.i32, this.#base, this, this.#skipped) === -1) {
        this.clearHandoff()
        continue
      }
      if (looked || !this.reapIfDue()) return false
      looked = true
    }
    return false
  }

  /**
   * True when we may take under HANDOFF: no other waiting object has an
   * older ticket (see `olderThan`), leaving out those we skipped. An older
   * ticket that keeps a free permit reserved HANDOFF_GRACE_MS (its owner
   * does not take it: stopped, or the ticket is a scribble) is skipped from
   * then on, until its slot's TICKET changes. Called only when a permit is free.
   */
  isOldest(): boolean {
    const mine = this.ticket
    if (mine === 0) return false
    const i32 = this.i32
    const base = this.#base
    const max = scanLimitIn(i32, base, this)
    // Fast path: no ticket comes before ours by wrapping difference, so all
    // lie within half the range after ours: we are the oldest, and every
    // other waiter's look agrees.
    let before = false
    for (let s = 0; s < max && !before; s++) {
      if (s === this.slot) continue
      const ticket = Atomics.load(i32, slotIndex(base, s, S_TICKET))
      before = ticket !== 0 && ((ticket - mine) | 0) < 0
    }
    if (!before) return true
    const skipped = this.#skipped
    // A skipped ticket that left its slot is forgotten.
    this.#skippedLeft()
    for (;;) {
      const oldest = oldestIn(i32, base, max, skipped, this.slot, mine)
      if (oldest === this.slot || oldest === -1) return true
      const oldestTicket = Atomics.load(i32, slotIndex(base, oldest, S_TICKET))
      // Another ticket holds the free permit: watch how long it keeps it.
      const now = performance.now()
      if (this.#reservedSince === 0 || this.#reservedSlot !== oldest || this.#reservedTicket !== oldestTicket) {
        this.#reservedSince = now
        this.#reservedSlot = oldest
        this.#reservedTicket = oldestTicket
        return false
      }
      if (now - this.#reservedSince < HANDOFF_GRACE_MS) return false
      skipped.set(oldest, oldestTicket)
      this.#reservedSince = 0
    }
  }

  /** The next sleep of a wait that found no permit for it: shorter while it watches a reservation. */
  #sliceAfterNone(now: number): number {
    if (this.#reservedSince === 0) return PEER_CHECK_MS
    return Math.min(PEER_CHECK_MS, Math.max(1, this.#reservedSince + HANDOFF_GRACE_MS - now))
  }

  /** How many tickets we skipped are still in their slots; forgets those that left. */
  #skippedLeft(): number {
    if (this.#skipped.size === 0) return 0
    let left = 0
    for (const [s, ticket] of this.#skipped) {
      if (Atomics.load(this.i32, slotIndex(this.#base, s, S_TICKET)) === ticket) left++
      else this.#skipped.delete(s)
    }
    return left
  }

  /** Tickets (by slot) that kept a free permit reserved HANDOFF_GRACE_MS: this object no longer waits for them. */
  readonly #skipped = new Map<number, number>()
  /** The reservation being watched: the older ticket, its slot, and when a free permit was first seen reserved for it (0: none). */
  #reservedSlot = -1
  #reservedTicket = 0
  #reservedSince = 0

  /**
   * Wakes the `n` waiting objects with the smallest tickets (those asleep;
   * awake ones retry anyway). Runs after a change took effect (a give, a
   * take), so a corrupt word it meets (MAX_SLOT) faults this object through
   * `corrupt`, for the next call to throw, and is not thrown here: the call
   * would look failed when it had given (or taken) its permits.
   */
  wakeOldest(n: number): void {
    try {
      wakeOldestIn(this.i32, this.#base, n, this, this.#skipped)
    } catch (error) {
      if (!(error instanceof CorruptError)) throw error
    }
  }
}

/** MAX_SLOT, the scan limit: 0..SLOT_COUNT, else CorruptError. */
function scanLimitIn(i32: Int32Array, base: number, watcher: TagWatcher): number {
  const max = Atomics.load(i32, headerIndex(base, W_MAX_SLOT))
  if (max < 0 || max > SLOT_COUNT) throw watcher.corrupt(`MAX_SLOT is ${max}, not 0..${SLOT_COUNT}`)
  return max
}

/**
 * Whether `ticket` (of slot `s`) is older than `than` (of slot `thanSlot`)
 * by age, how many tickets were drawn since (`next - ticket`, unsigned),
 * then by slot: a total order for one `next` (read after the tickets).
 */
function olderThan(next: number, ticket: number, s: number, than: number, thanSlot: number): boolean {
  const age = (next - ticket) >>> 0
  const thanAge = (next - than) >>> 0
  return age > thanAge || (age === thanAge && s < thanSlot)
}

/**
 * The slot of the oldest ticket of the semaphore at `base` (0: none; a
 * `skipped` one left out; slot `mySlot` counts with `mine`, our own view),
 * or -1. One pass: real tickets lie within half the range, where the
 * wrapping difference is an exact order and its minimum the oldest (ties by
 * slot). Only scribbled tickets spread wider (then they may form a cycle with
 * no minimum); only then is NEXT_TICKET read and the age order used.
 */
function oldestIn(
  i32: Int32Array,
  base: number,
  max: number,
  skipped: ReadonlyMap<number, number> | undefined,
  mySlot = -1,
  mine = 0,
): number {
  const skips = skipped !== undefined && skipped.size > 0
  let first = 0
  let best = -1
  let low = 0
  let high = 0
  for (let s = 0; s < max; s++) {
    const ticket = s === mySlot ? mine : Atomics.load(i32, slotIndex(base, s, S_TICKET))
    if (ticket === 0 || (skips && skipped.get(s) === ticket)) continue
    if (best === -1) {
      first = ticket
      best = s
      continue
    }
    // Offset from the first ticket seen, as a number (no wrap within a half range).
    const d = (ticket - first) | 0
    if (d < low) {
      low = d
      best = s
    } else if (d > high) high = d
  }
  if (best === -1 || high - low < 2 ** 31) return best
  const next = Atomics.load(i32, headerIndex(base, W_NEXT_TICKET))
  best = -1
  let bestTicket = 0
  for (let s = 0; s < max; s++) {
    const ticket = s === mySlot ? mine : Atomics.load(i32, slotIndex(base, s, S_TICKET))
    if (ticket === 0 || (skips && skipped.get(s) === ticket)) continue
    if (best === -1 || olderThan(next, ticket, s, bestTicket, best)) {
      best = s
      bestTicket = ticket
    }
  }
  return best
}

/** The slot with the oldest ticket (see oldestIn), leaving out `skipped` tickets; -1 when nobody waits. */
function oldestTicketSlotIn(
  i32: Int32Array,
  base: number,
  watcher: TagWatcher,
  skipped?: ReadonlyMap<number, number>,
): number {
  return oldestIn(i32, base, scanLimitIn(i32, base, watcher), skipped)
}

/** Wakes the `n` oldest waiting slots of the semaphore whose data starts at `base` (bytes). */
function wakeOldestIn(
  i32: Int32Array,
  base: number,
  n: number,
  watcher: TagWatcher,
  skipped?: ReadonlyMap<number, number>,
): void {
  if (n === 1) {
    const best = oldestTicketSlotIn(i32, base, watcher, skipped)
    if (best !== -1) watcher.slotEvents(best).notify()
    return
  }
  const max = scanLimitIn(i32, base, watcher)
  const waiting: [number, number][] = []
  for (let s = 0; s < max; s++) {
    const ticket = Atomics.load(i32, slotIndex(base, s, S_TICKET))
    if (ticket !== 0) waiting.push([ticket, s])
  }
  const next = Atomics.load(i32, headerIndex(base, W_NEXT_TICKET))
  waiting.sort((a, b) => (olderThan(next, a[0], a[1], b[0], b[1]) ? -1 : 1))
  for (let k = 0; k < waiting.length && k < n; k++) watcher.slotEvents((waiting[k] as [number, number])[1]).notify()
}

/**
 * `onReap` of every semaphore segment: `slot`'s process died. Runs once per
 * dead slot across all processes (or again, if the reaper itself dies midway;
 * every step is safe to repeat).
 */
export function reapSlot(segment: Segment, slot: number): void {
  const watcher = counters.get(segment) ?? detachedWatcher(segment)
  const i32 = segment.i32
  const base = segment.dataOffset
  const stateIndex = headerIndex(base, W_STATE)
  const heldIndex = slotIndex(base, slot, S_HELD)
  const journal = slotIndex(base, slot, S_JOURNAL)
  const tag = slot + 1
  // 1. Finish the operation it died in: its CAS took effect, HELD may lag.
  try {
    const state = Atomics.load(i32, stateIndex)
    if ((state & TAG_MASK) === tag) {
      const journaled = Atomics.load(i32, journal)
      if (journaled < 0 || journaled > MAX_VALUE)
        throw watcher.corrupt(`slot ${slot} has JOURNAL ${journaled}, not 0..${MAX_VALUE}`)
      Atomics.store(i32, heldIndex, journaled)
      Atomics.store(i32, stateIndex, state & ~TAG_MASK)
    }
  } finally {
    // 2. Leave the line of waiters, also when step 1 found a corrupt journal (the slot is freed
    //    anyway: a ticket left behind would count a waiter that never comes).
    if (Atomics.exchange(i32, slotIndex(base, slot, S_TICKET), 0) !== 0) {
      const left = Atomics.sub(i32, headerIndex(base, W_WAITERS), 1) - 1
      if (left <= 0) clearHandoffIn(i32, stateIndex)
    }
    // Its SLEEP flag, if a wait of it was registered: given back, so givers stop scanning for it.
    watcher.slotEvents(slot).withdraw()
  }
  // 3. Give back what it held, tagged as the dead slot so that a reaper that
  //    dies here is repaired by the next one (step 1).
  const held = Atomics.load(i32, heldIndex)
  if (held < 0 || held > MAX_VALUE) throw watcher.corrupt(`slot ${slot} has HELD ${held}, not 0..${MAX_VALUE}`)
  if (held === 0) return
  const reclaim = (Atomics.load(i32, headerIndex(base, W_FLAGS)) & FLAG_RECLAIM) !== 0
  const bound = Atomics.load(i32, headerIndex(base, W_BOUND))
  if (bound < 0 || bound > MAX_VALUE) throw watcher.corrupt(`BOUND is ${bound}, not 0..${MAX_VALUE}`)
  const limit = bound || MAX_VALUE
  if (!reclaim) {
    Atomics.store(i32, heldIndex, 0)
    return
  }
  let given = 0
  let waitedSince = 0
  for (;;) {
    const current = Atomics.load(i32, stateIndex)
    if ((current & TAG_MASK) !== 0) {
      // TAG_STALL_MS for all the tags this give-back meets, as in give().
      const now = performance.now()
      if (waitedSince === 0) waitedSince = now
      else if (now - waitedSince >= TAG_STALL_MS) throw watcher.tags.stallError(current)
      watcher.tags.awaitUntag(current, waitedSince + TAG_STALL_MS)
      continue
    }
    // Never past the bound: a BoundedSemaphore released by a non-holder may be full already.
    given = Math.max(0, Math.min(held, limit - countOf(current)))
    const next = (current + given * ONE) | 0
    Atomics.store(i32, journal, 0)
    if (Atomics.compareExchange(i32, stateIndex, current, next | tag) !== current) continue
    Atomics.store(i32, heldIndex, 0)
    Atomics.store(i32, stateIndex, next)
    break
  }
  if (given > 0 && Atomics.load(i32, headerIndex(base, W_SLEEPERS)) > 0) wakeOldestIn(i32, base, given, watcher)
}

/** The watcher of a reap that runs before any counter is attached (Segment.open taking over a dead slot). */
function detachedWatcher(segment: Segment): TagWatcher {
  const corrupt = (detail: string) =>
    new CorruptError(`Cannot use the semaphore "${segment.name}": its shared memory is corrupt (${detail})`)
  return {
    corrupt,
    tags: stateTags(segment, 0, 'semaphore', corrupt),
    slotEvents: (slot) => eventsOfSlot(segment, slot),
  }
}

function clearHandoffIn(i32: Int32Array, stateIndex: number): void {
  for (let tries = 0; tries < TAG_SPINS; tries++) {
    const state = Atomics.load(i32, stateIndex)
    if ((state & HANDOFF) === 0) return
    if ((state & TAG_MASK) !== 0) continue
    if (Atomics.compareExchange(i32, stateIndex, state, state & ~HANDOFF) === state) return
  }
}
