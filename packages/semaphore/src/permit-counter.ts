/**
 * The shared-memory protocol behind Semaphore, BoundedSemaphore and Lock: a
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
 * Waiting (the slow path):
 * - A waiting object takes a ticket (NEXT_TICKET fetch-add) into its TICKET
 *   word and counts itself in WAITERS, then loops: read WAKE, set SLEEP = 1,
 *   try to take, and if that fails sleep on WAKE (futex) for at most REAP_MS.
 *   It does not spin first: measured, a spinning loser steals the permit back
 *   and forth and bounces the cache line; sleeping lets the holder run alone.
 * - After a wasted wake-up (woken, but a barging taker was first) it sleeps
 *   BACK_OFF_MS (doubling to MAX_BACK_OFF_MS) with SLEEP = 0, where no giver
 *   wakes it: else a busy holder would pay a futex syscall on every release.
 * - A giver wakes the waiter with the smallest ticket: CAS its SLEEP 1 → 0 and
 *   only on success bump WAKE and notify (a waiter that is awake will try
 *   again before it sleeps, so it needs no syscall). Ordering: the giver CASes
 *   STATE then reads SLEEPERS and SLEEP; the waiter sets SLEEP and SLEEPERS,
 *   then reads STATE (all seq-cst), so one of them sees the other: no lost
 *   wake-up. The waiter reads WAKE before all that and sleeps only while WAKE
 *   still holds that value, so a wake between its try and its sleep counts.
 * - Fairness: anyone may take a free permit (barging, as Python's and Go's
 *   locks do: much faster under contention) until a waiter has waited
 *   STARVE_MS. That waiter sets HANDOFF, and from then on only the waiter with
 *   the smallest ticket may take; newcomers queue behind it. The waiter that
 *   takes clears HANDOFF when it waited less than STARVE_MS or was the last
 *   one (Go's sync.Mutex starvation mode).
 * - Crashes: waiters wake at least every REAP_MS and call segment.reap(); it
 *   calls `reapSlot` once for each slot whose process died, which finishes the
 *   dead object's tagged operation, drops its ticket and gives back its HELD.
 */
import { notifyWord, type Segment, waitWordSync } from '@ipc/core/internal'
import {
  COUNT_SHIFT,
  countOf,
  FLAG_RECLAIM,
  HANDOFF,
  headerIndex,
  MAX_VALUE,
  ONE,
  S_HELD,
  S_JOURNAL,
  S_SLEEP,
  S_TICKET,
  S_WAKE,
  SLOT_COUNT,
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
export const STARVE_MS = 2
/** Waiters wake at least this often to reap the permits of dead processes. */
export const REAP_MS = 200
/** How long a waiter sleeps, unwakeable, after its first wasted wake-up (ms); doubled after each. */
export const BACK_OFF_MS = 0.05
/** The longest such sleep (ms). */
export const MAX_BACK_OFF_MS = 0.4
/** How many times to re-read a tagged STATE before calling it busy. */
const TAG_SPINS = 200
/** After a tag has been set this long, check whether its owner died. */
const TAG_LIVENESS_MS = 50

/** The result of one attempt to take a permit. */
export const TAKEN = 0
/** No permit is free for us (count 0, or HANDOFF and we are not the oldest waiter). */
export const NONE = 1
/** Another object is in the middle of an operation (a tag is set); try again soon. */
export const BUSY = 2
export type Attempt = typeof TAKEN | typeof NONE | typeof BUSY

/** One attached object's view of a semaphore segment. */
export class PermitCounter {
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
  readonly #tag: number
  readonly #state: number
  readonly #waiters: number
  readonly #nextTicket: number
  readonly #maxSlot: number
  readonly #sleepers: number
  readonly #heldIndex: number
  readonly #journal: number
  readonly #ticketIndex: number
  /** Index of this slot's WAKE word. */
  readonly wakeIndex: number
  /** Index of this slot's SLEEP word. */
  readonly sleepIndex: number
  readonly #base: number

  constructor(segment: Segment) {
    this.segment = segment
    this.i32 = segment.i32
    this.slot = segment.slot
    const offset = segment.dataOffset
    this.#base = offset
    this.#tag = segment.slot + 1
    this.#state = headerIndex(offset, W_STATE)
    this.#waiters = headerIndex(offset, W_WAITERS)
    this.#nextTicket = headerIndex(offset, W_NEXT_TICKET)
    this.#maxSlot = headerIndex(offset, W_MAX_SLOT)
    this.#sleepers = headerIndex(offset, W_SLEEPERS)
    this.#heldIndex = slotIndex(offset, segment.slot, S_HELD)
    this.#journal = slotIndex(offset, segment.slot, S_JOURNAL)
    this.#ticketIndex = slotIndex(offset, segment.slot, S_TICKET)
    this.wakeIndex = slotIndex(offset, segment.slot, S_WAKE)
    this.sleepIndex = slotIndex(offset, segment.slot, S_SLEEP)
    this.bound = Atomics.load(this.i32, headerIndex(offset, W_BOUND))
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

  /** Permits available now. */
  get value(): number {
    return countOf(Atomics.load(this.i32, this.#state))
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
      i32[this.#journal] = held
      const next = (state - ONE) | 0
      const seen = Atomics.compareExchange(i32, index, state, next | this.#tag)
      if (seen !== state) {
        state = seen
        continue
      }
      i32[this.#heldIndex] = held
      this.held = held
      i32[index] = next
      this.#seen = next
      return TAKEN
    }
  }

  /**
   * Gives `n` permits back (the first `held` of them leave this object's
   * HELD) and wakes that many waiters. Checks `bound` atomically: returns
   * false, changing nothing, when the count would pass it.
   */
  give(n: number): boolean {
    const i32 = this.i32
    const index = this.#state
    const limit = this.bound === 0 ? MAX_VALUE : this.bound
    let state = this.#seen
    for (;;) {
      if ((state & TAG_MASK) !== 0) {
        state = Atomics.load(i32, index)
        if ((state & TAG_MASK) !== 0) {
          this.#waitUntagged(state)
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
        return false
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
      const held = this.held - fromHeld
      i32[this.#journal] = held
      const seen = Atomics.compareExchange(i32, index, state, next | this.#tag)
      if (seen !== state) {
        state = seen
        continue
      }
      i32[this.#heldIndex] = held
      this.held = held
      i32[index] = next
      this.#seen = next
      break
    }
    // Seq-cst CAS on STATE, then this load; a waiter adds to SLEEPERS, then
    // reads STATE. So either it sees our permits or we see it asleep.
    if (Atomics.load(i32, this.#sleepers) > 0) this.wakeOldest(n)
    return true
  }

  /**
   * Marks this slot as about to sleep and returns the WAKE value to sleep on.
   * Call it before the last try to take: a giver that comes after that try
   * sees SLEEP = 1 and wakes us.
   */
  prepareSleep(): number {
    const wake = Atomics.load(this.i32, this.wakeIndex)
    if (Atomics.compareExchange(this.i32, this.sleepIndex, 0, 1) === 0) Atomics.add(this.i32, this.#sleepers, 1)
    return wake
  }

  /** Marks this slot as awake and returns the WAKE value to sleep on (a sleep no giver wakes). */
  awakeWake(): number {
    this.awake()
    return Atomics.load(this.i32, this.wakeIndex)
  }

  /** Marks this slot as awake (unless a waker did already). */
  awake(): void {
    if (Atomics.compareExchange(this.i32, this.sleepIndex, 1, 0) === 1) Atomics.sub(this.i32, this.#sleepers, 1)
  }

  /** Gives back every permit this object holds (close, exit). */
  giveBackHeld(): void {
    if (this.held === 0) return
    const n = this.held
    if (!this.give(n)) {
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
    this.awake()
    const left = Atomics.sub(i32, this.#waiters, 1) - 1
    const waited = performance.now() - this.waitingSince
    this.ticket = 0
    const state = Atomics.load(i32, this.#state)
    if ((state & HANDOFF) !== 0 && (left <= 0 || (took && waited < STARVE_MS))) this.clearHandoff()
    // A wake-up we consumed (or a permit left over) must reach the next waiter.
    if (left > 0 && countOf(state) > 0) this.wakeOldest(1)
  }

  /** Drops the ticket whatever the number of waiting loops sharing it (close). */
  leaveAll(): void {
    if (this.#registrations === 0) return
    this.#registrations = 1
    this.leave(false)
  }

  /** Blocks briefly while another object's tag is in STATE (see waitUntagged). */
  waitWhileTagged(): void {
    const state = Atomics.load(this.i32, this.#state)
    if ((state & TAG_MASK) !== 0) waitUntagged(this.segment, this.#state, state)
  }

  /** For async waiters: reaps the owner of the tag in STATE if its process died. */
  reapTagOwnerIfDead(): void {
    const tag = Atomics.load(this.i32, this.#state) & TAG_MASK
    if (tag !== 0 && !this.segment.slotAlive(tag - 1)) this.segment.reap()
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
    for (let tries = 0; tries < TAG_SPINS; tries++) {
      const state = Atomics.load(this.i32, this.#state)
      if ((state & HANDOFF) === 0) return
      if ((state & TAG_MASK) !== 0) continue
      if (Atomics.compareExchange(this.i32, this.#state, state, state & ~HANDOFF) === state) return
    }
  }

  /**
   * `tryAcquire()` semantics for an object that is not waiting: one attempt,
   * plus repair of a HANDOFF left behind with nobody waiting.
   */
  tryOnce(): boolean {
    for (let round = 0; round < 2; round++) {
      const attempt = this.tryTake(this.ticket !== 0)
      if (attempt === TAKEN) return true
      if (attempt === BUSY) {
        this.#waitUntagged(Atomics.load(this.i32, this.#state))
        continue
      }
      if (!this.handoff || this.#oldestTicketSlot() !== -1) return false
      this.clearHandoff()
    }
    return false
  }

  /** True when no other waiting object has an older ticket than ours. */
  isOldest(): boolean {
    const mine = this.ticket
    if (mine === 0) return false
    const i32 = this.i32
    const max = Math.min(Atomics.load(i32, this.#maxSlot), SLOT_COUNT)
    for (let s = 0; s < max; s++) {
      if (s === this.slot) continue
      const ticket = Atomics.load(i32, slotIndex(this.#base, s, S_TICKET))
      if (ticket !== 0 && ((ticket - mine) | 0) < 0) return false
    }
    return true
  }

  /** The slot with the smallest ticket, or -1 when nobody waits. */
  #oldestTicketSlot(): number {
    const i32 = this.i32
    const max = Math.min(Atomics.load(i32, this.#maxSlot), SLOT_COUNT)
    let best = -1
    let bestTicket = 0
    for (let s = 0; s < max; s++) {
      const ticket = Atomics.load(i32, slotIndex(this.#base, s, S_TICKET))
      if (ticket === 0) continue
      if (best === -1 || ((ticket - bestTicket) | 0) < 0) {
        best = s
        bestTicket = ticket
      }
    }
    return best
  }

  /** Wakes the `n` waiting objects with the smallest tickets (those asleep; awake ones retry anyway). */
  wakeOldest(n: number): void {
    wakeOldestIn(this.i32, this.#base, n)
  }

  /**
   * Waits (blocking the thread, briefly) until STATE no longer holds the tag
   * in `state`. Reaps the tag's owner when its process died.
   */
  #waitUntagged(state: number): void {
    if ((state & TAG_MASK) !== 0) waitUntagged(this.segment, this.#state, state)
  }
}

/** Wakes the `n` oldest waiting slots of the semaphore whose data starts at `base` (bytes). */
function wakeOldestIn(i32: Int32Array, base: number, n: number): void {
  const max = Math.min(Atomics.load(i32, headerIndex(base, W_MAX_SLOT)), SLOT_COUNT)
  if (n === 1) {
    let best = -1
    let bestTicket = 0
    for (let s = 0; s < max; s++) {
      const ticket = Atomics.load(i32, slotIndex(base, s, S_TICKET))
      if (ticket === 0) continue
      if (best === -1 || ((ticket - bestTicket) | 0) < 0) {
        best = s
        bestTicket = ticket
      }
    }
    if (best !== -1) wakeSlot(i32, base, best)
    return
  }
  const waiting: [number, number][] = []
  for (let s = 0; s < max; s++) {
    const ticket = Atomics.load(i32, slotIndex(base, s, S_TICKET))
    if (ticket !== 0) waiting.push([ticket, s])
  }
  waiting.sort((a, b) => (a[0] - b[0]) | 0)
  for (let k = 0; k < waiting.length && k < n; k++) wakeSlot(i32, base, (waiting[k] as [number, number])[1])
}

/** Wakes `slot` when it may be asleep: only the waker that flips SLEEP 1 → 0 makes the syscall. */
function wakeSlot(i32: Int32Array, base: number, slot: number): void {
  if (Atomics.compareExchange(i32, slotIndex(base, slot, S_SLEEP), 1, 0) !== 1) return
  Atomics.sub(i32, headerIndex(base, W_SLEEPERS), 1)
  const wake = slotIndex(base, slot, S_WAKE)
  Atomics.add(i32, wake, 1)
  notifyWord(i32, wake)
}

/**
 * Waits until STATE (at `index`) changes from the tagged value `state`.
 * Spins first; then sleeps in 50 µs steps. A tag is held for nanoseconds
 * unless its owner was preempted or died; every TAG_LIVENESS_MS the owner's
 * liveness is checked and a dead owner is reaped, which finishes its operation.
 */
function waitUntagged(segment: Segment, index: number, state: number): void {
  const i32 = segment.i32
  for (let spins = 0; spins < TAG_SPINS; spins++) if (Atomics.load(i32, index) !== state) return
  let checked = performance.now()
  while (Atomics.load(i32, index) === state) {
    waitWordSync(i32, index, state, 0.05)
    const now = performance.now()
    if (now - checked >= TAG_LIVENESS_MS) {
      checked = now
      const owner = (state & TAG_MASK) - 1
      if (!segment.slotAlive(owner)) segment.reap()
    }
  }
}

/**
 * `onReap` of every semaphore segment: `slot`'s process died. Runs once per
 * dead slot across all processes (or again, if the reaper itself dies midway;
 * every step is safe to repeat).
 */
export function reapSlot(segment: Segment, slot: number): void {
  const i32 = segment.i32
  const base = segment.dataOffset
  const stateIndex = headerIndex(base, W_STATE)
  const heldIndex = slotIndex(base, slot, S_HELD)
  const journal = slotIndex(base, slot, S_JOURNAL)
  const tag = slot + 1
  // 1. Finish the operation it died in: its CAS took effect, HELD may lag.
  const state = Atomics.load(i32, stateIndex)
  if ((state & TAG_MASK) === tag) {
    Atomics.store(i32, heldIndex, Atomics.load(i32, journal))
    Atomics.store(i32, stateIndex, state & ~TAG_MASK)
  }
  // 2. Leave the line of waiters.
  if (Atomics.exchange(i32, slotIndex(base, slot, S_TICKET), 0) !== 0) {
    const left = Atomics.sub(i32, headerIndex(base, W_WAITERS), 1) - 1
    if (left <= 0) clearHandoffIn(i32, stateIndex)
  }
  if (Atomics.compareExchange(i32, slotIndex(base, slot, S_SLEEP), 1, 0) === 1)
    Atomics.sub(i32, headerIndex(base, W_SLEEPERS), 1)
  // 3. Give back what it held, tagged as the dead slot so that a reaper that
  //    dies here is repaired by the next one (step 1).
  const held = Atomics.load(i32, heldIndex)
  if (held <= 0) return
  const reclaim = (Atomics.load(i32, headerIndex(base, W_FLAGS)) & FLAG_RECLAIM) !== 0
  const limit = Atomics.load(i32, headerIndex(base, W_BOUND)) || MAX_VALUE
  if (!reclaim) {
    Atomics.store(i32, heldIndex, 0)
    return
  }
  let given = 0
  for (;;) {
    const current = Atomics.load(i32, stateIndex)
    if ((current & TAG_MASK) !== 0) {
      waitUntagged(segment, stateIndex, current)
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
  if (given > 0 && Atomics.load(i32, headerIndex(base, W_SLEEPERS)) > 0) wakeOldestIn(i32, base, given)
}

function clearHandoffIn(i32: Int32Array, stateIndex: number): void {
  for (let tries = 0; tries < TAG_SPINS; tries++) {
    const state = Atomics.load(i32, stateIndex)
    if ((state & HANDOFF) === 0) return
    if ((state & TAG_MASK) !== 0) continue
    if (Atomics.compareExchange(i32, stateIndex, state, state & ~HANDOFF) === state) return
  }
}
