import { Pool } from '@ipc/pool'
import { describe, expect, it } from 'vitest'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)

describe.each(['process', 'thread'] as const)('Pool ordering and chunking (%s mode)', (mode) => {
  it('map returns results in input order for every chunksize', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2, mode })
    const input = Array.from({ length: 101 }, (_, i) => i)
    const expected = input.map((x) => x * x)
    for (const chunksize of [undefined, 1, 3, 7, 50, 101, 500])
      expect(await pool.map('jitterSquare', input, chunksize === undefined ? {} : { chunksize })).toEqual(expected)
    expect(await pool.map('square', [])).toEqual([])
    expect(await pool.map('square', new Set([2, 3]))).toEqual([4, 9])
  })

  it('map keeps every number exactly (chunks of numbers travel packed) and mixed chunks as they were', {
    timeout: 30_000,
  }, async () => {
    await using pool = new Pool(TASKS, { size: 2, mode })
    const odd = [Number.NaN, -0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5, 2 ** 53, -1e308, 5e-324]
    const input = Array.from({ length: 300 }, (_, i) => odd[i % odd.length] as number)
    for (const chunksize of [1, 31, 32, 100, 300]) {
      const out = await pool.map<number>('identity', input, { chunksize })
      expect(Array.isArray(out)).toBe(true)
      expect(out.length).toBe(input.length)
      expect(out.every((value, i) => Object.is(value, input[i]))).toBe(true)
      const ordered: number[] = []
      for await (const value of pool.imap<number>('identity', input, { chunksize })) ordered.push(value)
      expect(ordered.every((value, i) => Object.is(value, input[i]))).toBe(true)
    }
    // Numbers in, arrays out; a string among numbers: nothing is packed, nothing changes.
    expect(await pool.map('box', input.slice(0, 64), { chunksize: 64 })).toEqual(input.slice(0, 64).map((x) => [x]))
    const mixed = [...Array.from({ length: 40 }, (_, i) => i), 'x', 1n, null]
    expect(await pool.map('identity', mixed, { chunksize: mixed.length })).toEqual(mixed)
  })

  it('imap yields in input order; unordered yields every result once', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2, mode })
    const input = Array.from({ length: 60 }, (_, i) => i)
    const expected = input.map((x) => x * x)
    for (const chunksize of [1, 4, 60]) {
      const ordered: number[] = []
      for await (const value of pool.imap<number>('jitterSquare', input, { chunksize })) ordered.push(value)
      expect(ordered).toEqual(expected)
      const unordered: number[] = []
      for await (const value of pool.imap<number>('jitterSquare', input, { chunksize, ordered: false }))
        unordered.push(value)
      expect([...unordered].sort((a, b) => a - b)).toEqual(expected)
    }
  })

  it('imap reads async iterables too', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2, mode })
    async function* numbers() {
      for (let i = 0; i < 10; i++) yield i
    }
    const out: number[] = []
    for await (const value of pool.imap<number>('square', numbers())) out.push(value)
    expect(out).toEqual([0, 1, 4, 9, 16, 25, 36, 49, 64, 81])
  })

  it('run passes several arguments and awaits async exports', { timeout: 30_000 }, async () => {
    await using pool = new Pool(TASKS, { size: 2, mode })
    expect(await pool.run('add', [1, 2])).toBe(3)
    expect(await pool.run('add', ['a', 'b'])).toBe('ab')
    expect(await pool.run('slowSquare', [5, 1])).toBe(25)
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => pool.run('add', [i, i])))
    expect(many).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i))
    expect(pool.pending).toBe(0)
  })
})
