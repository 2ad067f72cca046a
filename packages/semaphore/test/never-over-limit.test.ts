import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { Semaphore } from '../src/semaphore.js'
import { createBoard, GO, MAX_INSIDE, OPS, READY, VIOLATIONS } from './board.js'

const HAMMER = new URL('./fixtures/hammer.mjs', import.meta.url)

describe('Semaphore(N) across processes', () => {
  it('never lets more than N of 8 hammering processes in at once', { timeout: 60_000 }, async () => {
    const N = 3
    const PROCESSES = 8
    const ITERATIONS = 1500
    const sem = new Semaphore(N)
    const board = createBoard()
    try {
      const modes = ['sync', 'async', 'mixed', 'sync', 'async', 'mixed', 'sync', 'async']
      const children = modes.map((mode, i) =>
        spawnChild(HAMMER, [
          JSON.stringify(sem.handle),
          board.name,
          String(i),
          String(ITERATIONS),
          mode,
          '20',
          String(N),
        ]),
      )
      while (board.get(READY) < PROCESSES) await new Promise((r) => setTimeout(r, 10))
      board.set(GO, 1)
      const codes = await Promise.all(children.map((c) => c.exited))
      expect(codes, children.map((c) => c.stderr()).join('\n')).toEqual(new Array(PROCESSES).fill(0))
      expect(board.get(VIOLATIONS)).toBe(0)
      expect(board.get(MAX_INSIDE)).toBeLessThanOrEqual(N)
      expect(board.get(MAX_INSIDE)).toBeGreaterThanOrEqual(2)
      for (let i = 0; i < PROCESSES; i++) expect(board.get(OPS + i)).toBe(ITERATIONS)
      // Every permit came back.
      expect(sem.value).toBe(N)
    } finally {
      sem.close()
      board.close()
    }
  })
})
