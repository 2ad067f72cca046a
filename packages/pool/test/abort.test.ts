import { Pool, TimeoutError } from '@ipc/pool'
import { describe, expect, it } from 'vitest'
import { alive } from './children.js'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)

describe.each(['process', 'thread'] as const)('aborting tasks (%s mode)', (mode) => {
  it('a queued task is dropped and never runs', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1, mode })
    const running = pool.run('sleep', [300])
    const controller = new AbortController()
    const queued = pool.run('exitNow', [9], { signal: controller.signal })
    expect(pool.pending).toBe(2)
    controller.abort()
    await expect(queued).rejects.toMatchObject({ name: 'AbortError' })
    expect(pool.pending).toBe(1)
    // The running task is untouched, and the dropped one never ran (it would have exited its worker).
    const pid = await running
    expect(await pool.run('pid')).toBe(pid)
  })

  it('a running task is stopped: its worker is killed and replaced, the rest go on', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2, mode })
    const controller = new AbortController()
    const victim = pool.run<number>('sleep', [10_000], { signal: controller.signal })
    const others = Array.from({ length: 10 }, (_, i) => pool.run('slowSquare', [i, 20]))
    await new Promise((resolve) => setTimeout(resolve, 100))
    const reason = new Error('stop it')
    controller.abort(reason)
    await expect(victim).rejects.toBe(reason)
    expect(await Promise.all(others)).toEqual(Array.from({ length: 10 }, (_, i) => i * i))
    expect(await pool.run('add', [2, 2])).toBe(4)
  })

  it('an abort followed at once by terminate() rejects with the abort reason', { timeout: 30_000 }, async () => {
    const pool = new Pool(TASKS, { size: 1, mode })
    await pool.run('pid')
    const controller = new AbortController()
    const task = pool.run('sleep', [10_000], { signal: controller.signal })
    const reason = new Error('stop it')
    const rejected = expect(task).rejects.toBe(reason)
    controller.abort(reason)
    await pool.terminate()
    await rejected
  })

  it('an already aborted signal rejects before anything is queued', async () => {
    await using pool = new Pool(TASKS, { size: 1, mode })
    const reason = new Error('no')
    await expect(pool.run('add', [1, 1], { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    await expect(pool.map('square', [1], { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    expect(pool.pending).toBe(0)
  })

  it("a timeout above setTimeout's limit (2 ** 31 - 1 ms) lets the task finish", { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1, mode })
    expect(await pool.run('slowSquare', [6, 100], { timeout: 2 ** 31 + 5 })).toBe(36)
  })

  it('timeout stops a running task with TimeoutError and the pool goes on', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1, mode })
    const started = Date.now()
    const error = await pool.run('spin', [20_000], { timeout: 200 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(await pool.run('add', [1, 2])).toBe(3)
    // A queued task times out too, without running.
    const blocker = pool.run('sleep', [400])
    await expect(pool.run('exitNow', [3], { timeout: 100 })).rejects.toBeInstanceOf(TimeoutError)
    await blocker
  })

  it('aborting a map drops its queued chunks and kills the workers running its chunks', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 2, mode })
    const pids = new Set(await Promise.all([pool.run<number>('sleep', [100]), pool.run<number>('sleep', [100])]))
    const controller = new AbortController()
    const mapped = pool.map('spin', [5000, 5000, 5000, 5000], { chunksize: 1, signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 200))
    controller.abort()
    await expect(mapped).rejects.toMatchObject({ name: 'AbortError' })
    expect(pool.pending).toBe(0)
    expect(await pool.map('square', [1, 2])).toEqual([1, 4])
    if (mode === 'process') {
      await new Promise((resolve) => setTimeout(resolve, 100))
      for (const pid of pids) expect(alive(pid)).toBe(false)
    }
  })

  it('aborting a task whose result has already arrived resolves it and keeps the worker', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 1, mode })
    const pid = await pool.run<number>('pid')
    // The reply arrives while this process is busy; the abort comes before it is read. It may wait
    // in the queue, or in the hands of the get() that run() itself started on an idle worker (its
    // spin took it), which hands it over only once this code yields: repeated to meet both.
    const settled: unknown[] = []
    for (let i = 0; i < 40; i++) {
      expect(await pool.run('pid')).toBe(pid)
      const controller = new AbortController()
      const task = pool.run<number>('add', [i, 3], { signal: controller.signal })
      const end = Date.now() + 30
      while (Date.now() < end) {}
      controller.abort()
      settled.push(await task.catch((error: Error) => error.name))
    }
    expect(settled).toEqual(Array.from({ length: 40 }, (_, i) => i + 3))
  })
})
