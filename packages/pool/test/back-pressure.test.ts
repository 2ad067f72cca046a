import { Pool } from '@ipc/pool'
import { describe, expect, it } from 'vitest'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)

describe('imap back-pressure', () => {
  for (const ordered of [true, false])
    it(`pulls an endless generator only a bounded number ahead (ordered: ${ordered})`, {
      timeout: 30_000,
    }, async () => {
      const size = 2
      await using pool = new Pool(TASKS, { size })
      let pulled = 0
      let closed = false
      function* naturals() {
        try {
          for (let i = 0; ; i++) {
            pulled++
            yield i
          }
        } finally {
          closed = true
        }
      }
      const chunksize = 3
      let consumed = 0
      for await (const value of pool.imap<number>('slowSquare', naturals(), { ordered, chunksize })) {
        expect(typeof value).toBe('number')
        consumed++
        // A slow consumer: the pool must wait for it, not read ahead.
        await new Promise((resolve) => setTimeout(resolve, 2))
        expect(pulled - consumed).toBeLessThanOrEqual(2 * size * chunksize + chunksize)
        if (consumed === 100) break
      }
      expect(closed).toBe(true)
      expect(pulled).toBeLessThanOrEqual(100 + 2 * size * chunksize + chunksize)
      // Leaving the loop drops the queued chunks.
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(pool.pending).toBe(0)
    })
})
