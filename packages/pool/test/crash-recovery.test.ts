import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool, ProcessError, WorkerExitError } from '@ipc/pool'
import { elapsed } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { alive, childPids } from './children.js'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)
const EXITS_AT_IMPORT = new URL('./fixtures/exit-at-import.mjs', import.meta.url)

describe('a worker that dies mid-task', () => {
  it('SIGKILL from outside at random points fails only the tasks it was running', { timeout: 60_000 }, async () => {
    const seed = Date.now() % 100_000
    console.log(`crash-recovery seed ${seed}`)
    let state = seed
    const random = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31
      return state / 2 ** 31
    }
    await using pool = new Pool(TASKS, { size: 2 })
    const count = 300
    const settled = Array.from({ length: count }, (_, i) =>
      pool.run<[number, number]>('squareAfter', [i, 1 + Math.floor(random() * 4)]).then(
        ([square]) => ({ ok: true as const, i, square }),
        (error: unknown) => ({ ok: false as const, i, error }),
      ),
    )
    const killed: number[] = []
    for (let k = 0; k < 6; k++) {
      await new Promise((resolve) => setTimeout(resolve, 20 + random() * 60))
      const pids = childPids()
      const victim = pids[Math.floor(random() * pids.length)]
      if (victim === undefined) continue
      process.kill(victim, 'SIGKILL')
      killed.push(victim)
    }
    const results = await Promise.all(settled)
    const failures = results.filter((r) => !r.ok)
    for (const r of results) if (r.ok) expect(r.square).toBe(r.i * r.i)
    for (const f of failures) {
      expect(f.error).toBeInstanceOf(WorkerExitError)
      expect((f.error as WorkerExitError).signal).toBe('SIGKILL')
      expect((f.error as WorkerExitError).exitCode).toBeNull()
    }
    // Each kill fails at most the one task its victim was running.
    expect(failures.length).toBeLessThanOrEqual(killed.length)
    expect(results.filter((r) => r.ok).length).toBeGreaterThanOrEqual(count - killed.length)
    // The pool goes on with fresh workers.
    expect(await pool.map('square', [1, 2, 3])).toEqual([1, 4, 9])
  })

  for (const mode of ['process', 'thread'] as const)
    it(`process.exit() inside a task fails that task with its exit code (${mode})`, { timeout: 30_000 }, async () => {
      await using pool = new Pool(TASKS, { size: 2, mode })
      const others = Array.from({ length: 20 }, (_, i) => pool.run('slowSquare', [i, 2]))
      const exit = pool.run('exitNow', [7])
      const more = Array.from({ length: 20 }, (_, i) => pool.run('slowSquare', [i, 2]))
      const error = await exit.catch((e: unknown) => e)
      expect(error).toBeInstanceOf(WorkerExitError)
      expect((error as WorkerExitError).exitCode).toBe(7)
      expect((error as WorkerExitError).signal).toBeNull()
      expect(await Promise.all([...others, ...more])).toEqual([
        ...Array.from({ length: 20 }, (_, i) => i * i),
        ...Array.from({ length: 20 }, (_, i) => i * i),
      ])
    })

  it('a task that kills its own worker fails only its map chunk; imap goes on around it', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 2 })
    const input = Array.from({ length: 10 }, (_, i) => i)
    const error = await pool.map('squareDieAt5', input, { chunksize: 1 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WorkerExitError)
    expect((error as WorkerExitError).signal).toBe('SIGKILL')
    const seen: (number | string)[] = []
    for await (const value of pool.imap<number>('square', input, { chunksize: 2 })) seen.push(value)
    expect(seen).toEqual(input.map((x) => x * x))
    const iterator = pool.imap<number>('squareDieAt5', input, { chunksize: 1 })
    for (let i = 0; i < 5; i++) expect((await iterator.next()).value).toBe(i * i)
    await expect(iterator.next()).rejects.toBeInstanceOf(WorkerExitError)
    // Tasks run one at a time per worker: the others all come back.
    const runs = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => pool.run('squareOrDie', [i, [3, 7]])))
    expect(runs.map((r) => (r.status === 'fulfilled' ? r.value : 'died'))).toEqual([
      0,
      1,
      4,
      'died',
      16,
      25,
      36,
      'died',
      64,
      81,
    ])
  })
})

/** Blocks this thread until `pid` has died (a zombie: its exit is not seen here until the event loop runs). */
function blockUntilDead(pid: number): void {
  const end = Date.now() + 10_000
  while (alive(pid) && Date.now() < end) {}
}

describe('a worker that dies between tasks', () => {
  it('a task sent to a worker that had already died runs on its replacement', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1 })
    const pid = await pool.run<number>('returnThenThrow', [20])
    expect(alive(pid)).toBe(true)
    blockUntilDead(pid)
    // Sent to the dead worker (its exit is not seen yet): it never starts there.
    const task = pool.run<number>('pid')
    const ran = await task
    expect(ran).not.toBe(pid)
  })

  it('a task queued behind the last reply of a dying worker runs on its replacement', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 1 })
    const pid = await pool.run<number>('pid')
    const first = pool.run<number>('returnThenThrow', [0])
    // With a timeout it waits in the pool for an idle worker.
    const second = pool.run<number>('square', [5], { timeout: 20_000 })
    // Its last reply and its exit are both waiting when this process looks again.
    blockUntilDead(pid)
    expect(await first).toBe(pid)
    expect(await second).toBe(25)
  })
})

describe('a worker that fails before it is ready', () => {
  it('after another worker was ready, fails only its own tasks; the pool starts another', {
    timeout: 30_000,
  }, async () => {
    const flag = join(tmpdir(), `pool-fail-once-${process.pid}-${Date.now()}`)
    await using pool = new Pool(new URL('./fixtures/flaky-start.mjs', import.meta.url), {
      size: 2,
      env: { ...process.env, POOL_FAIL_ONCE: flag },
    })
    try {
      const pids = new Set(await Promise.all([pool.run<number>('sleep', [150]), pool.run<number>('sleep', [150])]))
      expect(pids.size).toBe(2)
      // The next worker to start fails to import the module, once.
      writeFileSync(flag, '')
      process.kill([...pids][0] as number, 'SIGKILL')
      await new Promise((resolve) => setTimeout(resolve, 200))
      // Long enough that tasks are still queued when the new worker fails.
      const results = await Promise.allSettled(Array.from({ length: 16 }, () => pool.run<number>('sleep', [100])))
      const failed = results.filter((r) => r.status === 'rejected')
      for (const f of failed) expect((f as PromiseRejectedResult).reason).toBeInstanceOf(ProcessError)
      // Only what that worker held fails; before, every queued task did.
      expect(failed.length).toBeLessThanOrEqual(4)
      expect(existsSync(flag)).toBe(false)
      expect(await pool.map('square', [1, 2, 3], { chunksize: 1 })).toEqual([1, 4, 9])
    } finally {
      rmSync(flag, { force: true })
    }
  })

  for (const mode of ['process', 'thread'] as const)
    it(`fails the task with ProcessError when every worker exits while importing the module (${mode}), instead of restarting without end`, {
      timeout: 30_000,
    }, async () => {
      await using pool = new Pool(EXITS_AT_IMPORT, { size: 1, mode })
      const started = performance.now()
      await expect(pool.run('square', [2])).rejects.toThrow(
        /could not start: it exited with code 3 before it was ready/,
      )
      expect(performance.now() - started).toBeLessThan(5000)
      expect(pool.pending).toBe(0)
    })

  it('fails the task when every worker exits while importing, also with maxTasksPerChild (its stop message goes out before the worker is ready)', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(EXITS_AT_IMPORT, { size: 1, maxTasksPerChild: 1 })
    await expect(pool.run('square', [2])).rejects.toThrow(/could not start: it exited with code 3 before it was ready/)
  })

  it('fails the task with ProcessError when Node itself cannot start a worker (an unknown execArgv flag)', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 1, execArgv: ['--no-such-flag-for-ipc'] })
    await expect(pool.run('square', [2])).rejects.toBeInstanceOf(ProcessError)
  })

  it('fails the waiting tasks after workers killed by a signal while importing, 4 in a row, with a back-off between starts', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(EXITS_AT_IMPORT, { size: 1, env: { ...process.env, POOL_EXIT_SIGNAL: 'SIGKILL' } })
    const started = performance.now()
    const failures = await Promise.allSettled([pool.run('square', [2]), pool.run('square', [3])])
    for (const failure of failures) {
      expect(failure.status).toBe('rejected')
      expect((failure as PromiseRejectedResult).reason).toBeInstanceOf(ProcessError)
      expect(String((failure as PromiseRejectedResult).reason.message)).toMatch(
        /the workers of 4 starts in a row ended before they were ready \(the last one was killed by SIGKILL\)/,
      )
    }
    // Three waits between the four starts: 100, 200 and 400 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(650)
  })

  it('counts workers started together and killed together before they were ready (one OOM event) as one failed start', {
    timeout: 30_000,
  }, async () => {
    const log = join(tmpdir(), `pool-starts-${process.pid}-${Date.now()}`)
    try {
      await using pool = new Pool(EXITS_AT_IMPORT, {
        size: 4,
        env: { ...process.env, POOL_EXIT_SIGNAL: 'SIGKILL', POOL_START_LOG: log },
      })
      // Four tasks: four workers start at once, and each start round dies whole.
      const failures = await Promise.allSettled([2, 3, 4, 5].map((x) => pool.run('square', [x])))
      for (const failure of failures) expect(failure.status).toBe('rejected')
      // Four rounds of four workers, after the back-off waits between them. Before, the four
      // workers of the first round were four failures in a row, and the tasks failed after
      // four to seven starts.
      expect(readFileSync(log, 'utf8').split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(13)
    } finally {
      rmSync(log, { force: true })
    }
  })

  /**
   * A one-worker pool whose worker was SIGKILLed and whose replacement failed its start (it held
   * the first of `tasks`): the rest wait out the respawn delay, with no worker running.
   */
  async function poolInRespawnDelay(): Promise<{ pool: Pool; tasks: Promise<unknown>[] }> {
    const flag = join(tmpdir(), `pool-fail-once-${process.pid}-${Date.now()}`)
    onTestFinished(() => rmSync(flag, { force: true }))
    const pool = new Pool(new URL('./fixtures/flaky-start.mjs', import.meta.url), {
      size: 1,
      env: { ...process.env, POOL_FAIL_ONCE: flag },
    })
    onTestFinished(() => pool.terminate())
    const pid = await pool.run<number>('sleep', [10])
    writeFileSync(flag, '')
    let startFailed: () => void = () => {}
    const failedStart = new Promise<void>((resolve) => {
      startFailed = resolve
    })
    const tasks = Array.from({ length: 4 }, () =>
      pool.run<number>('sleep', [10]).catch((error: unknown) => {
        if (error instanceof ProcessError) startFailed()
        return error
      }),
    )
    process.kill(pid, 'SIGKILL')
    await failedStart
    return { pool, tasks }
  }

  it('join() after close() waits for tasks still queued during the delay after a failed start', {
    timeout: 30_000,
  }, async () => {
    const { pool, tasks } = await poolInRespawnDelay()
    pool.close()
    await pool.join()
    expect(pool.pending).toBe(0)
    // Each ran in a worker started after the delay, or failed with the one that could not start,
    // except one the killed worker may have taken before the SIGKILL landed (WorkerExitError).
    const results = await Promise.all(tasks)
    const lost: unknown[] = results.filter((result) => result instanceof WorkerExitError)
    expect(lost.length).toBeLessThanOrEqual(1)
    for (const result of results)
      if (typeof result !== 'number' && !lost.includes(result)) expect(result).toBeInstanceOf(ProcessError)
    expect(results.some((result) => typeof result === 'number')).toBe(true)
  })

  it('terminate() during the delay after a failed start settles a join() already waiting', {
    timeout: 30_000,
  }, async () => {
    const { pool, tasks } = await poolInRespawnDelay()
    pool.close()
    const joined = elapsed(pool.join())
    await pool.terminate()
    // Before, no worker was left to exit, so nothing woke this join(): it never settled, and its
    // keep-alive timer kept the process from exiting.
    expect((await joined).ms).toBeLessThan(2000)
    for (const result of await Promise.all(tasks)) expect(result).toBeInstanceOf(Error)
  })
})
