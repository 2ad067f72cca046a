import { rmSync } from 'node:fs'
import { shmSegments, spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { alive } from './children.js'

const KILLED_PARENT = new URL('./fixtures/killed-parent.mjs', import.meta.url)

/** Polls until none of `pids` is alive, or `ms` pass; returns those still alive. */
async function survivors(pids: number[], ms: number): Promise<number[]> {
  const end = Date.now() + ms
  for (;;) {
    const left = pids.filter(alive)
    if (left.length === 0 || Date.now() > end) return left
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('a parent killed by a signal', () => {
  it.each([
    ['SIGKILL', 'sleep'],
    ['SIGTERM', 'sleep'],
    ['SIGINT', 'sleep'],
    ['SIGHUP', 'sleep'],
    // The worker listens again after each task: task code cannot take its way out away.
    ['SIGKILL', 'remove-listeners'],
  ] as const)(
    '%s: its pool workers exit, mid-task, and remove their queues (first tasks: %s)',
    { timeout: 30_000 },
    async (signal, first) => {
      const child = spawnChild(KILLED_PARENT, [first])
      let pids: number[] = []
      let names: string[] = []
      try {
        await child.waitFor('"pids"', 20_000)
        ;({ pids, names } = JSON.parse(child.stdout().trim().split('\n').pop() ?? '{}') as {
          pids: number[]
          names: string[]
        })
        expect(pids).toHaveLength(2)
        expect(pids.every(alive)).toBe(true)
        child.child.kill(signal)
        await child.exited
        expect(await survivors(pids, 5000)).toEqual([])
        expect(names.length).toBeGreaterThanOrEqual(4) // a request and a reply queue per worker
        expect(shmSegments().filter((name) => names.includes(name))).toEqual([])
      } finally {
        for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL')
        await survivors(pids, 5000)
        for (const name of names) rmSync(`/dev/shm/${name}`, { force: true })
      }
    },
  )
})
