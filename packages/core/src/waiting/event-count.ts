/**
 * The one wait loop of @ipc: an event count on two words of shared memory.
 * Every "wait until the state lets me go on" in @ipc (a ring's data or room,
 * a queue's join, a pipe end, a semaphore's permits, an Event) runs here, with
 * a sync runner (blocks the thread) and an async runner (never blocks the
 * event loop beyond the caller's spin).
 *
 * | word    | written by                                        | meaning                                      |
 * |---------|---------------------------------------------------|----------------------------------------------|
 * | event   | a notifier: +1 (seq-cst) after it changed state   | a sequence; sleepers sleep on a value of it  |
 * | waiters | each waiter: +1 before its re-check, -1 after     | waiters that may sleep; 0 lets notify skip   |
 * |         |                                                   | the wake syscall                             |
 *
 * Why no wake-up is lost (all operations seq-cst; a state stored with a
 * plain store instead needs the waiter's `afterRegister` fence, see
 * EventCountOptions): a waiter reads `event`,
 * adds itself to `waiters`, tries once more, then sleeps while `event` still
 * holds what it read. A notifier changes the state, adds 1 to `event`, then
 * reads `waiters`. If the change came after the waiter's try, the bump
 * follows the waiter's registration, so the notifier sees the waiter and
 * wakes it; a waiter not yet asleep finds `event` changed and the futex
 * returns at once.
 *
 * What a SIGKILL can lose: a waiter killed while registered leaves `waiters`
 * one too high. Notifiers then make one wake syscall each that wakes nobody
 * (slower, never wrong); rings that care count per-slot shares and give them
 * back (see `shares`). A close of the memory while an async wait is
 * registered loses nothing: the close runs `leaveWaitsOn` before it unmaps,
 * and the wait's own leave, which runs after (the memory is gone then), does
 * nothing.
 *
 * Claimed shares (`shares.claim`, the semaphore's per-slot wake-ups): each
 * slot has its own `event` word and its share is a flag, 0 or 1. A waiter
 * registers by CAS 0 → 1 (then `waiters` + 1); `notify()` wakes only when
 * its CAS 1 → 0 wins (then `waiters` - 1, `event` + 1, wake), and the
 * waiter's leave does the same CAS, so whoever flips the flag moves
 * `waiters`. A sleeper is woken by one syscall however many notifiers come
 * before it runs. No lost wake-up: a notifier whose CAS comes before the
 * waiter's registration made its change before the waiter's re-check; one
 * after it bumps `event` after the waiter read it.
 *
 * The sleep epoch (optional third word, `notifyUnwoken`): each waiter
 * raises `epoch` to the `event` value it will sleep on (a modular max)
 * before its re-check. A notifier whose bump-and-wake-all came after every
 * registration finds `epoch` behind `event`: every registered waiter read an
 * older value, so it was woken already or returns from its sleep at once,
 * and the notifier skips the bump and the syscall. Without it, a waiter
 * that was woken but had not yet run (a descheduled process) stayed
 * counted, and every change until it ran paid a wake syscall: a ring's
 * producer made one per message. No wake-up is lost: a notifier that loads
 * `epoch` before a waiter raised it made its change before that waiter's
 * re-check; one that loads it after sees `epoch` = `event` (a waiter's value
 * never exceeds `event`) unless `event` moved, which woke or will wake the
 * waiter. A scribbled `epoch` ahead of `event` makes notifiers wake (as
 * without it); one behind costs a late wake-up (sleeps are slices).
 */
import { ClosedError } from '../errors.js'
import { notifyWord, type WaitTick, waitWord, waitWordSync } from './futex.js'
import { remaining } from './signal.js'

/**
 * The leaves of the async waits registered now, by the memory they are
 * registered in (an async wait can still hold its registration when its
 * thread closes that memory; a sync one cannot). Each leave runs once: from
 * the wait's own `finally`, or from `leaveWaitsOn`.
 */
const asyncLeaves = new WeakMap<ArrayBufferLike, Set<() => void>>()

/**
 * Takes off the registrations of this thread's async waits on `buffer`; the
 * closer of that memory calls it before unmapping (the waits then end with
 * ClosedError and leave nothing counted in `waiters`).
 */
export function leaveWaitsOn(buffer: ArrayBufferLike): void {
  const leaves = asyncLeaves.get(buffer)
  if (leaves === undefined) return
  asyncLeaves.delete(buffer)
  for (const leave of leaves) leave()
}

/** What `attempt` returns while the caller must go on waiting. */
export const NOT_YET: unique symbol = Symbol('not yet')
export type NotYet = typeof NOT_YET
/** What the runners return when the deadline passed. */
export const TIMED_OUT: unique symbol = Symbol('timed out')
export type TimedOut = typeof TIMED_OUT

/**
 * How long a sleeper sleeps at most before it looks for a dead peer (a lock
 * holder, the other end of a pipe, a permit holder): the bound on noticing a
 * SIGKILLed peer, the one dead-peer policy of @ipc.
 */
export const PEER_CHECK_MS = 100
/**
 * How long a sleeper whose progress no single peer owes (a queue's getters,
 * `join()`) sleeps at most before it looks again: a safety net for a wake-up
 * lost to a notifier killed between its change and its wake.
 */
export const RECHECK_MS = 1000

/** What a waiting call waits on: the segment (or other memory) that may be closed under it. */
export interface WaitHost {
  /** True once this process closed the memory: the wait ends with ClosedError. */
  readonly closed: boolean
}

/** The rules of one waiting call. The runners only read them. */
export interface WaitRules {
  /** `performance.now()` time after which the call gives up (Infinity: never). */
  deadline: number
  /** Ends an async wait with `signal.reason`. */
  signal?: AbortSignal | undefined
  /**
   * The spin policy, run before the first registration: spins (or blocks
   * briefly) and returns true when the state may let the caller go on (the
   * runner tries again at once), false to go to sleep. See `respin`.
   */
  spin?: (() => boolean) | undefined
  /**
   * With true, `spin` runs again after each try that followed a true return,
   * until it returns false: a policy with a budget of its own (BackoffSpin)
   * keeps spinning after a try that lost a race instead of going to sleep.
   * @default false (spin once)
   */
  respin?: boolean | undefined
  /**
   * The longest single sleep, ms: PEER_CHECK_MS or RECHECK_MS. Read before
   * every sleep (and, async, before every tick), so an `attempt` may shorten
   * the next one (a semaphore polls a state word that a descheduled peer
   * keeps busy, which nobody notifies). The async runner does not end its
   * sleep at a slice's end: it ticks (runs `onSlice`, then `attempt`, while
   * the waiter stays registered) every `sliceMs / 2` to `sliceMs` ms, on a
   * grid shared by the process's waits (see futex.ts, `WaitTick`).
   */
  sliceMs: number
  /**
   * Runs when a slice ended without a wake (sync: after the sleep; async: at
   * each tick, the waiter still registered; both: at the deadline): look for
   * dead peers. May throw: the wait ends with that error.
   */
  onSlice?: (() => void) | undefined
  /** Names the object in "closed while the call waited". */
  label: string
  /**
   * Back-off after a wasted wake-up (optional): when a registered sleep
   * ended by a notify (or the event moved before it) and the next `attempt`
   * still failed (another taker was first), the following sleep is a nap of
   * `firstMs`, doubling on each later nap of the call up to `maxMs`, taken
   * unregistered: notifiers skip the wake syscall meanwhile (else a busy
   * notifier pays one on every change to wake a waiter in vain). After a
   * nap the waiter registers again. `when()` false skips the nap (the
   * waiter is next in line and must stay wakeable). Naps never run `onSlice`.
   */
  backOff?: { firstMs: number; maxMs: number; when?: (() => boolean) | undefined } | undefined
}

/** Per-slot shares of `waiters`, so a dead waiter's registration can be given back (see MPMC rings). */
export interface WaiterShares {
  /** Word index of slot 0's share. */
  base: number
  /** This attachment's slot. */
  slot: number
  /** Words from one slot's share to the next. @default 1 */
  stride?: number
  /**
   * The share is a flag (0 or 1) that `notify()` claims: the EventCount is
   * this slot's alone (its `event` word is the slot's), and a notify wakes
   * the slot only when the flag is set. See "Claimed shares" above.
   * @default false
   */
  claim?: boolean
}

/** How an event count's words are shared, beyond `event` and `waiters`. */
export interface EventCountOptions {
  /** Per-slot shares of `waiters` (see WaiterShares). @default none */
  shares?: WaiterShares | undefined
  /** The word index of a sleep epoch, for `notifyUnwoken` (see the header, "The sleep epoch"). @default none */
  epoch?: number | undefined
  /**
   * Runs after each registration, before the re-check that follows it: a
   * remote fence (remote-fence.ts), for state whose notifier publishes
   * with a plain store and then reads `waiters` (a ring's head).
   * @default nothing
   */
  afterRegister?: (() => void) | undefined
}

/**
 * An event count: `notify()` after changing shared state; `waitSync`/`wait`
 * to wait until `attempt` succeeds. Cheap to construct; holds no state of its
 * own beyond word indexes.
 *
 * @example
 * ```ts
 * const ready = new EventCount(segment, i32, EVENT, WAITERS)
 * // waiter: until the flag is set
 * ready.waitSync(() => (Atomics.load(i32, FLAG) !== 0 ? true : NOT_YET), rules)
 * // notifier
 * Atomics.store(i32, FLAG, 1)
 * ready.notify()
 * ```
 */
export class EventCount {
  readonly #host: WaitHost
  readonly #i32: Int32Array
  readonly #event: number
  readonly #waiters: number
  /** Word index of this slot's share, or -1 without shares. */
  readonly #share: number
  readonly #claim: boolean
  /** Word index of the sleep epoch, or -1 without one (see the header, "The sleep epoch"). */
  readonly #epoch: number
  /** Claimed shares: the loops of this object (this thread) registered on the flag now. */
  #loops = 0
  readonly #afterRegister: (() => void) | undefined

  constructor(host: WaitHost, i32: Int32Array, event: number, waiters: number, options: EventCountOptions = {}) {
    const shares = options.shares
    this.#host = host
    this.#i32 = i32
    this.#event = event
    this.#waiters = waiters
    this.#share = shares === undefined ? -1 : shares.base + shares.slot * (shares.stride ?? 1)
    this.#claim = shares?.claim === true
    this.#epoch = options.epoch ?? -1
    this.#afterRegister = options.afterRegister
  }

  /** The word sleepers sleep on (for tests and inspection). */
  get eventIndex(): number {
    return this.#event
  }

  /** Waiters registered now, as the shared word says (a snapshot). */
  get waiting(): number {
    return Atomics.load(this.#i32, this.#waiters)
  }

  /**
   * Publishes a change of the state: bumps `event` and wakes up to `count`
   * sleepers when any is registered. Returns how many were woken. Call after
   * the change is stored.
   */
  notify(count = Number.POSITIVE_INFINITY): number {
    if (this.#claim) {
      // Only the notifier that flips the flag wakes: later ones find 0 and skip the syscall.
      if (!this.withdraw()) return 0
      Atomics.add(this.#i32, this.#event, 1)
      return notifyWord(this.#i32, this.#event, Math.min(count, 0x7fffffff))
    }
    Atomics.add(this.#i32, this.#event, 1)
    if (Atomics.load(this.#i32, this.#waiters) === 0) return 0
    return notifyWord(this.#i32, this.#event, Math.min(count, 0x7fffffff))
  }

  /**
   * Claimed shares only: takes this slot's registration off without waking
   * it (CAS 1 → 0, then `waiters` - 1). For a waiter that leaves for good
   * (close) and for the reaper of a dead slot. True when the flag was set.
   */
  withdraw(): boolean {
    if (!this.#claim) return false
    if (Atomics.compareExchange(this.#i32, this.#share, 1, 0) !== 1) return false
    Atomics.sub(this.#i32, this.#waiters, 1)
    return true
  }

  /** Bumps `event` and wakes every sleeper, registered or not (close, shutdown, corrupt-memory paths). */
  notifyAll(): number {
    Atomics.add(this.#i32, this.#event, 1)
    return notifyWord(this.#i32, this.#event)
  }

  /**
   * `notify` for hot paths (a ring's every publish): reads `waiters` first
   * and, when nobody is registered, does nothing, not even the bump (one
   * load instead of an atomic add). Safe because every waiter registers
   * before its re-check of the state: a waiter registered after this load
   * finds the change stored before it (a change stored plainly: once the
   * waiter's `afterRegister` fence ran). Use it only when no spin policy
   * watches `event` itself. Returns how many were woken.
   */
  notifyIfWaiting(count = Number.POSITIVE_INFINITY): number {
    if (Atomics.load(this.#i32, this.#waiters) === 0) return 0
    Atomics.add(this.#i32, this.#event, 1)
    return notifyWord(this.#i32, this.#event, Math.min(count, 0x7fffffff))
  }

  /**
   * `notify()` of every sleeper for an event count with a sleep epoch: wakes
   * all sleepers when one registered since the last such wake-up, else does
   * nothing (no bump, no syscall) and returns -1. Else returns how many
   * were woken. Every notifier of such an event count must wake all (this,
   * `notifyAll`): a waiter whose value was bumped past must have been woken.
   */
  notifyUnwoken(): number {
    const i32 = this.#i32
    if (Atomics.load(i32, this.#waiters) === 0) return -1
    const event = Atomics.load(i32, this.#event)
    // Read after `waiters`: a registered waiter's epoch is stored (see the header).
    if (((event - Atomics.load(i32, this.#epoch)) | 0) > 0) return -1
    Atomics.add(i32, this.#event, 1)
    return notifyWord(i32, this.#event)
  }

  /**
   * For spin policies: one bounded sleep that blocks the thread (even under
   * the async runner), registered like a waiter so that a notifier wakes it
   * at once. Registers, sleeps up to `ms` unless `ready()`, leaves; returns
   * `ready()` after. A peer that answers within `ms` wakes this thread
   * directly, several times faster than through a native waiter thread and
   * the event loop.
   */
  pauseSync(ready: () => boolean, ms: number): boolean {
    if (ms <= 0) return false
    const seq = Atomics.load(this.#i32, this.#event)
    this.#enter(seq)
    try {
      if (!ready()) waitWordSync(this.#i32, this.#event, seq, ms)
    } finally {
      this.#leave()
    }
    return ready()
  }

  /**
   * Blocks the thread until `attempt` returns something other than NOT_YET
   * (returned), or the deadline passes (TIMED_OUT). The caller's own first
   * try failed already; `attempt` may throw (CorruptError, ClosedError).
   */
  waitSync<R>(attempt: () => R | NotYet, rules: WaitRules): R | TimedOut {
    const spun = spinFirst(attempt, rules)
    if (spun !== NOT_YET) return spun
    const i32 = this.#i32
    let wasted = false
    let napMs = 0
    let seq = 0
    // True when `seq` was read before an unregistered attempt that just failed (see below).
    let tried = false
    for (;;) {
      if (!tried) seq = Atomics.load(i32, this.#event)
      const nap: boolean = wasted && napping(rules)
      if (nap) napMs = nextNap(napMs, rules)
      else this.#enter(seq)
      let slept: SleepResult = 'not-equal'
      try {
        // A nap sleeps on what the unregistered attempt saw: trying again here would change nothing.
        const r = nap && tried ? NOT_YET : attempt()
        if (r !== NOT_YET) return r
        const left = remaining(rules.deadline)
        if (left <= 0) return TIMED_OUT
        slept = waitWordSync(i32, this.#event, seq, Math.min(left, nap ? napMs : rules.sliceMs))
      } finally {
        if (!nap) this.#leave()
      }
      wasted = !nap && slept !== 'timed-out'
      if (slept === 'timed-out' && !nap) rules.onSlice?.()
      // Woken (or the event moved): try once before registering again, as
      // the classic event count does. The wake-up's usual end, a take that
      // succeeds, then skips a registration and its leave (two RMWs on the
      // share and two on `waiters`, lines the notifier just wrote). A failed
      // try changes nothing: the loop reads `event` first (here), registers,
      // and tries again before it sleeps, so no wake-up is lost.
      tried = wasted
      if (tried) {
        seq = Atomics.load(i32, this.#event)
        const r = attempt()
        if (r !== NOT_YET) return r
      }
    }
  }

  /**
   * Like `waitSync`, without blocking the event loop. Rejects with
   * `signal.reason` on abort, and with ClosedError when this process closes
   * the host while the call waits.
   */
  async wait<R>(attempt: () => R | NotYet, rules: WaitRules): Promise<R | TimedOut> {
    const spun = spinFirst(attempt, rules)
    if (spun !== NOT_YET) return spun
    const i32 = this.#i32
    let wasted = false
    let napMs = 0
    // What a slice's tick found (see below): a result, or an error to throw.
    let found: R | NotYet = NOT_YET
    let failed = false
    let failure: unknown
    let seq = 0
    // A registered sleep stays one native wait across its slices: at each
    // slice end, `onSlice` and `attempt` run while the waiter stays
    // registered, and the sleep ends only when one of them has news or the
    // event moved (then the loop runs as after a wake-up).
    const tick: WaitTick = {
      ms: () => rules.sliceMs,
      run: () => {
        try {
          this.#assertOpen(rules.label)
          rules.onSlice?.()
          const r = attempt()
          if (r !== NOT_YET) {
            found = r
            return true
          }
        } catch (error) {
          failed = true
          failure = error
          return true
        }
        return Atomics.load(i32, this.#event) !== seq
      },
    }
    // This call's registration, while it holds one: the memory's close may take it off (leaveWaitsOn).
    let registered = false
    const leave = () => {
      if (!registered) return
      registered = false
      this.#unregister()
    }
    let leaves: Set<() => void> | undefined
    for (;;) {
      if (rules.signal?.aborted) throw rules.signal.reason
      this.#assertOpen(rules.label)
      seq = Atomics.load(i32, this.#event)
      const nap: boolean = wasted && napping(rules)
      if (nap) napMs = nextNap(napMs, rules)
      else {
        this.#enter(seq)
        registered = true
        leaves ??= leavesOf(i32.buffer)
        leaves.add(leave)
      }
      let slept: SleepResult = 'not-equal'
      try {
        const r = attempt()
        if (r !== NOT_YET) return r
        const left = remaining(rules.deadline)
        if (left <= 0) return TIMED_OUT
        try {
          slept = nap
            ? await sleep(this.#host, i32, this.#event, seq, Math.min(left, napMs), rules)
            : await sleep(this.#host, i32, this.#event, seq, left, rules, tick)
        } catch (error) {
          // A tick took a result, then the sleep ended otherwise (the host
          // closed before the wake-up that was already queued settled): the
          // result is the caller's, never lost.
          if (found !== NOT_YET) return found
          throw error
        }
        if (found !== NOT_YET) return found
        if (failed) throw failure
      } finally {
        if (!nap) {
          leaves?.delete(leave)
          // Closed while we waited: the memory may be unmapped (a detached buffer has length 0);
          // its close took the registration off (leaveWaitsOn).
          if (this.#host.closed || i32.length === 0) registered = false
          else leave()
        }
      }
      wasted = !nap && slept !== 'timed-out'
      // The deadline's own slice end: the last dead-peer check, as at every tick.
      if (slept === 'timed-out' && !nap) rules.onSlice?.()
    }
  }

  /** Registers a waiter that will sleep on `seq`. */
  #enter(seq: number): void {
    if (this.#epoch !== -1) this.#raiseEpoch(seq)
    if (this.#claim) {
      // Registered already (another loop of this slot): that registration serves both.
      this.#loops++
      this.#arm()
    } else {
      Atomics.add(this.#i32, this.#waiters, 1)
      if (this.#share !== -1) Atomics.add(this.#i32, this.#share, 1)
    }
    this.#afterRegister?.()
  }

  /** Leaves after a sync wait: nothing once the host closed (the memory may be unmapped). */
  #leave(): void {
    // Closed while we waited: the memory may be unmapped (a detached buffer has length 0).
    if (this.#host.closed || this.#i32.length === 0) return
    this.#unregister()
  }

  // In the reverse order of #enter, so a share never exceeds what it added to the total.
  #unregister(): void {
    if (this.#claim) {
      // The flag serves every loop of this slot: only the last one to leave
      // takes it off; while others still wait, it stays (or is set again
      // after a notifier claimed it), so their wake-ups are not lost.
      // A notifier that woke us flipped the flag and moved `waiters` already.
      if (--this.#loops === 0) this.withdraw()
      else this.#arm()
      return
    }
    if (this.#share !== -1) Atomics.sub(this.#i32, this.#share, 1)
    Atomics.sub(this.#i32, this.#waiters, 1)
  }

  /**
   * Raises the sleep epoch to `seq` unless it is there or ahead (modular: values wrap at 2^32).
   * A CAS fails only when another waiter raised it meanwhile; a process that keeps scribbling
   * on the word cannot hold this loop: after RAISE_TRIES it gives up, and the epoch left
   * behind costs at most a wake-up one slice late (see the header).
   */
  #raiseEpoch(seq: number): void {
    const i32 = this.#i32
    for (let tries = 0; tries < RAISE_TRIES; tries++) {
      const epoch = Atomics.load(i32, this.#epoch)
      if (((seq - epoch) | 0) <= 0 || Atomics.compareExchange(i32, this.#epoch, epoch, seq) === epoch) return
    }
  }

  /** Claimed shares: sets this slot's flag (and counts it in `waiters`) unless it is set. */
  #arm(): void {
    if (Atomics.compareExchange(this.#i32, this.#share, 0, 1) === 0) Atomics.add(this.#i32, this.#waiters, 1)
  }

  #assertOpen(label: string): void {
    if (this.#host.closed) throw closedWhileWaiting(label)
  }
}

type SleepResult = 'ok' | 'not-equal' | 'timed-out' | 'ticked'

/** The set of async leaves of `buffer` (see asyncLeaves). */
function leavesOf(buffer: ArrayBufferLike): Set<() => void> {
  let leaves = asyncLeaves.get(buffer)
  if (leaves === undefined) {
    leaves = new Set()
    asyncLeaves.set(buffer, leaves)
  }
  return leaves
}

/** CAS attempts of one raise of the sleep epoch (`#raiseEpoch`). */
const RAISE_TRIES = 1024

/** Both runners' start, the spin policy: `attempt` after each true return of `spin`, once or (`respin`) until `spin` says false. */
function spinFirst<R>(attempt: () => R | NotYet, rules: WaitRules): R | NotYet {
  const spin = rules.spin
  if (spin === undefined) return NOT_YET
  do {
    if (!spin()) return NOT_YET
    const r = attempt()
    if (r !== NOT_YET) return r
  } while (rules.respin === true)
  return NOT_YET
}

/** True when the rules ask for a nap after a wasted wake-up now. */
function napping(rules: WaitRules): boolean {
  return rules.backOff !== undefined && (rules.backOff.when?.() ?? true)
}

/** The next nap: `firstMs`, then doubled up to `maxMs`. */
function nextNap(napMs: number, rules: WaitRules): number {
  const backOff = rules.backOff as NonNullable<WaitRules['backOff']>
  return napMs === 0 ? backOff.firstMs : Math.min(napMs * 2, backOff.maxMs)
}

/** The one answer to "the memory was closed in this process while the call waited". */
export function closedWhileWaiting(label: string): ClosedError {
  return new ClosedError(`Cannot use ${label}: it was closed while the call waited`)
}

/**
 * An async futex sleep on `i32[index]` for the kernel's loops (the event
 * count above and the owner word): a close of `host` in this process ends it
 * with `closedWhileWaiting`, whoever's word it was.
 */
export async function sleep(
  host: WaitHost,
  i32: Int32Array,
  index: number,
  expected: number,
  ms: number,
  rules: { signal?: AbortSignal | undefined; label: string },
  tick?: WaitTick,
): Promise<'ok' | 'not-equal' | 'timed-out' | 'ticked'> {
  try {
    const result = await waitWord(i32, index, expected, ms, rules.signal, tick)
    if (host.closed) throw closedWhileWaiting(rules.label)
    return result
  } catch (error) {
    if (host.closed) throw closedWhileWaiting(rules.label)
    throw error
  }
}
