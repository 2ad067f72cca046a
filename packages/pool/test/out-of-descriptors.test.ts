import { fileURLToPath } from 'node:url'
import { shmSegments, spawnCommand } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'

const FEW_FDS = fileURLToPath(new URL('./fixtures/few-fds.mjs', import.meta.url))
const RESPAWN = fileURLToPath(new URL('./fixtures/respawn-out-of-fds.mjs', import.meta.url))

interface Outcome {
  free: number | 'all'
  result?: number
  thrown?: boolean
  error?: string
  message?: string
  causes?: string[]
}

describe('a pool out of file descriptors', () => {
  it('fails with a typed error, the errno in its cause chain, and leaves no segment behind', {
    timeout: 60_000,
  }, async () => {
    // A real limit: the fixture fills what `ulimit -n` leaves, then frees 1 to 10 descriptors per
    // attempt, so some attempt has too few for fork() (EMFILE), whatever Node itself holds open.
    const child = spawnCommand(['sh', '-c', 'ulimit -n 64 && exec "$0" "$1"', process.execPath, FEW_FDS])
    expect(await child.exited, child.stderr()).toBe(0)
    const { outcomes, names } = JSON.parse(child.stdout().trim().split('\n').pop() ?? '{}') as {
      outcomes: Outcome[]
      names: string[]
    }
    for (const outcome of outcomes) {
      if (outcome.error === undefined) {
        expect(outcome.result, JSON.stringify(outcome)).toBe(1)
        continue
      }
      // Never `TypeError: child.send is not a function`: a library error, caused by the errno.
      expect(['ProcessError', 'IpcError'], JSON.stringify(outcome)).toContain(outcome.error)
      expect(
        outcome.causes?.some((code) => code === 'EMFILE' || code === 'ENFILE'),
        JSON.stringify(outcome),
      ).toBe(true)
    }
    // The fork itself failed in some attempt (not only the queues' shm_open before it).
    expect(outcomes.some((o) => o.error === 'ProcessError' && o.causes?.includes('EMFILE'))).toBe(true)
    // With descriptors again, a pool works.
    expect(outcomes.at(-1)).toEqual({ free: 'all', result: 1 })
    expect(names.length).toBeGreaterThan(0)
    expect(shmSegments().filter((name) => names.includes(name))).toEqual([])
  })

  it('runs the tasks on the live worker when a replacement cannot start for lack of descriptors', {
    timeout: 90_000,
  }, async () => {
    const child = spawnCommand(['sh', '-c', 'ulimit -n 64 && exec "$0" "$1"', process.execPath, RESPAWN])
    expect(await child.exited, child.stderr()).toBe(0)
    const results = JSON.parse(child.stdout().trim().split('\n').pop() ?? '[]') as {
      free: number
      pids: number
      outcomes: unknown[]
    }[]
    expect(results).toHaveLength(9)
    for (const { free, pids, outcomes } of results) {
      expect(pids, `free ${free}`).toBe(2)
      // Before, the tasks sent to the worker that could not start failed with its EMFILE.
      expect(outcomes, `free ${free}`).toEqual([1, 1, 1, 1, 1, 1])
    }
  })
})
