/**
 * Timeouts and AbortSignals, the same for every waiting call: `timeout` in
 * milliseconds (`undefined` waits forever, `0` does not wait), and an aborted
 * signal rejects with `signal.reason`.
 */
import { invalidArgType, outOfRange, shown } from '../errors.js'
import { checkOptionNames, type OptionNames, optionNames } from '../option-names.js'

/** The options of every call that can wait. */
export interface WaitOptions {
  /**
   * How long to wait, in milliseconds. `0` does not wait at all.
   * @default undefined (wait forever)
   */
  timeout?: number
  /** Aborting it ends the wait with `signal.reason`; nothing is taken or lost. */
  signal?: AbortSignal
}

/** The names of `WaitOptions`, for the calls whose options are just those. */
export const WAIT_OPTIONS = optionNames<WaitOptions>({ timeout: true, signal: true })

/**
 * Validates a timeout (or another option of ms, named `name`, such as a
 * pool's `idleTimeout`); returns it as a number of ms, or Infinity for none.
 * Not a number, NaN included, is a TypeError; a negative number a RangeError.
 */
export function checkTimeout(timeout: number | undefined, name = 'timeout'): number {
  if (timeout === undefined || timeout === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY
  if (typeof timeout !== 'number' || Number.isNaN(timeout))
    throw invalidArgType(`The "${name}" option must be a number of milliseconds, received ${shown(timeout)}`)
  if (timeout < 0) throw outOfRange(`The "${name}" option must be >= 0, received ${timeout}`)
  return timeout
}

/** What no options mean: wait forever, no signal (one frozen object: the hot paths pass none). */
const NO_WAIT_OPTIONS: { readonly timeout: number; readonly signal: AbortSignal | undefined } = Object.freeze({
  timeout: Number.POSITIVE_INFINITY,
  signal: undefined,
})

/**
 * Validates the options object of a waiting call, whose option names are
 * `names` (`WAIT_OPTIONS`, or the call's own set when it takes more: the
 * caller checks those).
 */
export function checkWaitOptions<O extends WaitOptions>(
  options: O | undefined,
  names: NoInfer<OptionNames<O>>,
): {
  readonly timeout: number
  readonly signal: AbortSignal | undefined
} {
  if (options === undefined || options === null) return NO_WAIT_OPTIONS
  if (typeof options === 'number')
    throw invalidArgType(
      `The options must be an object, received the number ${options}. Times are milliseconds in an options object: { timeout: ${Number.isFinite(options) ? options * 1000 : 'ms'} } waits ${Number.isFinite(options) ? `${options} s` : 'that long'}`,
    )
  if (typeof options !== 'object') throw invalidArgType(`The options must be an object, received ${typeof options}`)
  checkOptionNames(options, names)
  const signal = options.signal
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw invalidArgType('The "signal" option must be an AbortSignal')
  return { timeout: checkTimeout(options.timeout), signal }
}

/**
 * The timeout of a blocking (`…Sync`) call's options, in ms (Infinity for
 * none). Its signal is checked once, here: nothing can abort a blocked thread
 * later, so an aborted signal throws its reason now.
 */
export function syncTimeoutOf<O extends WaitOptions>(options: O | undefined, names: NoInfer<OptionNames<O>>): number {
  if (options === undefined) return Number.POSITIVE_INFINITY
  const { timeout, signal } = checkWaitOptions(options, names)
  if (signal?.aborted) throw signal.reason
  return timeout
}

/** Throws `signal.reason` when the signal is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason
}

/** Runs `listener` once when `signal` aborts; returns a function that removes it. */
export function onAbort(signal: AbortSignal | undefined, listener: () => void): () => void {
  if (signal === undefined) return () => {}
  signal.addEventListener('abort', listener, { once: true })
  return () => signal.removeEventListener('abort', listener)
}

/** Milliseconds left until `deadline` (a performance.now() time), at least 0. */
export function remaining(deadline: number): number {
  return deadline === Number.POSITIVE_INFINITY ? deadline : Math.max(0, deadline - performance.now())
}

/** The performance.now() time at which `timeout` ms from now ends. */
export function deadlineOf(timeout: number): number {
  return timeout === Number.POSITIVE_INFINITY ? timeout : performance.now() + timeout
}

/** setTimeout's longest delay: it fires a longer one after 1 ms instead. */
const MAX_TIMER_MS = 0x7fffffff

/**
 * Calls `fn` once `ms` milliseconds have passed, for any `ms` up to Infinity
 * (never): setTimeout fires a delay above 2 ** 31 - 1 ms (about 24.8 days)
 * after 1 ms instead, so a long one is armed in steps. Each step checks
 * `performance.now()`, so an early fire (libuv's loop clock lags it by up to a
 * millisecond) re-arms rather than ending a wait before its deadline. Always
 * asynchronous. With `unref`, the timer does not keep the event loop alive.
 * Returns what cancels it.
 */
export function afterTimeout(ms: number, fn: () => void, unref = false): () => void {
  if (ms === Number.POSITIVE_INFINITY) return () => {}
  const deadline = performance.now() + ms
  let timer: NodeJS.Timeout | undefined
  const arm = (delay: number) => {
    timer = setTimeout(step, Math.min(Math.max(delay, 0), MAX_TIMER_MS))
    if (unref) timer.unref()
  }
  const step = () => {
    const left = deadline - performance.now()
    if (left > 0) arm(left)
    else fn()
  }
  arm(ms)
  return () => clearTimeout(timer)
}

/**
 * `promise`'s outcome if it settles within `ms` milliseconds (afterTimeout's
 * clock), else `onLate`'s: what it returns, or what it throws. `onLate` runs
 * at most once, at the limit, and the timer is cancelled once either side
 * settles. `promise` is left to settle on its own: its later outcome is
 * ignored, a rejection included (no unhandled rejection).
 */
export function within<T, L>(promise: Promise<T>, ms: number, onLate: () => L): Promise<T | L> {
  let cancel = () => {}
  const late = new Promise<L>((resolve, reject) => {
    cancel = afterTimeout(ms, () => {
      try {
        resolve(onLate())
      } catch (error) {
        reject(error)
      }
    })
  })
  return Promise.race([promise, late]).finally(cancel)
}
