/**
 * The waiter table of a Condition: one entry per waiting call, in its
 * segment (layout.ts, "Condition entry"). A waiter makes its entry while it
 * holds the condition's lock, then releases the lock and sleeps on the
 * entry's own EventCount; `notify(n)` (lock held) marks the n oldest live
 * entries NOTIFIED and wakes exactly those.
 *
 * Who writes which word:
 * - The waiter, holding the lock: SEQ, SLOT, TID, then STATE FREE → WAITING
 *   (a plain store: entries are made only under the lock, and an entry at or
 *   above HIGH, or FREE below it, belongs to nobody). After it took the lock
 *   back: CAS STATE (WAITING or NOTIFIED) → FREE, reading what it freed (a
 *   passOn may mark it NOTIFIED without the lock meanwhile).
 * - A notifier, holding the lock: CAS STATE WAITING → NOTIFIED, then bumps
 *   the entry's EVENT and wakes its sleeper (EventCount.notify). A dead
 *   waiter's entry (SIGKILL, ended thread, closed object) is freed by CAS
 *   (WAITING or NOTIFIED) → FREE and not counted: a notify(n) reaches n live
 *   waiters, never a corpse. (When that CAS finds the entry FREE already, a
 *   rescuer took it, or its own object's close did: it counts as given.)
 * - A waiter that could not take the lock back (passOn, without the lock):
 *   CAS of the oldest live WAITING entry → NOTIFIED, then its wake; it frees
 *   nothing and leaves HIGH alone.
 * - A waiter at each slice end (`rescue`, without the lock), for each
 *   NOTIFIED entry whose waiter died before it took the notification: CAS
 *   NOTIFIED → FREE, then passOn. HIGH is left alone.
 * - The waiter's own object, when it closes (without the lock): CAS of its
 *   entries WAITING or NOTIFIED → FREE. The CASes make this safe against a
 *   notifier; a notification it takes that way is lost with the closing waiter.
 * - HIGH, holding the lock: raised before an entry above it is written,
 *   lowered past FREE entries after one is freed.
 *
 * Why no wake-up is lost: the entry is WAITING before the waiter releases
 * the lock, and a notifier holds the lock, so every notify after the wait
 * call sees it. The waiter sleeps on its EVENT through EventCount: it
 * registers, reads STATE again, and sleeps only on the EVENT value it read
 * before; the notifier changes STATE before it bumps EVENT.
 *
 * What a SIGKILL can lose: a notifier killed between its CAS and its wake
 * leaves a NOTIFIED waiter asleep until its next RECHECK_MS slice (late, not
 * lost). A waiter killed after a notify marked it (the notify saw it alive)
 * and before it took the notification back under the lock does not spend
 * it: the next slice end (RECHECK_MS) of any other waiter passes it on
 * (late, not lost). Not looked for on the notify's path: it would cost each
 * notify a second look at the process (system calls). The entry does not say
 * when it was notified, so the waiter it goes to may have started its wait
 * after that notify (a spurious wake-up, which condition variables allow:
 * callers loop on their predicate, or use waitFor); so may a waiter a
 * notifyAll marked, dead (it looks at memory only). A waiter killed while waiting leaves its entry WAITING until a
 * notify finds its owner dead and frees it, or until a full table is swept.
 * A lock holder killed mid-update leaves entries that are each either
 * complete or FREE (STATE is written last), and HIGH only too high.
 */
import { CorruptError, IpcError } from '@ipc/core'
import { attachmentAlive, EventCount, NOT_YET, type Segment, threadId, type WaitRules } from '@ipc/core/internal'
import {
  C_ENTRIES,
  C_ENTRY_WORDS,
  C_HIGH,
  C_NEXT_SEQ,
  CE_EVENT,
  CE_SEQ,
  CE_SLEEPS,
  CE_SLOT,
  CE_STATE,
  CE_TID,
  CONDITION_CAPACITY,
  FREE,
  NOTIFIED,
  WAITING,
} from './layout.js'

/** The waiter table of one Condition object (one attachment, in one thread). */
export class ConditionWaiters {
  readonly #segment: Segment
  readonly #i32: Int32Array
  /** Word index of the data area. */
  readonly #base: number
  readonly #label: string
  readonly #tid: number
  /** Entries this object made and has not freed (its waits in progress). */
  readonly #mine = new Set<number>()
  readonly #events = new Map<number, EventCount>()
  /** Wake-ups of notifies handed to the lock that have not run yet (see `#handOver`). */
  readonly #handedOver = new Set<() => void>()

  constructor(segment: Segment, label: string) {
    this.#segment = segment
    this.#i32 = segment.i32
    this.#base = segment.dataOffset / 4
    this.#label = label
    this.#tid = threadId()
  }

  /** Word index of word `word` of entry `entry`. */
  #at(entry: number, word: number): number {
    return this.#base + C_ENTRIES + entry * C_ENTRY_WORDS + word
  }

  /** An entry's STATE, range-checked. */
  state(entry: number): number {
    const state = Atomics.load(this.#i32, this.#at(entry, CE_STATE))
    if (state !== FREE && state !== WAITING && state !== NOTIFIED)
      throw this.#corrupt(`waiter entry ${entry} has state ${state}`)
    return state
  }

  /** HIGH, range-checked. */
  #high(): number {
    const high = Atomics.load(this.#i32, this.#base + C_HIGH)
    if (!(high >= 0 && high <= CONDITION_CAPACITY)) throw this.#corrupt(`its waiter count bound is ${high}`)
    return high
  }

  /**
   * Holding the lock: makes a WAITING entry for a new wait and returns it.
   * @throws {IpcError} CONDITION_CAPACITY waits are in progress already.
   */
  enter(): number {
    let entry = this.#findFree()
    if (entry < 0) {
      this.#sweep()
      entry = this.#findFree()
    }
    if (entry < 0)
      throw new IpcError(
        `Cannot wait on ${this.#label}: ${CONDITION_CAPACITY} waits are in progress on it already, the most it holds`,
      )
    const i32 = this.#i32
    Atomics.store(i32, this.#at(entry, CE_SEQ), Atomics.add(i32, this.#base + C_NEXT_SEQ, 1))
    Atomics.store(i32, this.#at(entry, CE_SLOT), this.#segment.slot)
    Atomics.store(i32, this.#at(entry, CE_TID), this.#tid)
    Atomics.store(i32, this.#at(entry, CE_STATE), WAITING)
    this.#mine.add(entry)
    return entry
  }

  /** A FREE entry (raising HIGH when it takes the one at HIGH), or -1. */
  #findFree(): number {
    const high = this.#high()
    for (let entry = 0; entry < high; entry++) if (this.state(entry) === FREE) return entry
    if (high === CONDITION_CAPACITY) return -1
    if (this.state(high) !== FREE) throw this.#corrupt(`waiter entry ${high} is in use above the bound ${high}`)
    Atomics.store(this.#i32, this.#base + C_HIGH, high + 1)
    return high
  }

  /** A full table: frees the entries of dead waiters (checked thoroughly), holding the lock. */
  #sweep(): void {
    const high = this.#high()
    for (let entry = 0; entry < high; entry++) {
      const state = this.state(entry)
      if (state === FREE || this.#alive(entry, true)) continue
      // A dead waiter's notification goes on, as a rescue's does.
      if (Atomics.compareExchange(this.#i32, this.#at(entry, CE_STATE), state, FREE) === NOTIFIED) this.passOn()
    }
    this.#lower()
  }

  /** Lowers HIGH past FREE entries at its top, holding the lock. */
  #lower(): void {
    let high = this.#high()
    const was = high
    while (high > 0 && this.state(high - 1) === FREE) high--
    if (high !== was) Atomics.store(this.#i32, this.#base + C_HIGH, high)
  }

  /**
   * Sleeps until `entry` is NOTIFIED (`true`) or the rules' deadline
   * (TIMED_OUT), on the entry's EventCount. Each wake-up and slice also
   * checks that the entry still names this waiter (SLOT, TID): a scribbled
   * one makes every notify throw, so the wait fails too (CorruptError)
   * instead of sleeping forever.
   */
  sleep(entry: number, rules: WaitRules, sync: true): true | symbol
  sleep(entry: number, rules: WaitRules, sync: false): Promise<true | symbol>
  sleep(entry: number, rules: WaitRules, sync: boolean): (true | symbol) | Promise<true | symbol> {
    const attempt = (): true | typeof NOT_YET => {
      const state = this.state(entry)
      if (state === NOTIFIED) return true
      if (state !== WAITING) throw this.#corrupt(`waiter entry ${entry} was freed while its waiter waited`)
      // Below HIGH, or no notify looks at it: a scribbled HIGH fails the wait instead of stranding it.
      const high = this.#high()
      if (entry >= high) throw this.#corrupt(`waiter entry ${entry} is in use above the bound ${high}`)
      this.#assertMine(entry)
      return NOT_YET
    }
    const events = this.#eventsOf(entry)
    const sliced: WaitRules = {
      ...rules,
      onSlice: () => {
        rules.onSlice?.()
        this.rescue()
      },
    }
    return sync ? events.waitSync(attempt, sliced) : events.wait(attempt, sliced)
  }

  /**
   * Without the lock: each NOTIFIED entry whose waiter died before it took
   * its notification is freed by CAS and the notification passed on
   * (passOn), so a notify(n) still reaches n live waiters. One CAS decides,
   * so two rescuers never pass one notification on twice, and a notify that
   * finds the entry rescued counts it as passed on (`#mark`). A waiter's own
   * entry is alive: never its own.
   *
   * The look at the process takes system calls, during which the entry may
   * be freed, taken by a new waiter and notified again: the entry's arrival
   * number (SEQ), SLOT and TID are read before the look and again just before
   * the CAS, and a change skips it. (A rescuer descheduled between that
   * second read and its CAS while all of that happens could still free the
   * new waiter's entry, whose wait then fails with CorruptError: a window of
   * a few instructions, after a SIGKILL.)
   */
  rescue(): void {
    if (this.#segment.closed) return
    const high = this.#high()
    for (let entry = 0; entry < high; entry++) {
      if (this.state(entry) !== NOTIFIED) continue
      const occupant = this.#occupant(entry)
      try {
        if (this.#alive(entry, true)) continue
      } catch {
        // A scribbled SLOT: the waiter's own check fails its wait.
        continue
      }
      if (this.#occupant(entry) !== occupant) continue
      if (Atomics.compareExchange(this.#i32, this.#at(entry, CE_STATE), NOTIFIED, FREE) === NOTIFIED) this.passOn()
    }
  }

  /** Who holds `entry` now: its SEQ, SLOT and TID, as one string to compare. */
  #occupant(entry: number): string {
    const i32 = this.#i32
    return `${Atomics.load(i32, this.#at(entry, CE_SEQ))} ${Atomics.load(i32, this.#at(entry, CE_SLOT))} ${Atomics.load(i32, this.#at(entry, CE_TID))}`
  }

  /** The entry names this object and thread, as its waiter wrote it (else CorruptError). */
  #assertMine(entry: number): void {
    const slot = Atomics.load(this.#i32, this.#at(entry, CE_SLOT))
    const tid = Atomics.load(this.#i32, this.#at(entry, CE_TID))
    if (slot !== this.#segment.slot || tid !== this.#tid)
      throw this.#corrupt(
        `waiter entry ${entry} names slot ${slot} and thread ${tid}, not its waiter's slot ${this.#segment.slot} and thread ${this.#tid}`,
      )
  }

  /**
   * Holding the lock again after a wait: frees `entry` and returns whether
   * it was notified.
   * @throws {CorruptError} The entry was freed or changed under its waiter.
   */
  leave(entry: number): boolean {
    // Closed meanwhile: detach() freed the entry, and the table may be unmapped.
    if (this.#segment.closed) return false
    // By CAS: a passOn (no lock) may turn WAITING into NOTIFIED between the read and the write,
    // and a plain store would lose that notification.
    for (;;) {
      const state = this.state(entry)
      if (state === FREE) throw this.#corrupt(`waiter entry ${entry} was freed while its waiter waited`)
      if (Atomics.compareExchange(this.#i32, this.#at(entry, CE_STATE), state, FREE) !== state) continue
      this.#mine.delete(entry)
      this.#lower()
      return state === NOTIFIED
    }
  }

  /**
   * Without the lock (the wait could not take it back): frees `entry` by
   * CAS, so no later notify is spent on it; returns whether it had been
   * notified. The high-water mark is left alone (lowering it needs the lock).
   */
  drop(entry: number): boolean {
    if (this.#segment.closed) return false
    for (;;) {
      const state = this.state(entry)
      if (state === FREE) return false
      if (Atomics.compareExchange(this.#i32, this.#at(entry, CE_STATE), state, FREE) !== state) continue
      this.#mine.delete(entry)
      return state === NOTIFIED
    }
  }

  /** The WAITING entries below HIGH, in table order. */
  #waitingEntries(): number[] {
    const high = this.#high()
    const waiting: number[] = []
    for (let entry = 0; entry < high; entry++) if (this.state(entry) === WAITING) waiting.push(entry)
    return waiting
  }

  /** Sorts `entries` oldest first: arrival numbers wrap, so by their distance from NEXT_SEQ. */
  #oldestFirst(entries: number[]): number[] {
    const next = Atomics.load(this.#i32, this.#base + C_NEXT_SEQ)
    const age = (entry: number): number => (Atomics.load(this.#i32, this.#at(entry, CE_SEQ)) - next) | 0
    return entries.sort((a, b) => age(a) - age(b))
  }

  /**
   * Without the lock (a wait that could not take it back passes on the
   * notification it had received): marks the oldest WAITING entry NOTIFIED
   * by CAS and wakes it. Frees no entry and leaves HIGH alone: both need the
   * lock, as an enter() may be raising HIGH meanwhile and a lowered HIGH
   * would hide its entry from every notify. Dead waiters are passed over.
   */
  passOn(): void {
    for (const entry of this.#oldestFirst(this.#waitingEntries())) {
      // A dead waiter's entry is skipped (not freed: that needs the lock).
      try {
        if (!this.#alive(entry, true)) continue
      } catch {
        continue
      }
      if (Atomics.compareExchange(this.#i32, this.#at(entry, CE_STATE), WAITING, NOTIFIED) !== WAITING) continue
      this.#eventsOf(entry).notify()
      return
    }
  }

  /**
   * Holding the lock: notifies the `n` oldest live waiters (all with
   * Infinity) and wakes exactly those; frees the entries of dead waiters met
   * on the way. Returns how many were notified. With `later`, the wake-ups
   * are handed to it (the lock runs them once released); the entries are
   * NOTIFIED at once either way, so a waiter whose slice or deadline ends
   * first finds its notification.
   */
  notify(n: number, later?: (wake: () => void) => void): number {
    const waiting = this.#waitingEntries()
    if (waiting.length === 0) return 0
    const all = n >= waiting.length
    if (!all) this.#oldestFirst(waiting)
    let notified = 0
    const wakes: EventCount[] = []
    try {
      notified = this.#mark(waiting, n, all, later === undefined ? undefined : wakes)
    } finally {
      // Handed over even when a look threw: the entries marked so far must wake.
      if (wakes.length > 0) this.#handOver(wakes, later as (wake: () => void) => void)
    }
    return notified
  }

  /**
   * The marking loop of `notify`: NOTIFIED and woken (or, with `wakes`,
   * collected to wake later), dead entries freed. Returns how many were notified.
   */
  #mark(waiting: readonly number[], n: number, all: boolean, wakes: EventCount[] | undefined): number {
    let notified = 0
    let freed = false
    for (const entry of waiting) {
      if (notified >= n) break
      // Memory first (a closed object, an ended thread): its entry is freed unwoken.
      if (!this.#aliveOrWake(entry)) {
        Atomics.compareExchange(this.#i32, this.#at(entry, CE_STATE), WAITING, FREE)
        freed = true
        continue
      }
      if (Atomics.compareExchange(this.#i32, this.#at(entry, CE_STATE), WAITING, NOTIFIED) !== WAITING) continue
      const events = this.#eventsOf(entry)
      if (wakes === undefined) events.notify()
      else wakes.push(events)
      // A notify(n) must not spend one of its n on a dead waiter (SIGKILL): the
      // thorough look (syscalls) runs after the wake (or its hand-over), off
      // the woken waiter's path. A dead one's entry is freed and not counted; nobody can have
      // read its NOTIFIED (its owner is dead, and the rest wait for this
      // lock). notifyAll wakes everyone anyway, so memory suffices there.
      if (!all && !this.#alive(entry, true)) {
        // Freed here, this notify goes on to the next waiter. Freed meanwhile (the CAS fails): by a
        // rescuer, which passes it on (now or in a moment), or by its object's close, which takes
        // it with it (see the table above); either way it counts as given.
        if (Atomics.compareExchange(this.#i32, this.#at(entry, CE_STATE), NOTIFIED, FREE) === NOTIFIED) {
          freed = true
          continue
        }
      }
      notified++
    }
    if (freed) this.#lower()
    return notified
  }

  /**
   * Gives `later` one wake-up of `wakes`, kept in `#handedOver` until it
   * runs: a close of this object before the lock is given up (a lock the
   * user gave, released after the close) runs it first, so the waiters
   * are not left to their next slice. Waking a freed entry's event (its
   * waiter died) wakes nobody; a waiter that died after it was marked has
   * its notification passed on by the next slice end of another (`rescue`).
   */
  #handOver(wakes: readonly EventCount[], later: (wake: () => void) => void): void {
    const wake = (): void => {
      if (!this.#handedOver.delete(wake) || this.#segment.closed) return
      for (const events of wakes) events.notify()
    }
    this.#handedOver.add(wake)
    later(wake)
  }

  /** Waits in progress now (WAITING entries), a snapshot. */
  waiting(): number {
    const high = this.#high()
    let count = 0
    for (let entry = 0; entry < high; entry++) if (this.state(entry) === WAITING) count++
    return count
  }

  /** This object closes: runs the wake-ups still handed over to the lock, frees its entries (see the table above). */
  detach(): void {
    for (const wake of [...this.#handedOver]) wake()
    for (const entry of this.#mine) {
      const at = this.#at(entry, CE_STATE)
      if (Atomics.compareExchange(this.#i32, at, WAITING, FREE) !== WAITING)
        Atomics.compareExchange(this.#i32, at, NOTIFIED, FREE)
    }
    this.#mine.clear()
  }

  /**
   * `#alive(entry, false)`; a corrupt SLOT (CorruptError) first wakes the
   * entry's waiter, whose own check then fails its wait too, at once.
   */
  #aliveOrWake(entry: number): boolean {
    try {
      return this.#alive(entry, false)
    } catch (error) {
      this.#eventsOf(entry).notify()
      throw error
    }
  }

  /** Whether the object that made `entry` is still attached (its slot and thread; `thorough`: also its process and thread exist). */
  #alive(entry: number, thorough: boolean): boolean {
    const slot = Atomics.load(this.#i32, this.#at(entry, CE_SLOT))
    const tid = Atomics.load(this.#i32, this.#at(entry, CE_TID))
    // slotOwner (inside) range-checks the slot: CorruptError outside the table.
    return attachmentAlive(this.#segment, slot, thorough, tid)
  }

  #eventsOf(entry: number): EventCount {
    let events = this.#events.get(entry)
    if (events === undefined) {
      events = new EventCount(this.#segment, this.#i32, this.#at(entry, CE_EVENT), this.#at(entry, CE_SLEEPS))
      this.#events.set(entry, events)
    }
    return events
  }

  #corrupt(what: string): CorruptError {
    return new CorruptError(`Cannot use ${this.#label}: its shared memory is corrupt (${what})`)
  }
}
