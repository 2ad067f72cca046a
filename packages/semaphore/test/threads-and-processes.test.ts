import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { Lock } from '../src/lock.js'
import { Semaphore } from '../src/semaphore.js'
import { createBoard, GO, MAX_INSIDE, OPS, READY, VIOLATIONS } from './board.js'

const HAMMER = new URL('./fixtures/hammer.mjs', import.meta.url)
const LOCK_THREAD = new URL('./fixtures/lock-thread.mjs', import.meta.url)
const EXIT_HOLDING = new URL('./fixtures/exit-holding.mjs', import.meta.url)

describe('threads and processes together', () => {
  it('never lets more than N in across worker threads, child processes and this thread', {
    timeout: 60_000,
  }, async () => {
    const N = 2
    const ITERATIONS = 1000
    const sem = new Semaphore(N)
    const board = createBoard()
    const workers: Worker[] = []
    try {
      const args = (index: number, mode: string) => [
        JSON.stringify(sem.handle),
        board.name,
        String(index),
        String(ITERATIONS),
        mode,
        '20',
        String(N),
      ]
      workers.push(
        new Worker(HAMMER, { workerData: args(0, 'sync') }),
        new Worker(HAMMER, { workerData: args(1, 'mixed') }),
      )
      const children = [spawnChild(HAMMER, args(2, 'sync')), spawnChild(HAMMER, args(3, 'async'))]
      const exits = workers.map((w) => once(w, 'exit'))
      while (board.get(READY) < 4) await new Promise((r) => setTimeout(r, 10))
      board.set(GO, 1)
      // This thread hammers too, with async acquires (never blocking its loop).
      const base = board.segment.dataOffset / 4
      const i32 = board.segment.i32
      for (let i = 0; i < ITERATIONS; i++) {
        expect(await sem.acquire()).toBe(true)
        const inside = Atomics.add(i32, base, 1) + 1
        if (inside > N) Atomics.add(i32, base + VIOLATIONS, 1)
        if (inside > Atomics.load(i32, base + MAX_INSIDE)) Atomics.store(i32, base + MAX_INSIDE, inside)
        Atomics.sub(i32, base, 1)
        sem.release()
      }
      expect((await Promise.all(exits)).map(([code]) => code)).toEqual([0, 0])
      expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0])
      expect(board.get(VIOLATIONS)).toBe(0)
      expect(board.get(MAX_INSIDE)).toBeLessThanOrEqual(N)
      for (let i = 0; i < 4; i++) expect(board.get(OPS + i)).toBe(ITERATIONS)
      expect(sem.value).toBe(N)
    } finally {
      for (const w of workers) await w.terminate()
      sem.close()
      board.close()
    }
  })

  it('refuses a release from a thread that does not hold the Lock', { timeout: 30_000 }, async () => {
    const lock = new Lock()
    try {
      expect(lock.acquireSync()).toBe(true)
      const worker = new Worker(LOCK_THREAD, { workerData: lock.handle })
      const [refused] = (await once(worker, 'message')) as [{ name: string; message: string; locked: boolean }]
      expect(refused.name).toBe('ValueError')
      expect(refused.message).toContain('held by another object')
      expect(refused.locked).toBe(true)
      expect(lock.owned).toBe(true)
      lock.release()
      const [after] = (await once(worker, 'message')) as [{ acquired: boolean; owned: boolean }]
      expect(after).toEqual({ acquired: true, owned: true })
      await once(worker, 'exit')
      expect(lock.locked).toBe(false)
    } finally {
      lock.close()
    }
  })

  it('gives back the permit of a worker thread that exits holding it', { timeout: 30_000 }, async () => {
    const sem = new Semaphore(1)
    try {
      const worker = new Worker(EXIT_HOLDING, { workerData: sem.handle })
      const [code] = (await once(worker, 'exit')) as [number]
      expect(code).toBe(0)
      expect(sem.value).toBe(1)
    } finally {
      sem.close()
    }
  })
})
