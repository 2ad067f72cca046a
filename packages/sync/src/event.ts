/**
 * Event: Python's multiprocessing.Event across processes and threads. One
 * flag word and one EventCount (@ipc/core's one wait loop); layout in
 * layout.ts.
 *
 * Why no wake-up is lost: `set()` stores the flag, then bumps the event
 * word and wakes every registered sleeper (EventCount.notify). A waiter
 * registers, then reads the flag once more before it sleeps on the event
 * value it read first, so a set() after that read changes the word it
 * sleeps on. A set() that finds the flag set already wakes nobody: every
 * waiter registered since then reads 1.
 *
 * What a SIGKILL can lose: a setter killed between its store and its wake
 * leaves the flag set and the sleepers asleep; each wakes at its next
 * RECHECK_MS slice and finds the flag (a late wake-up, never a lost one). A
 * waiter killed asleep leaves WAITERS one too high: one wasted wake syscall
 * per set(), never a wrong answer.
 */
import { CorruptError, IncompatibleError } from '@ipc/core'
import {
  type Attachment,
  type CreationSpec,
  checkOptionsObject,
  checkPersistent,
  checkWaitOptions,
  deadlineOf,
  EventCount,
  fromHandle,
  type Handle,
  NOT_YET,
  openPrimitive,
  Primitive,
  type PrimitiveKind,
  RECHECK_MS,
  type Segment,
  syncTimeoutOf,
  TIMED_OUT,
  WAIT_OPTIONS,
} from '@ipc/core/internal'
import { E_EVENT, E_FLAG, E_MAGIC, E_WAITERS, EVENT_BYTES, EVENT_KIND, EVENT_MAGIC } from './layout.js'
import {
  type EventOpenOptions,
  SYNC_OPTIONS,
  type SyncOptions,
  type WaitOptions,
  type WaitSyncOptions,
} from './options.js'

/** The `.handle` of an Event. */
export interface EventHandle extends Handle {
  kind: 'event'
}

interface EventAttachment extends Attachment {
  /** Word index of the flag in `segment.i32`. */
  readonly flag: number
  readonly events: EventCount
}

const EVENT: PrimitiveKind<EventAttachment, CreationSpec> = {
  segment: EVENT_KIND,
  className: 'Event',
  module: import.meta.url,
  dataBytes: () => EVENT_BYTES,
  init(created) {
    Atomics.store(created.i32, created.dataOffset / 4 + E_MAGIC, EVENT_MAGIC)
  },
  attach(opened: Segment): EventAttachment {
    const base = opened.dataOffset / 4
    if (Atomics.load(opened.i32, base + E_MAGIC) !== EVENT_MAGIC)
      throw new IncompatibleError(`Cannot open event "${opened.name}": its data is not an event's`)
    return {
      segment: opened,
      flag: base + E_FLAG,
      events: new EventCount(opened, opened.i32, base + E_EVENT, base + E_WAITERS),
    }
  },
}

function eventSpec(options: SyncOptions | undefined): CreationSpec {
  checkOptionsObject(options, SYNC_OPTIONS)
  return { name: options?.name, persistent: checkPersistent(options?.persistent) }
}

/**
 * A flag that processes and threads wait for: Python's
 * `multiprocessing.Event`. `set()` sets it and wakes every waiter, in every
 * process and thread; `clear()` resets it; `wait()` returns once it is set.
 *
 * Guarantees:
 * - `set()` happens-before every `wait()` that returns `true` because of it.
 * - A wait in progress when `set()` runs returns `true`, even if `clear()`
 *   follows before the waiter runs again (a pulse is never missed).
 * - Every waiter asleep when `set()` runs wakes up (no lost wake-up); one
 *   that calls `wait()` on a set Event returns at once, without a system call.
 * - A process that dies, even by SIGKILL, cannot leave a waiter asleep on a
 *   set Event longer than about a second (a setter killed between its store
 *   and its wake-up; otherwise waiters wake at once).
 *
 * @throws {ExistsError} `options.name` is taken.
 * @example
 * ```ts
 * const ready = new Event()
 * setTimeout(() => ready.set(), 10)
 * await ready.wait() // => true
 * ready.close()
 * ```
 * @see The tested walkthrough: apps/docs/examples/sync/stop-now.ts
 */
export class Event extends Primitive<EventAttachment, EventHandle> {
  readonly #i32: Int32Array
  readonly #flag: number
  readonly #events: EventCount
  readonly #label: string

  constructor(options?: SyncOptions) {
    super(EVENT, () => eventSpec(options))
    this.#i32 = this.attachment.segment.i32
    this.#flag = this.attachment.flag
    this.#events = this.attachment.events
    this.#label = `event "${this.name}"`
  }

  /**
   * Attaches to the event called `name`; with `create`, creates it when the
   * name does not exist (atomically: of racing processes exactly one
   * creates it, all attach to it).
   * @throws {NotFoundError} No event has that name (and `create` is not set).
   * @throws {IncompatibleError} It is not an Event.
   * @example
   * ```ts
   * const stop = Event.open('stop', { create: true })
   * ```
   */
  static open(name: string, options?: EventOpenOptions): Event {
    return openPrimitive(attachableEvent, EVENT, name, options, eventSpec, SYNC_OPTIONS)
  }

  /**
   * Attaches to the event a `.handle` describes (from `workerData`,
   * `postMessage`, `process.send`…).
   * @throws {TypeError} `handle` is not an Event's handle.
   * @throws {NotFoundError} The event no longer exists.
   * @example
   * ```ts
   * const ready = Event.from(workerData.ready)
   * ```
   */
  static from(handle: EventHandle | Handle): Event {
    return fromHandle(attachableEvent, EVENT, handle)
  }

  /**
   * True while the flag is set (Python's `is_set()`). One load, no system call.
   * @throws {ClosedError} The object was closed.
   * @throws {CorruptError} The flag word is neither 0 nor 1.
   * @example
   * ```ts
   * const event = new Event()
   * event.isSet() // => false
   * event.set()
   * event.isSet() // => true
   * event.close()
   * ```
   */
  isSet(): boolean {
    this.#assertOpen()
    return this.#read() === 1
  }

  /**
   * Sets the flag and wakes every waiter, in every process and thread.
   * Setting a set Event does nothing.
   * @throws {ClosedError} The object was closed.
   * @throws {CorruptError} The flag word was neither 0 nor 1 (it is set now).
   * @example
   * ```ts
   * const event = new Event()
   * event.set()
   * event.waitSync({ timeout: 0 }) // => true
   * event.close()
   * ```
   */
  set(): void {
    this.#assertOpen()
    const was = Atomics.exchange(this.#i32, this.#flag, 1)
    if (was === 1) return
    this.#events.notify()
    if (was !== 0) throw this.#corrupt(was)
  }

  /**
   * Clears the flag: later waits wait until the next `set()`.
   * @throws {ClosedError} The object was closed.
   * @example
   * ```ts
   * const event = new Event()
   * event.set()
   * event.clear()
   * event.isSet() // => false
   * event.close()
   * ```
   */
  clear(): void {
    this.#assertOpen()
    Atomics.store(this.#i32, this.#flag, 0)
  }

  /**
   * Resolves `true` once the flag is set (at once if it is), or `false` when
   * `timeout` ms pass first. Never blocks the event loop.
   * @throws {ClosedError} The object was closed (also while waiting).
   * @throws {CorruptError} The flag word is neither 0 nor 1.
   * @throws {RangeError} `timeout` is negative.
   * @example
   * ```ts
   * const event = new Event()
   * await event.wait({ timeout: 10 }) // => false
   * event.close()
   * ```
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    if (signal?.aborted) throw signal.reason
    this.#assertOpen()
    const seq = Atomics.load(this.#i32, this.#events.eventIndex)
    if (this.#read() === 1) return true
    if (timeout === 0) return false
    const result = await this.#events.wait(this.#attemptSince(seq), {
      deadline: deadlineOf(timeout),
      signal,
      sliceMs: RECHECK_MS,
      label: this.#label,
    })
    return result !== TIMED_OUT
  }

  /**
   * Blocks the thread until the flag is set (`true`) or `timeout` ms pass
   * (`false`). For worker threads and scripts; the signal is checked on entry.
   * @throws {ClosedError} The object was closed.
   * @throws {CorruptError} The flag word is neither 0 nor 1.
   * @example
   * ```ts
   * const event = new Event()
   * event.waitSync({ timeout: 5 }) // => false
   * event.close()
   * ```
   */
  waitSync(options?: WaitSyncOptions): boolean {
    const timeout = syncTimeoutOf(options, WAIT_OPTIONS)
    this.#assertOpen()
    const seq = Atomics.load(this.#i32, this.#events.eventIndex)
    if (this.#read() === 1) return true
    if (timeout === 0) return false
    const result = this.#events.waitSync(this.#attemptSince(seq), {
      deadline: deadlineOf(timeout),
      sliceMs: RECHECK_MS,
      label: this.#label,
    })
    return result !== TIMED_OUT
  }

  /**
   * Set now, or set since the call read EVENT (`seq`): only a set() that
   * found the flag clear bumps EVENT, so a change means the flag was set
   * during the wait, even if clear() came before this waiter ran (Python's
   * threading.Event returns true for such a pulse too).
   */
  #attemptSince(seq: number): () => true | typeof NOT_YET {
    return () => (this.#read() === 1 || Atomics.load(this.#i32, this.#events.eventIndex) !== seq ? true : NOT_YET)
  }

  /** The flag, range-checked. */
  #read(): number {
    const flag = Atomics.load(this.#i32, this.#flag)
    if (flag !== 0 && flag !== 1) throw this.#corrupt(flag)
    return flag
  }

  #corrupt(flag: number): CorruptError {
    return new CorruptError(`Cannot use ${this.#label}: its shared memory is corrupt (its flag word is ${flag})`)
  }

  #assertOpen(): void {
    this.attachment.segment.assertOpen(this.#label)
  }

  /**
   * Detaches this object (idempotent); pending waits reject with
   * `ClosedError`. The event is removed when its last object closes or its
   * last process dies, unless it is persistent.
   * @example
   * ```ts
   * const event = new Event()
   * event.close()
   * event.closed // => true
   * ```
   */
  override close(): void {
    super.close()
  }

  protected inspectFields(): Record<string, unknown> {
    return { isSet: this.#read() === 1 }
  }
}

/**
 * A Event for Primitive's `attachTo` (which supplies the attachment; no
 * creation argument is read). Outside the class body, so that the bundler
 * keeps the class's name (Event, not _Event).
 */
function attachableEvent(): Event {
  return new Event()
}
