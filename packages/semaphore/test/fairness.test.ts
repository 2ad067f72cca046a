import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { Semaphore } from '../src/semaphore.js'
import { createBoard, OPS, STOP } from './board.js'

const CONTENDER = new URL('./fixtures/contender.mjs', import.meta.url)

describe('fairness', () => {
  it('serves waiters while hogs re-acquire the moment they release', { timeout: 60_000 }, async () => {
    const sem = new Semaphore(1)
    const board = createBoard()
    try {
      const args = (index: number, role: string, mode: string) => [
        JSON.stringify(sem.handle),
        board.name,
        String(index),
        role,
        mode,
        role === 'hog' ? '2' : '50',
        '30',
      ]
      const hogs = [spawnChild(CONTENDER, args(0, 'hog', 'sync')), spawnChild(CONTENDER, args(1, 'hog', 'async'))]
      await Promise.all(hogs.map((h) => h.waitFor('ready', 30_000)))
      const waiters = [
        spawnChild(CONTENDER, args(2, 'waiter', 'sync')),
        spawnChild(CONTENDER, args(3, 'waiter', 'async')),
      ]
      const codes = await Promise.all(waiters.map((w) => w.exited))
      expect(codes, waiters.map((w) => w.stderr()).join('\n')).toEqual([0, 0])
      board.set(STOP, 1)
      expect(await Promise.all(hogs.map((h) => h.exited))).toEqual([0, 0])
      const longest = waiters.map(
        (w) => (JSON.parse(w.stdout().split('\n')[1] as string) as { longest: number }).longest,
      )
      console.log(
        `fairness: longest waits ${longest.map((ms) => ms.toFixed(1)).join(' ms, ')} ms; hog ops ${board.get(OPS)}, ${board.get(OPS + 1)}`,
      )
      // Every waiter got all its permits while the hogs kept going, and none
      // waited long (a generous bound: handoff starts after 2 ms).
      expect(board.get(OPS + 2)).toBe(30)
      expect(board.get(OPS + 3)).toBe(30)
      for (const ms of longest) expect(ms).toBeLessThan(2000)
      expect(board.get(OPS) + board.get(OPS + 1)).toBeGreaterThan(0)
      expect(sem.value).toBe(1)
    } finally {
      sem.close()
      board.close()
    }
  })
})
