/**
 * Timing of calls that must end within a bound: how long each took to
 * settle, and what it settled with.
 */
import { expect } from 'vitest'

export interface Elapsed<T> {
  ms: number
  /** The value, or the error it rejected with. */
  outcome: T | unknown
}

/** How long `work` took to settle (from now), and its value or error. */
export async function elapsed<T>(work: Promise<T>): Promise<Elapsed<T>> {
  const start = performance.now()
  const outcome = await work.catch((error: unknown) => error)
  return { ms: performance.now() - start, outcome }
}

/**
 * Expects each call (named, all started together) to reject with `errorClass`
 * saying the server "did not answer within `limit` ms", about `limit` ms
 * after it started (not earlier than 500 ms before, nor later than 2 s after).
 */
export async function expectEachUnanswered(
  calls: Record<string, Promise<Elapsed<unknown>>>,
  limit: number,
  errorClass: new (...args: never[]) => Error,
): Promise<void> {
  for (const [call, work] of Object.entries(calls)) {
    const { ms, outcome } = await work
    expect(outcome, call).toBeInstanceOf(errorClass)
    expect((outcome as Error).message, call).toMatch(new RegExp(`did not answer within ${limit} ms`))
    expect(ms, call).toBeGreaterThan(limit - 500)
    expect(ms, call).toBeLessThan(limit + 2000)
  }
}
