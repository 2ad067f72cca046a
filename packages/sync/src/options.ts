/**
 * Options of Event, Condition and Barrier, and of their waiting calls.
 */
import { optionNames } from '@ipc/core/internal'
import type { Lock, RLock } from '@ipc/semaphore'

/** Options of `new Event(options)` and `new Barrier(parties, options)`. */
export interface SyncOptions {
  /**
   * The name other processes open it by (`Event.open(name)`): 1 to 200
   * bytes of UTF-8, no `/`. Creating a name that exists throws `ExistsError`.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the object (and its state: an Event's flag, a Barrier's
   * generation) after its last process detaches or dies, until `unlink()`.
   * @default false (removed with its last process)
   */
  persistent?: boolean
}

/** Options of `new Condition(lock, options)`. */
export interface ConditionOptions extends SyncOptions {}

/** What `create` of `Event.open(name, { create })` takes. */
export type EventCreateOptions = Omit<SyncOptions, 'name'>

/** What `create` of `Condition.open(name, { create })` takes: the constructor's arguments as options. */
export interface ConditionCreateOptions extends Omit<ConditionOptions, 'name'> {
  /**
   * The lock (the constructor's first argument).
   * @default a new RLock made for the condition
   */
  lock?: Lock | RLock
}

/** What `create` of `Barrier.open(name, { create })` takes: the constructor's arguments as options. */
export interface BarrierCreateOptions extends Omit<SyncOptions, 'name'> {
  /** The number of parties (the constructor's first argument). Required to create. */
  parties: number
}

/** Options of `X.open(name, options)`. */
export interface SyncOpenOptions<C> {
  /**
   * Create the object when no object has this name, atomically (of racing
   * processes exactly one creates it; all attach to it), with these options
   * (`true`: the defaults, where there are defaults). Opening an object of
   * another kind still throws `IncompatibleError`.
   * @default false (throw NotFoundError when the name does not exist)
   */
  create?: boolean | C
}

/** Options of `Event.open(name, options)`. */
export type EventOpenOptions = SyncOpenOptions<EventCreateOptions>
/** Options of `Condition.open(name, options)`. */
export type ConditionOpenOptions = SyncOpenOptions<ConditionCreateOptions>
/** Options of `Barrier.open(name, options)` (`create` must give `parties`). */
export interface BarrierOpenOptions {
  /**
   * Create the barrier when no object has this name, with these options
   * (`parties` is required), atomically under races. An existing barrier
   * is opened as it is, whatever `parties` says.
   * @default undefined (throw NotFoundError when the name does not exist)
   */
  create?: BarrierCreateOptions
}

/** Options of every waiting call: `wait()`, `waitFor()`. */
export interface WaitOptions {
  /**
   * How long to wait, in milliseconds. `0` does not wait (Event, Condition:
   * resolve `false`; Barrier: breaks the barrier unless this call is the
   * last party). Compose with a signal through `AbortSignal.any([…])`.
   * @default undefined (wait forever)
   */
  timeout?: number
  /**
   * Aborting it rejects the call with `signal.reason`. Event and Condition
   * are left as they were (a Condition's wait takes its lock back first, and
   * hands a notification it got on to another waiter); a Barrier wait that
   * had arrived breaks the barrier, as a timeout does.
   * @default undefined
   */
  signal?: AbortSignal
}

/** Options of the blocking twins (`waitSync()`, `waitForSync()`). */
export interface WaitSyncOptions {
  /**
   * How long to block the thread, in milliseconds. `0` does not wait.
   * @default undefined (wait forever)
   */
  timeout?: number
  /**
   * Checked once, on entry: an aborted signal throws `signal.reason`. A
   * blocked thread runs no event handlers, so a later abort cannot
   * interrupt it; use `timeout`.
   * @default undefined
   */
  signal?: AbortSignal
}

/** The option names of each options type (an unknown name is a TypeError). */
export const SYNC_OPTIONS = optionNames<SyncOptions>({ name: true, persistent: true })
/** `open`'s create options with the name `open` adds. */
export const CONDITION_CREATE_OPTIONS = optionNames<ConditionCreateOptions & { name: string }>({
  lock: true,
  persistent: true,
  name: true,
})
export const BARRIER_CREATE_OPTIONS = optionNames<Partial<BarrierCreateOptions> & { name: string }>({
  parties: true,
  persistent: true,
  name: true,
})
