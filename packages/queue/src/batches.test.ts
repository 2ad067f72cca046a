import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { DataCloneError, Empty, Full, JoinableQueue, Queue, ShutDown } from './index.js'

function queue<T>(options: ConstructorParameters<typeof Queue>[0] = {}): Queue<T> {
  const q = new Queue<T>({ name: uniqueName('batch'), ...options })
  onTestFinished(() => q.close())
  return q
}

function thrown(fn: () => unknown): Error & { item?: unknown } {
  try {
    fn()
  } catch (error) {
    return error as Error
  }
  throw new Error('it did not throw')
}

describe('Queue#putMany() and #getMany()', () => {
  it('put a batch in order and take up to max of what is there, at least one', async () => {
    const q = queue<unknown>()
    await q.putMany([1, 'two', { three: 3 }, [4], 5n])
    q.putManySync(new Set(['six', 'seven'])) // any iterable
    expect(q.qsize()).toBe(7)
    expect(await q.getMany({ max: 2 })).toEqual([1, 'two'])
    expect(q.getManySync({ max: 1 })).toEqual([{ three: 3 }])
    expect(q.getManySync()).toEqual([[4], 5n, 'six', 'seven']) // max defaults to all
    await q.putMany([])
    expect(q.empty()).toBe(true)
  })

  it('getMany waits for the first item like get, then returns what is there', async () => {
    const q = queue<number>()
    const taking = q.getMany({ max: 10 })
    setTimeout(() => q.putManySync([1, 2, 3]), 20)
    expect(await taking).toEqual([1, 2, 3])
    await expect(q.getMany({ timeout: 20 })).rejects.toBeInstanceOf(Empty)
    expect(() => q.getManySync({ timeout: 0 })).toThrow(Empty)
  })

  it('putMany waits for room, batch by batch, keeping maxsize and order', async () => {
    const q = queue<number>({ maxsize: 3 })
    const items = Array.from({ length: 20 }, (_, i) => i)
    const putting = q.putMany(items)
    const got: number[] = []
    while (got.length < items.length) {
      const batch = await q.getMany({ max: 4 })
      expect(batch.length).toBeGreaterThanOrEqual(1)
      expect(batch.length).toBeLessThanOrEqual(3) // never more than maxsize were in
      got.push(...batch)
    }
    await putting
    expect(got).toEqual(items)
  })

  it('an un-awaited put that waits keeps its place ahead of a later putMany', async () => {
    const q = queue<string>({ maxsize: 1 })
    q.putSync('a')
    void q.put('b') // waits: the queue is full
    const many = q.putMany(['c', 'd'])
    const got: string[] = []
    while (got.length < 4) got.push(...(await q.getMany()))
    await many
    expect(got).toEqual(['a', 'b', 'c', 'd'])
  })

  it('a timeout hands back the items it did not put in Full.item; the first ones stay put', async () => {
    const q = queue<number>({ maxsize: 3 })
    const error = thrown(() => q.putManySync([1, 2, 3, 4, 5], { timeout: 10 }))
    expect(error).toBeInstanceOf(Full)
    expect(error.item).toEqual([4, 5])
    expect(error.message).toMatch(/the first 3 of its 5 items were put/)
    await expect(q.putMany([6, 7], { timeout: 0 })).rejects.toMatchObject({ name: 'Full', item: [6, 7] })
    expect(q.getManySync()).toEqual([1, 2, 3])
  })

  it('after shutdown, ShutDown hands the items back; getMany drains, then throws ShutDown', async () => {
    const q = queue<number>()
    q.putManySync([1, 2])
    q.shutdown()
    await expect(q.putMany([3, 4])).rejects.toMatchObject({ name: 'ShutDown', item: [3, 4] })
    expect(await q.getMany()).toEqual([1, 2])
    expect(() => q.getManySync()).toThrow(ShutDown)
  })

  it('encodes every item first: one that cannot be cloned or is too large puts nothing', () => {
    const q = queue<unknown>({ capacity: 4096 })
    expect(() => q.putManySync([1, () => 2])).toThrow(DataCloneError)
    expect(() => q.putManySync([1, 'x'.repeat(5000)])).toThrow(RangeError)
    expect(q.qsize()).toBe(0)
  })

  it('refuses a bad max and bad items with clear errors', async () => {
    const q = queue<number>()
    for (const max of [0, -1, 1.5, Number.NaN])
      expect(() => q.getManySync({ max })).toThrow(/positive integer or Infinity/)
    expect(() => q.getManySync({ max: '3' as unknown as number })).toThrow(TypeError)
    await expect(q.putMany(42 as unknown as number[])).rejects.toThrow(/array or another iterable/)
  })

  it('an aborted signal rejects with its reason and takes nothing', async () => {
    const q = queue<number>()
    const controller = new AbortController()
    const taking = q.getMany({ signal: controller.signal })
    controller.abort(new Error('stop'))
    await expect(taking).rejects.toThrow('stop')
    q.putSync(1)
    expect(q.getManySync()).toEqual([1])
  })

  it('counts each item of a batch for JoinableQueue.join()', async () => {
    const q = new JoinableQueue<number>({ name: uniqueName('batch-join') })
    onTestFinished(() => q.close())
    q.putManySync([1, 2, 3])
    expect(await q.join({ timeout: 10 })).toBe(false)
    for (const _ of q.getManySync()) q.taskDone()
    expect(await q.join({ timeout: 1000 })).toBe(true)
  })
})
