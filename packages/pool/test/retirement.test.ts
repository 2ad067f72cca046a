import { inspect } from 'node:util'
import { Pool } from '@ipc/pool'
import { describe, expect, it } from 'vitest'
import { alive, childPids } from './children.js'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)
const KEEPS_ALIVE = new URL('./fixtures/keeps-alive.mjs', import.meta.url)
const IGNORES_EXIT = new URL('./fixtures/ignores-exit.mjs', import.meta.url)

/** Resolves `promise`, or 'timed out' after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timed out'>((resolve) => {
    timer = setTimeout(() => resolve('timed out'), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

describe('retiring a worker', () => {
  for (const mode of ['process', 'thread'] as const)
    it(`close() and join() return when the module keeps the event loop alive (${mode})`, {
      timeout: 30_000,
    }, async () => {
      const pool = new Pool(KEEPS_ALIVE, { size: 2, mode })
      try {
        expect(await pool.map('square', [1, 2, 3], { chunksize: 1 })).toEqual([1, 4, 9])
        pool.close()
        // Well under the parent's kill backstop: the workers exit on their own.
        expect(await within(pool.join(), 2000)).toBeUndefined()
        expect(inspect(pool)).toContain('workers: 0')
      } finally {
        await pool.terminate()
      }
    })

  it('maxTasksPerChild leaves no retired worker alive when the module keeps the event loop alive', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(KEEPS_ALIVE, { size: 2, maxTasksPerChild: 2 })
    const pids = new Set<number>()
    for (let i = 0; i < 12; i++) pids.add(await pool.run<number>('pid'))
    expect(pids.size).toBeGreaterThanOrEqual(6)
    const deadline = Date.now() + 2000
    while (Date.now() < deadline && childPids().filter(alive).length > 2)
      await new Promise((resolve) => setTimeout(resolve, 50))
    expect(childPids().filter(alive).length).toBeLessThanOrEqual(2)
    expect(Number(/workers: (\d+)/.exec(inspect(pool))?.[1])).toBeLessThanOrEqual(2)
  })

  it('kills a worker that is still alive a few seconds after its stop message', { timeout: 30_000 }, async () => {
    const pool = new Pool(IGNORES_EXIT, { size: 1 })
    try {
      const pid = await pool.run<number>('pid')
      pool.close()
      const started = Date.now()
      expect(await within(pool.join(), 15_000)).toBeUndefined()
      expect(Date.now() - started).toBeGreaterThanOrEqual(3000)
      expect(alive(pid)).toBe(false)
    } finally {
      await pool.terminate()
    }
  })

  it('with a full request queue neither blocks the event loop nor kills the worker', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1, maxTasksPerChild: 3 })
    await pool.run('pid')
    const first = pool.run<number>('sleep', [1500])
    await new Promise((resolve) => setTimeout(resolve, 100))
    // The third task is this worker's last: its request leaves no room in the
    // 4 MiB request ring for the stop message (measured for this encoding).
    const big = 'x'.repeat(4_194_260)
    const started = performance.now()
    const second = pool.run<string>('identity', [big])
    expect(performance.now() - started).toBeLessThan(500)
    expect(typeof (await first)).toBe('number')
    expect((await second).length).toBe(big.length)
    // The pool goes on with a new worker.
    expect(await pool.run('square', [4])).toBe(16)
  })
})
