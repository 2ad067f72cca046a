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
 * Why no wake-up is lost (all operations seq-cst): a waiter reads `event`,
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
 * back (see `shares`).
 */
import { ClosedError } from '../errors.js'
import { notifyWord, waitWord, waitWordSync } from './futex.js'
import { remaining } from './signal.js'

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
  /** The longest single sleep, ms: PEER_CHECK_MS or RECHECK_MS. */
  sliceMs: number
  /** Runs when a sleep ended by its slice (not by a wake): look for dead peers. May throw. */
  onSlice?: (() => void) | undefined
  /** Names the object in "closed while the call waited". */
  label: string
}

/** Per-slot shares of `waiters`, so a dead waiter's registration can be given back (see MPMC rings). */
export interface WaiterShares {
  /** Word index of slot 0's share. */
  base: number
  /** This attachment's slot. */
  slot: number
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
  readonly #shares: WaiterShares | undefined

  constructor(host: WaitHost, i32: Int32Array, event: number, waiters: number, shares?: WaiterShares) {
    this.#host = host
    this.#i32 = i32
    this.#event = event
    this.#waiters = waiters
    this.#shares = shares
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
    Atomics.add(this.#i32, this.#event, 1)
    if (Atomics.load(this.#i32, this.#waiters) === 0) return 0
    return notifyWord(this.#i32, this.#event, Math.min(count, 0x7fffffff))
  }

  /** Bumps `event` and wakes every sleeper, registered or not (close, shutdown, corrupt-memory paths). */
  notifyAll(): number {
    Atomics.add(this.#i32, this.#event, 1)
    return notifyWord(this.#i32, this.#event)
  }

  /**
   * Blocks the thread until `attempt` returns something other than NOT_YET
   * (returned), or the deadline passes (TIMED_OUT). The caller's own first
   * try failed already; `attempt` may throw (CorruptError, ClosedError).
   */
  waitSync<R>(attempt: () => R | NotYet, rules: WaitRules): R | TimedOut {
    if (rules.spin !== undefined) {
      const r = spinThenTry(attempt, rules.spin, rules.respin === true)
      if (r !== NOT_YET) return r
    }
    const i32 = this.#i32
    for (;;) {
      const seq = Atomics.load(i32, this.#event)
      this.#enter()
      let slept: 'ok' | 'not-equal' | 'timed-out' = 'not-equal'
      try {
        const r = attempt()
        if (r !== NOT_YET) return r
        const left = remaining(rules.deadline)
        if (left <= 0) return TIMED_OUT
        slept = waitWordSync(i32, this.#event, seq, Math.min(left, rules.sliceMs))
      } finally {
        this.#leave()
      }
      if (slept === 'timed-out') rules.onSlice?.()
    }
  }

  /**
   * Like `waitSync`, without blocking the event loop. Rejects with
   * `signal.reason` on abort, and with ClosedError when this process closes
   * the host while the call waits.
   */
  async wait<R>(attempt: () => R | NotYet, rules: WaitRules): Promise<R | TimedOut> {
    if (rules.spin !== undefined) {
      const r = spinThenTry(attempt, rules.spin, rules.respin === true)
      if (r !== NOT_YET) return r
    }
    const i32 = this.#i32
    for (;;) {
      if (rules.signal?.aborted) throw rules.signal.reason
      this.#assertOpen(rules.label)
      const seq = Atomics.load(i32, this.#event)
      this.#enter()
      let slept: 'ok' | 'not-equal' | 'timed-out' = 'not-equal'
      try {
        const r = attempt()
        if (r !== NOT_YET) return r
        const left = remaining(rules.deadline)
        if (left <= 0) return TIMED_OUT
        slept = await sleep(this.#host, i32, this.#event, seq, Math.min(left, rules.sliceMs), rules)
      } finally {
        this.#leave()
      }
      if (slept === 'timed-out') rules.onSlice?.()
    }
  }

  #enter(): void {
    Atomics.add(this.#i32, this.#waiters, 1)
    if (this.#shares !== undefined) Atomics.add(this.#i32, this.#shares.base + this.#shares.slot, 1)
  }

  // In the reverse order of #enter, so a share never exceeds what it added to the total.
  #leave(): void {
    // Closed while we waited: the memory may be unmapped (a detached buffer has length 0).
    if (this.#host.closed || this.#i32.length === 0) return
    if (this.#shares !== undefined) Atomics.sub(this.#i32, this.#shares.base + this.#shares.slot, 1)
    Atomics.sub(this.#i32, this.#waiters, 1)
  }

  #assertOpen(label: string): void {
    if (this.#host.closed) throw closedWhileWaiting(label)
  }
}

/** The runners' spin: `attempt` after each true return of `spin`, once or (`respin`) until `spin` says false. */
function spinThenTry<R>(attempt: () => R | NotYet, spin: () => boolean, respin: boolean): R | NotYet {
  do {
    if (!spin()) return NOT_YET
    const r = attempt()
    if (r !== NOT_YET) return r
  } while (respin)
  return NOT_YET
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
): Promise<'ok' | 'not-equal' | 'timed-out'> {
  try {
    const result = await waitWord(i32, index, expected, ms, rules.signal)
    if (host.closed) throw closedWhileWaiting(rules.label)
    return result
  } catch (error) {
    if (host.closed) throw closedWhileWaiting(rules.label)
    throw error
  }
}
