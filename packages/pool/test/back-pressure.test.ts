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

  it('yields a result while its async source has not yielded again, and an abort ends that wait at once', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 2 })
    let returned = false
    // One input, then nothing for 10 s: a quiet socket, a slow producer.
    async function* slow() {
      try {
        yield 3
        await new Promise((resolve) => setTimeout(resolve, 10_000).unref())
        yield 4
      } finally {
        returned = true
      }
    }
    const controller = new AbortController()
    const results = pool.imap<number>('square', slow(), { signal: controller.signal, ordered: false })
    let started = performance.now()
    expect(await results.next()).toEqual({ value: 9, done: false })
    expect(performance.now() - started).toBeLessThan(5000)
    const waiting = results.next()
    await new Promise((resolve) => setTimeout(resolve, 100))
    started = performance.now()
    controller.abort()
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' })
    expect(performance.now() - started).toBeLessThan(1000)
    // The source is told to stop once its pending step ends (an async generator's return waits for it).
    expect(returned).toBe(false)
  })

  it('an abort while the caller handles a value ends the iteration there, not after the rest of its chunk', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 1 })
    const controller = new AbortController()
    const seen: number[] = []
    const ended = (async () => {
      for await (const value of pool.imap<number>('square', [1, 2, 3, 4, 5, 6], {
        chunksize: 3,
        signal: controller.signal,
      })) {
        seen.push(value)
        controller.abort()
      }
    })()
    await expect(ended).rejects.toMatchObject({ name: 'AbortError' })
    expect(seen).toEqual([1])
  })
})
