import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool, ProcessError, WorkerExitError } from '@ipc/pool'
import { describe, expect, it, onTestFinished } from 'vitest'

const MODULE = new URL('./fixtures/malformed-replies.mjs', import.meta.url)
const OK = 0
const FAILED = 1
const PART = 3

// A worker's replies come from another process: a malformed one fails its
// task with ProcessError, the worker is killed and replaced, and nothing
// throws in the parent (an unhandled rejection here fails the run).
describe('a worker that sends a malformed reply', () => {
  const runs: [string, unknown[]][] = [
    ['a failure without an error', [['ID', FAILED, null]]],
    ['an unknown status', [['ID', 99, 'x']]],
    ['a reply that is not [id, status, value]', [['ID', OK]]],
    ['partial results for a run', [['ID', PART, [1]]]],
  ]
  for (const [what, replies] of runs)
    it(`fails a run() on ${what}, and the pool goes on`, { timeout: 20_000 }, async () => {
      await using pool = new Pool(MODULE, { size: 1 })
      const error = await pool.run('send', [replies]).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ProcessError)
      expect((error as Error).message).toMatch(/sent a malformed reply/)
      expect(await pool.run('square', [7])).toBe(49)
    })

  const maps: [string, unknown[]][] = [
    ['results that are not an array', [['ID', OK, null]]],
    ['too few results', [['ID', OK, [1]]]],
    [
      'partial results that are not an array, twice',
      [
        ['ID', PART, 5],
        ['ID', PART, 5],
      ],
    ],
    ['more partial results than items', [['ID', PART, [1, 2, 3]]]],
  ]
  for (const [what, replies] of maps)
    it(`fails a map() on ${what}, and the pool goes on`, { timeout: 20_000 }, async () => {
      await using pool = new Pool(MODULE, { size: 1 })
      const settled = pool.map('sendOnce', [replies, replies], { chunksize: 2 }).catch((e: unknown) => e)
      // Busy, so that every reply is queued before the parent reads the first (they are then read at the worker's exit).
      const until = performance.now() + 300
      while (performance.now() < until) {}
      const error = await settled
      expect(error).toBeInstanceOf(ProcessError)
      expect((error as Error).message).toMatch(/sent a malformed reply/)
      expect(await pool.map('square', [1, 2, 3])).toEqual([1, 4, 9])
    })

  /**
   * A one-worker pool answers `bad` for a first task and takes an appendLine queued behind it
   * before the parent reads anything: the outcomes of both, and how many times appendLine ran.
   */
  async function behindBadReply(bad: unknown): Promise<{ first: unknown; next: unknown; runs: number }> {
    const path = join(tmpdir(), `ipc-pool-once-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`)
    onTestFinished(() => rmSync(path, { force: true }))
    await using pool = new Pool(MODULE, { size: 1 })
    expect(await pool.run('square', [2])).toBe(4)
    const first = pool.run('sendThenReturn', [[bad]]).catch((e: unknown) => e)
    const next = pool.run('appendLine', [path]).catch((e: unknown) => e)
    const until = performance.now() + 300
    while (performance.now() < until) {}
    const outcome = { first: await first, next: await next }
    expect(await pool.run('square', [3])).toBe(9)
    const runs = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0
    return { ...outcome, runs }
  }

  it('runs a task queued behind the bad reply at most once, and not on the killed worker', {
    timeout: 20_000,
  }, async () => {
    const { first, next, runs } = await behindBadReply(['ID', FAILED, null])
    expect(first).toBeInstanceOf(ProcessError)
    // It ran in the killed worker (its answer is not trusted: WorkerExitError) or, never taken, in a new one.
    if (next !== 'appended') expect(next).toBeInstanceOf(WorkerExitError)
    expect(runs).toBe(1)
  })

  it('runs a task taken after a bad reply that names no task at most once (it fails with the killed worker)', {
    timeout: 20_000,
  }, async () => {
    for (const bad of ['not an array', [1, 2]]) {
      const { first, next, runs } = await behindBadReply(bad)
      // Nothing the worker sent after its bad reply is read: both fail with it, and neither runs again.
      expect(first).toBeInstanceOf(WorkerExitError)
      if (next !== 'appended') expect(next).toBeInstanceOf(WorkerExitError)
      expect(runs).toBe(1)
    }
  })
})
