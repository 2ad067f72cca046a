/**
 * Options of Semaphore, BoundedSemaphore, Lock and RLock, and of their waiting calls.
 */
import { optionNames } from '@ipc/core/internal'

/** Options of `new Semaphore(value, options)` and `new BoundedSemaphore(value, options)`. */
export interface SemaphoreOptions {
  /**
   * The name other processes open it by (`Semaphore.open(name)`): 1 to 200
   * bytes of UTF-8, no `/`. Creating a name that exists throws `ExistsError`.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Give back the permits an object held when its process dies (even by
   * SIGKILL), so that no survivor waits forever on a dead holder. Turn it off
   * when the semaphore counts events rather than guarding a resource: when one
   * side only releases and the other only acquires (a `Semaphore(0)` that
   * signals "an item is ready"), the acquirer's permits are consumed, not
   * borrowed, and must not come back when it dies.
   * @default true
   */
  reclaim?: boolean
  /**
   * Keep the semaphore (and its count) after its last process detaches or
   * dies, until `unlink()`: a later `Semaphore.open(name)` finds it. By
   * default it is removed with its last process. Permits held by a process
   * that died still come back (`reclaim`).
   * @default false
   */
  persistent?: boolean
}

/** What `create` of `Semaphore.open(name, { create })` takes: the constructor's arguments as options. */
export interface SemaphoreCreateOptions extends Omit<SemaphoreOptions, 'name'> {
  /**
   * The initial value (the constructor's first argument).
   * @default 1
   */
  value?: number
}

/** Options of `Semaphore.open(name, options)` and `BoundedSemaphore.open(name, options)`. */
export interface SemaphoreOpenOptions {
  /**
   * Create the semaphore when no object has this name: `true` with the
   * defaults (value 1), or its options. Atomic: of processes racing on one
   * name exactly one creates it and all attach to that one. A name held by
   * another kind of primitive still throws `IncompatibleError`.
   * @default false (attach only; `NotFoundError` when the name does not exist)
   */
  create?: boolean | SemaphoreCreateOptions
}

/** Options of `new Lock(options)` and `new RLock(options)`. A lock is always taken over from a dead holder. */
export interface LockOptions {
  /**
   * The name other processes open it by (`Lock.open(name)`). Creating a name
   * that exists throws `ExistsError`.
   * @default a random, unguessable name
   */
  name?: string
  /**
   * Keep the lock after its last object detaches or its last process dies,
   * until `unlink()` (a holder that died is still taken over).
   * @default false (removed with its last process)
   */
  persistent?: boolean
}

/** Options of `Lock.open(name, options)` and `RLock.open(name, options)`. */
export interface LockOpenOptions {
  /**
   * Create the lock when no lock has that name, atomically (of racing
   * processes exactly one creates it; all attach to it), with these options
   * (`true`: the defaults). Opening an object of another kind still throws
   * `IncompatibleError`.
   * @default false (throw NotFoundError when the name does not exist)
   */
  create?: boolean | Omit<LockOptions, 'name'>
}

/** Options of `acquire()`, `permit()` and `withPermit()`. */
export interface AcquireOptions {
  /**
   * How long to wait for a permit, in milliseconds. `acquire` then resolves
   * `false` (as Python's `acquire(timeout=…)` returns False); `permit` and
   * `withPermit` reject with `TimeoutError`. `0` does not wait.
   * Compose with a signal through `AbortSignal.any([signal, AbortSignal.timeout(ms)])`.
   * @default undefined (wait forever)
   */
  timeout?: number
  /**
   * Aborting it rejects the call with `signal.reason` and takes no permit. If
   * the permit was already granted, the signal is ignored and the call resolves.
   * @default undefined
   */
  signal?: AbortSignal
}

/** Options of `acquireSync()`. */
export interface AcquireSyncOptions {
  /**
   * How long to block the thread waiting for a permit, in milliseconds;
   * `acquireSync` then returns `false`. `0` does not wait.
   * @default undefined (wait forever)
   */
  timeout?: number
  /**
   * Checked once, on entry: an aborted signal throws `signal.reason`. A blocked
   * thread runs no event handlers, so a later abort cannot interrupt the wait;
   * use `timeout`.
   * @default undefined
   */
  signal?: AbortSignal
}

/** The option names of each options type (an unknown name is a TypeError). */
export const SEMAPHORE_OPTIONS = optionNames<SemaphoreOptions>({ name: true, reclaim: true, persistent: true })
/** `open`'s create options with the name `open` adds. */
export const SEMAPHORE_CREATE_OPTIONS = optionNames<SemaphoreCreateOptions & { name: string }>({
  name: true,
  value: true,
  reclaim: true,
  persistent: true,
})
export const LOCK_OPTIONS = optionNames<LockOptions>({ name: true, persistent: true })
