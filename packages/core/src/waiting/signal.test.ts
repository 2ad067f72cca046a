import { describe, expect, it } from 'vitest'
import {
  afterTimeout,
  checkTimeout,
  checkWaitOptions,
  deadlineOf,
  onAbort,
  remaining,
  syncTimeoutOf,
  throwIfAborted,
  WAIT_OPTIONS,
  type WaitOptions,
  within,
} from './signal.js'

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('Expected the call to throw')
}

describe('checkTimeout()', () => {
  it('turns undefined and Infinity into Infinity and keeps other non-negative numbers', () => {
    expect(checkTimeout(undefined)).toBe(Number.POSITIVE_INFINITY)
    expect(checkTimeout(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY)
    expect(checkTimeout(0)).toBe(0)
    expect(checkTimeout(2.5)).toBe(2.5)
  })

  it('rejects a negative timeout with RangeError and a non-number with TypeError', () => {
    const negative = thrown(() => checkTimeout(-1))
    expect(negative).toBeInstanceOf(RangeError)
    expect(negative.code).toBe('ERR_OUT_OF_RANGE')
    expect(negative.message).toBe('The "timeout" option must be >= 0, received -1')
    // A null-prototype object and a throwing toString cannot be made a string: they are shown, not thrown on.
    const hostile = {
      toString() {
        throw new Error('toString ran')
      },
    }
    // util.inspect reads Symbol.toStringTag: a getter that throws there too.
    const worse = Object.defineProperty({ ...hostile }, Symbol.toStringTag, {
      get() {
        throw new Error('toStringTag ran')
      },
    })
    for (const bad of [Number.NaN, '5', null, Object.create(null), hostile, worse]) {
      const error = thrown(() => checkTimeout(bad as number))
      expect(error).toBeInstanceOf(TypeError)
      expect(error.code).toBe('ERR_INVALID_ARG_TYPE')
      expect(error.message).toMatch(/^The "timeout" option must be a number of milliseconds, received /)
    }
  })
})

describe('checkWaitOptions()', () => {
  it('defaults to no timeout and no signal', () => {
    expect(checkWaitOptions(undefined, WAIT_OPTIONS)).toEqual({ timeout: Number.POSITIVE_INFINITY, signal: undefined })
    expect(checkWaitOptions({}, WAIT_OPTIONS)).toEqual({ timeout: Number.POSITIVE_INFINITY, signal: undefined })
  })

  it('returns the timeout and the signal', () => {
    const signal = new AbortController().signal
    expect(checkWaitOptions({ timeout: 10, signal }, WAIT_OPTIONS)).toEqual({ timeout: 10, signal })
  })

  it('rejects options that are not an object and a signal that is not an AbortSignal', () => {
    expect(thrown(() => checkWaitOptions(5 as unknown as WaitOptions, WAIT_OPTIONS)).code).toBe('ERR_INVALID_ARG_TYPE')
    // Python's get(timeout=5) is seconds: the message shows the options object.
    expect(thrown(() => checkWaitOptions(5 as unknown as WaitOptions, WAIT_OPTIONS)).message).toBe(
      'The options must be an object, received the number 5. Times are milliseconds in an options object: { timeout: 5000 } waits 5 s',
    )
    expect(thrown(() => checkWaitOptions({ signal: {} as AbortSignal }, WAIT_OPTIONS)).message).toBe(
      'The "signal" option must be an AbortSignal',
    )
    expect(thrown(() => checkWaitOptions({ timeout: -3 }, WAIT_OPTIONS))).toBeInstanceOf(RangeError)
  })

  it('refuses an option name it does not know, naming the one meant', () => {
    const error = thrown(() => checkWaitOptions({ timout: 10 } as unknown as WaitOptions, WAIT_OPTIONS))
    expect(error).toBeInstanceOf(TypeError)
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(error.message).toBe(
      'Unknown option "timout" in the options. Did you mean "timeout"? Known: "timeout", "signal".',
    )
    expect(thrown(() => syncTimeoutOf({ timeOut: 10 } as unknown as WaitOptions, WAIT_OPTIONS)).message).toContain(
      'Did you mean "timeout"?',
    )
  })
})

describe('throwIfAborted()', () => {
  it('throws signal.reason only when aborted', () => {
    throwIfAborted(undefined)
    const controller = new AbortController()
    throwIfAborted(controller.signal)
    const reason = new Error('stop')
    controller.abort(reason)
    expect(thrown(() => throwIfAborted(controller.signal))).toBe(reason)
    expect(thrown(() => throwIfAborted(AbortSignal.abort())).name).toBe('AbortError')
  })
})

describe('onAbort()', () => {
  it('runs the listener once on abort', () => {
    const controller = new AbortController()
    let calls = 0
    onAbort(controller.signal, () => calls++)
    controller.abort()
    controller.abort()
    expect(calls).toBe(1)
  })

  it('returns a remover after which the listener never runs', () => {
    const controller = new AbortController()
    let calls = 0
    const remove = onAbort(controller.signal, () => calls++)
    remove()
    controller.abort()
    expect(calls).toBe(0)
    // Without a signal there is nothing to remove.
    onAbort(undefined, () => calls++)()
    expect(calls).toBe(0)
  })
})

describe('deadlineOf() / remaining()', () => {
  it('counts down from the timeout and never goes below 0', async () => {
    expect(deadlineOf(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY)
    expect(remaining(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY)
    const deadline = deadlineOf(1000)
    const left = remaining(deadline)
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThanOrEqual(1000)
    expect(remaining(deadlineOf(0))).toBe(0)
    const soon = deadlineOf(5)
    await new Promise((r) => setTimeout(r, 20))
    expect(remaining(soon)).toBe(0)
  })
})

describe('afterTimeout()', () => {
  it('fires once the time has passed, never before, and not once cancelled', async () => {
    const started = performance.now()
    const fired = await new Promise<number>((resolve) => afterTimeout(30, () => resolve(performance.now())))
    expect(fired - started).toBeGreaterThanOrEqual(30)
    let late = false
    const cancel = afterTimeout(10, () => {
      late = true
    })
    cancel()
    await new Promise((resolve) => setTimeout(resolve, 40))
    expect(late).toBe(false)
  })

  it("waits for a delay above setTimeout's limit (2 ** 31 - 1 ms), which setTimeout fires after 1 ms", async () => {
    let fired = false
    const cancels = [2 ** 31, 2 ** 31 + 5, 1e10].map((ms) =>
      afterTimeout(ms, () => {
        fired = true
      }),
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    for (const cancel of cancels) cancel()
    expect(fired).toBe(false)
    // Infinity: never, nothing armed.
    afterTimeout(Number.POSITIVE_INFINITY, () => {
      fired = true
    })()
    expect(fired).toBe(false)
  })
})

describe('within()', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  it("gives the promise's outcome when it settles in time, and never runs onLate", async () => {
    let lateRuns = 0
    const onLate = () => {
      lateRuns++
      return 'late'
    }
    expect(
      await within(
        sleep(5).then(() => 'kept'),
        200,
        onLate,
      ),
    ).toBe('kept')
    await expect(within(Promise.reject(new Error('own')), 200, onLate)).rejects.toThrow('own')
    await sleep(250)
    expect(lateRuns).toBe(0)
  })

  it("gives onLate's value or throw at the limit, once, and ignores the promise's later rejection", async () => {
    let lateRuns = 0
    const started = performance.now()
    const outcome = await within(new Promise<string>(() => {}), 30, () => {
      lateRuns++
      return 'late'
    })
    expect(outcome).toBe('late')
    expect(performance.now() - started).toBeGreaterThanOrEqual(30)
    let rejectLater: (error: Error) => void = () => {}
    const rejecting = new Promise<string>((_, reject) => {
      rejectLater = reject
    })
    await expect(
      within(rejecting, 10, () => {
        lateRuns++
        throw new TypeError('too late')
      }),
    ).rejects.toBeInstanceOf(TypeError)
    // Rejected after the limit: nobody waits for it, and vitest fails the run on an unhandled rejection.
    rejectLater(new Error('after the limit'))
    await sleep(20)
    expect(lateRuns).toBe(2)
  })
})
