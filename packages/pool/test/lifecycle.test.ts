import { ClosedError, Pool, ValueError } from '@ipc/pool'
import { shmSegments, spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { alive, childPids, mappedSegments } from './children.js'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)

/** The pids of every worker of a pool of `size`, each found by a task that holds its worker for a while. */
async function workerPids(pool: Pool, size: number): Promise<number[]> {
  return [...new Set(await Promise.all(Array.from({ length: size }, () => pool.run<number>('sleep', [150]))))]
}

describe('Pool lifetime', () => {
  it('maxTasksPerChild replaces workers with new processes', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2, maxTasksPerChild: 3 })
    const pids: number[] = []
    for (let i = 0; i < 12; i++) pids.push(await pool.run<number>('pid'))
    // One at a time: each worker runs 3 tasks, then a new process takes its place.
    const counts = new Map<number, number>()
    for (const pid of pids) counts.set(pid, (counts.get(pid) ?? 0) + 1)
    expect(counts.size).toBeGreaterThanOrEqual(4)
    for (const count of counts.values()) expect(count).toBeLessThanOrEqual(3)
    // map chunks count as tasks.
    expect(
      await pool.map(
        'square',
        Array.from({ length: 20 }, (_, i) => i),
        { chunksize: 1 },
      ),
    ).toEqual(Array.from({ length: 20 }, (_, i) => i * i))
  })

  it('maxTasksPerChild starts the successor once the retiring worker is done: never more than size at work', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 2, maxTasksPerChild: 1 })
    let most = 0
    const sampler = setInterval(() => {
      most = Math.max(most, childPids().length)
    }, 5)
    try {
      // Eight tasks of 300 ms. Before, each retired worker's successor started at once beside it,
      // and all eight ran at the same time in eight processes.
      await pool.map(
        'sleep',
        Array.from({ length: 8 }, () => 300),
        { chunksize: 1 },
      )
    } finally {
      clearInterval(sampler)
    }
    // Two at work, and a retired one still exiting beside its successor.
    expect(most).toBeGreaterThanOrEqual(2)
    expect(most).toBeLessThanOrEqual(4)
  })

  it('idleTimeout retires idle workers and starts new ones for new work', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2, idleTimeout: 100 })
    const before = await workerPids(pool, 2)
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(childPids().filter((pid) => before.includes(pid) && alive(pid))).toEqual([])
    const after = await workerPids(pool, 2)
    expect(after.some((pid) => before.includes(pid))).toBe(false)
  })

  it("an idleTimeout above setTimeout's limit (2 ** 31 - 1 ms) keeps idle workers", { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2, idleTimeout: 3e9 })
    const before = await workerPids(pool, 2)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(before.every((pid) => alive(pid))).toBe(true)
    expect(await workerPids(pool, 2)).toEqual(expect.arrayContaining(before))
  })

  it('close() lets queued tasks finish; join() leaves no process and no segment', { timeout: 30_000 }, async () => {
    const mappedBefore = mappedSegments()
    const pool = new Pool(TASKS, { size: 2 })
    // Only the pool's own segments: other processes may create and remove theirs meanwhile.
    const ours = mappedSegments().filter((name) => !mappedBefore.includes(name))
    expect(ours.length).toBe(4) // a request and a reply queue per worker
    const pids = await workerPids(pool, 2)
    const results = Array.from({ length: 10 }, (_, i) => pool.run('slowSquare', [i, 20]))
    pool.close()
    pool.close()
    expect(() => pool.run('add', [1, 1])).toThrow(ValueError)
    await pool.join()
    expect(await Promise.all(results)).toEqual(Array.from({ length: 10 }, (_, i) => i * i))
    for (const pid of pids) expect(alive(pid)).toBe(false)
    expect(childPids()).toEqual([])
    expect(shmSegments().filter((name) => ours.includes(name))).toEqual([])
    await pool.join()
  })

  it('terminate() kills the workers, rejects unsettled tasks, leaves no process and no segment', {
    timeout: 30_000,
  }, async () => {
    const mappedBefore = mappedSegments()
    const pool = new Pool(TASKS, { size: 2 })
    const ours = mappedSegments().filter((name) => !mappedBefore.includes(name))
    expect(ours.length).toBe(4)
    const pids = await workerPids(pool, 2)
    const running = Array.from({ length: 6 }, () => pool.run('sleep', [10_000]).catch((e: unknown) => e))
    await new Promise((resolve) => setTimeout(resolve, 50))
    await pool.terminate()
    for (const error of await Promise.all(running)) expect(error).toBeInstanceOf(ClosedError)
    for (const pid of pids) expect(alive(pid)).toBe(false)
    expect(childPids()).toEqual([])
    expect(shmSegments().filter((name) => ours.includes(name))).toEqual([])
    expect(pool.pending).toBe(0)
    await pool.terminate()
  })

  it('join() on a running pool rejects with ValueError', async () => {
    await using pool = new Pool(TASKS, { size: 1 })
    await expect(pool.join()).rejects.toBeInstanceOf(ValueError)
  })

  it('thread mode: terminate and join leave no worker thread and no segment', { timeout: 30_000 }, async () => {
    const mappedBefore = mappedSegments()
    const pool = new Pool(TASKS, { size: 2, mode: 'thread' })
    const ours = mappedSegments().filter((name) => !mappedBefore.includes(name))
    expect(await pool.run('pid')).toBe(process.pid)
    expect(await pool.map('square', [1, 2, 3])).toEqual([1, 4, 9])
    const stuck = pool.run('spin', [10_000]).catch((e: unknown) => e)
    await new Promise((resolve) => setTimeout(resolve, 50))
    await pool.terminate()
    expect(await stuck).toBeInstanceOf(ClosedError)
    expect(ours.length).toBe(4)
    expect(shmSegments().filter((name) => ours.includes(name))).toEqual([])
    expect(pool[Symbol.for('nodejs.util.inspect.custom') as never]).toBeTypeOf('function')
  })

  it('thread mode: terminating workers that wait for requests does not abort this process', {
    timeout: 60_000,
  }, async () => {
    // Regression: a wait completion delivered to a worker thread being terminated made the
    // native addon throw into a dead environment, which aborted the whole process.
    for (let round = 0; round < 10; round++) {
      const pool = new Pool(TASKS, { size: 2, mode: 'thread' })
      await pool.map(
        'identity',
        Array.from({ length: 5000 }, (_, i) => i),
        { chunksize: 1 },
      )
      const running = pool.map('spin', [1, 1, 1, 1], { chunksize: 1 }).catch(() => {})
      if (round % 2) await new Promise((resolve) => setTimeout(resolve, 5))
      await pool.terminate()
      await running
    }
    expect(childPids()).toEqual([])
  })

  for (const mode of ['process', 'thread'] as const)
    it(`a program that never closes its pool still exits, leaving no segment (${mode})`, {
      timeout: 30_000,
    }, async () => {
      const child = spawnChild(new URL('./fixtures/forgets-close.mjs', import.meta.url), [mode])
      expect(await child.exited).toBe(0)
      expect(child.stdout()).toBe('[ 2, 4, 6 ]\n')
      const mapped = JSON.parse(child.stderr().trim().split('\n').pop() ?? '[]') as string[]
      expect(mapped.length).toBeGreaterThanOrEqual(3) // the reply queue and a request queue per worker
      expect(shmSegments().filter((name) => mapped.includes(name))).toEqual([])
    })

  it('inspect shows the live state', async () => {
    const { inspect } = await import('node:util')
    await using pool = new Pool(TASKS, { size: 1, mode: 'thread' })
    expect(inspect(pool)).toMatch(
      /^Pool \{ module: '.*tasks\.mjs', mode: 'thread', size: 1, workers: 1, pending: 0, state: 'running' \}$/,
    )
  })
})
