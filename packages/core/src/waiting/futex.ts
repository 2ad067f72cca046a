/**
 * wait / waitSync / notify on a 32-bit word of shared memory, across threads
 * and processes (Linux futexes; V8's own Atomics.wait/notify only reach
 * threads of one process).
 *
 * Async waits never use the libuv pool, so they never starve fs or dns and
 * never block the event loop. On Linux 6.7+ they are io_uring futex waits
 * whose completion wakes this thread's event loop ('uring' mode); otherwise
 * native waiter threads serve them (see native/futex.cc): 'waitv' (Linux
 * 5.16+, or IPC_NO_IO_URING=1), or one small thread per pending wait on older
 * kernels or with IPC_NO_FUTEX_WAITV=1 ('threads' mode), where a cancel wakes
 * the word's other sleepers spuriously. Every caller re-checks its state
 * after 'ok'. A pending async wait keeps the event loop alive, like a timer.
 */
import { types } from 'node:util'
import { ClosedError, invalidArgType, outOfRange, shown, systemError } from '../errors.js'
import { native } from '../native.js'
import { optionNames } from '../option-names.js'
import { runtime } from '../runtime.js'
import { afterTimeout, checkWaitOptions, onAbort, syncTimeoutOf, WAIT_OPTIONS, type WaitOptions } from './signal.js'
import { fileTick, type GridTick, unfileTick } from './tick-grid.js'

/** The names of `waitSync`'s options (no signal: nothing can abort a blocked thread). */
const WAIT_SYNC_OPTIONS = optionNames<{ timeout?: number }>({ timeout: true })

/** How a wait ended: woken by `notify`, the word did not hold `expected`, or the timeout passed. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out'

const RESULTS: readonly WaitResult[] = ['ok', 'not-equal', 'timed-out']

/** How async waits sleep (see `asyncWaitMode`). */
export type AsyncWaitMode = 'uring' | 'waitv' | 'threads'

/** The call whose failure a `waitAsync` error reports, by mode. */
const SYSCALL_OF_MODE: Record<AsyncWaitMode, string> = {
  uring: 'io_uring_enter',
  waitv: 'futex_waitv',
  threads: 'pthread_create',
}
const INT32_MAX = 0x7fffffff

function checkWord(i32: Int32Array, index: number): void {
  if (!types.isInt32Array(i32)) throw invalidArgType('The "i32" argument must be an Int32Array')
  if (!Number.isInteger(index) || index < 0 || index >= i32.length)
    throw outOfRange(`The "index" argument must be an integer in [0, ${i32.length}), received ${shown(index)}`)
}

/** An int32, as the word holds it: 2 ** 40 must not become 0 (nor 2 ** 32 + 5 become 5). */
function checkExpected(expected: number): number {
  if (typeof expected !== 'number' || !Number.isInteger(expected))
    throw invalidArgType(`The "expected" argument must be an integer, received ${shown(expected)}`)
  if (expected < -0x80000000 || expected > INT32_MAX)
    throw outOfRange(`The "expected" argument must be an int32 (-2147483648 to 2147483647), received ${expected}`)
  return expected
}

/**
 * What an async wait on a plain ArrayBuffer gets. Its memory could be
 * transferred to another thread and freed while the wait is pending (the
 * native waiter would then read freed memory), so only memory that stays
 * mapped while the array is reachable is accepted, as by Atomics.waitAsync.
 */
function notSharedMemory(): TypeError {
  return invalidArgType(
    'The "i32" argument of wait() must be a view of a SharedArrayBuffer or of @ipc shared memory (a segment), not of an ArrayBuffer',
  )
}

/** Throws unless `i32` is over a SharedArrayBuffer or a live segment mapping (see notSharedMemory). */
function checkSharedMemory(i32: Int32Array): void {
  const buffer = i32.buffer
  // An older binding (loaded first by an older copy of @ipc/core) cannot tell: its waitAsync decides.
  if (!types.isSharedArrayBuffer(buffer) && native().isMapping?.(buffer as ArrayBuffer) === false)
    throw notSharedMemory()
}

/** Blocks until notified, without validating arguments. For @ipc packages. */
export function waitWordSync(i32: Int32Array, index: number, expected: number, timeout: number): WaitResult {
  const r = native().futexWait(i32, index, expected, timeout === Number.POSITIVE_INFINITY ? -1 : timeout)
  if (r < 0) throw systemError(-r, 'futex_wait')
  return RESULTS[r] as WaitResult
}

function installCallback(): void {
  const rt = runtime()
  if (rt.callbackInstalled) return
  const rc = native().onWaitComplete((batch) => {
    for (let i = 0; i < batch.length; i += 2) rt.waits.get(batch[i] as number)?.settle('ok')
  })
  if (rc < 0) throw systemError(-rc, 'onWaitComplete')
  rt.callbackInstalled = true
}

/**
 * A look at the state every `ms()` ms while an async wait stays registered
 * (see `waitWord`): `run()` returns true to end the wait ('ticked'). It must
 * not throw.
 */
export interface WaitTick {
  ms(): number
  run(): boolean
}

/**
 * Waits without blocking the event loop, without validating arguments. For @ipc
 * packages. Rejects with ClosedError when the segment holding the word is closed.
 *
 * With `tick`, the native wait stays registered across ticks (no cancel and
 * re-register per look: an idle waiter's periodic re-check costs a timer
 * callback, not two wake-ups of the waiter thread), and the wait ends
 * 'ticked' when `tick.run()` returns true. A tick that finds the wake-up
 * already queued leaves it to settle the wait ('ok').
 */
export function waitWord(
  i32: Int32Array,
  index: number,
  expected: number,
  timeout: number,
  signal?: AbortSignal,
  tick?: WaitTick,
): Promise<WaitResult | 'ticked'> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  if (Atomics.load(i32, index) !== expected) return Promise.resolve('not-equal')
  if (timeout <= 0) return Promise.resolve('timed-out')
  const rt = runtime()
  installCallback()
  const bin = native()
  const id = rt.nextWaitId++
  const rc = bin.waitAsync(i32, index, expected, id)
  if (rc === 1) return Promise.resolve('not-equal')
  if (rc === 2) return Promise.reject(notSharedMemory())
  if (rc < 0) return Promise.reject(systemError(-rc, SYSCALL_OF_MODE[asyncWaitMode()]))
  return new Promise<WaitResult | 'ticked'>((resolve, reject) => {
    let cancelTimer = () => {}
    let removeAbort = () => {}
    // The wait's periodic look, on the process's shared grid (tick-grid.ts).
    const look: GridTick | undefined =
      tick === undefined
        ? undefined
        : {
            run: () => {
              const done = tick.run()
              // run() may have settled the wait itself (an abort, a close reaching cancelWaitsOn).
              if (!rt.waits.has(id)) return
              if (done) end('ticked')
              else fileTick(look as GridTick, tick.ms())
            },
          }
    const finish = () => {
      rt.waits.delete(id)
      cancelTimer()
      if (look !== undefined) unfileTick(look)
      removeAbort()
    }
    // If cancelWait returns false, the wake already happened and its
    // completion is queued: it settles the promise with 'ok'.
    const end = (result: 'timed-out' | 'ticked') => {
      if (bin.cancelWait(id)) {
        finish()
        resolve(result)
      }
    }
    rt.waits.set(id, {
      buffer: i32.buffer,
      settle(result) {
        finish()
        if (result === 'ok') resolve('ok')
        else reject(new ClosedError('Cannot wait: the shared memory holding the word was closed'))
      },
    })
    // The timer is armed last: `finish()` takes back all three.
    if (look !== undefined && tick !== undefined) fileTick(look, tick.ms())
    removeAbort = onAbort(signal, () => {
      if (bin.cancelWait(id)) {
        finish()
        reject(signal?.reason)
      }
    })
    cancelTimer = afterTimeout(timeout, () => end('timed-out'))
  })
}

/**
 * How async waits sleep in this thread, chosen once per process when the
 * addon loads: `'uring'` (io_uring futex waits, Linux 6.7+: the notify wakes
 * this thread's event loop itself, no waiter thread; skipped with
 * IPC_NO_IO_URING=1 or where io_uring is denied), else `'waitv'`
 * (futex_waitv, Linux 5.16+: a few threads serve many waits), else
 * `'threads'` (a thread per pending wait in plain FUTEX_WAIT: older kernels,
 * or forced by IPC_NO_FUTEX_WAITV=1). A thread whose ring cannot be set up
 * at its first async wait uses the next mode. For @ipc packages and tests.
 */
export function asyncWaitMode(): AsyncWaitMode {
  return native().waitMode()
}

/** Ends every pending async wait on `buffer` with ClosedError; call before unmapping it. */
export function cancelWaitsOn(buffer: ArrayBufferLike): void {
  const rt = runtime()
  if (rt.waits.size === 0) return
  const bin = native()
  for (const [id, w] of rt.waits) {
    if (w.buffer === buffer && bin.cancelWait(id)) w.settle('closed')
  }
}

/**
 * Wakes up to `count` waiters on `i32[index]` in any thread or process.
 * Returns how many were woken. Change the word before notifying: a waiter
 * that sees the word still equal to its `expected` goes back to sleep.
 *
 * @example
 * ```ts
 * Atomics.store(i32, 0, 1)
 * notify(i32, 0) // => number of waiters woken
 * ```
 */
export function notify(i32: Int32Array, index: number, count: number = Number.POSITIVE_INFINITY): number {
  checkWord(i32, index)
  if (
    typeof count !== 'number' ||
    Number.isNaN(count) ||
    count < 0 ||
    (!Number.isInteger(count) && count !== Number.POSITIVE_INFINITY)
  )
    throw outOfRange(`The "count" argument must be a non-negative integer, received ${shown(count)}`)
  const rc = native().futexWake(i32, index, Math.min(count, INT32_MAX))
  if (rc < 0) throw systemError(-rc, 'futex_wake')
  return rc
}

/** Wakes waiters without validating arguments. For @ipc packages. */
export function notifyWord(i32: Int32Array, index: number, count: number = INT32_MAX): number {
  return native().futexWake(i32, index, count)
}

/**
 * Blocks the calling thread until `i32[index]` is notified, or returns
 * `'not-equal'` at once when it does not hold `expected`. Works on memory
 * shared between processes (a segment) and between threads (a SharedArrayBuffer).
 *
 * @example
 * ```ts
 * const i32 = new Int32Array(new SharedArrayBuffer(4))
 * waitSync(i32, 0, 0, { timeout: 10 }) // => 'timed-out'
 * ```
 */
export function waitSync(i32: Int32Array, index: number, expected: number, options?: { timeout?: number }): WaitResult {
  checkWord(i32, index)
  const value = checkExpected(expected)
  const timeout = syncTimeoutOf(options, WAIT_SYNC_OPTIONS)
  return waitWordSync(i32, index, value, timeout)
}

/**
 * Waits until `i32[index]` is notified, without blocking the event loop.
 * Resolves `'not-equal'` at once when the word does not hold `expected`,
 * `'timed-out'` when `timeout` ms pass. An aborted `signal` rejects with
 * `signal.reason`.
 *
 * Guarantee: a `notify` that follows a change of the word wakes every wait that
 * began before the change, in this or any other process.
 *
 * @example
 * ```ts
 * const i32 = new Int32Array(new SharedArrayBuffer(4))
 * setTimeout(() => { Atomics.store(i32, 0, 1); notify(i32, 0) }, 10)
 * await wait(i32, 0, 0) // => 'ok'
 * ```
 */
export function wait(i32: Int32Array, index: number, expected: number, options?: WaitOptions): Promise<WaitResult> {
  try {
    checkWord(i32, index)
    checkSharedMemory(i32)
    const value = checkExpected(expected)
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    return waitWord(i32, index, value, timeout, signal) as Promise<WaitResult>
  } catch (error) {
    return Promise.reject(error)
  }
}
