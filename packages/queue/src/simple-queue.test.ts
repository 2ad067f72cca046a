import { inspect } from 'node:util'
import { TRANSFER } from '@ipc/core/internal'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ClosedError, DataCloneError, Empty, IncompatibleError, Queue, SimpleQueue } from './index.js'

function simple<T>(): SimpleQueue<T> {
  const q = new SimpleQueue<T>({ name: uniqueName('simple') })
  onTestFinished(() => q.close())
  return q
}

describe('SimpleQueue', () => {
  it('puts and gets in order, sync and async', async () => {
    const q = simple<unknown>()
    expect(q.empty()).toBe(true)
    await q.put('a')
    await q.put({ b: 2 })
    expect(q.empty()).toBe(false)
    expect(await q.get()).toBe('a')
    expect(q.getSync()).toEqual({ b: 2 })
    expect(() => q.getSync({ timeout: 10 })).toThrow(Empty)
  })

  it('attaches by name and by handle, and is not a Queue segment', () => {
    const q = simple<number>()
    const opened = SimpleQueue.open<number>(q.name)
    const fromHandle = SimpleQueue.from<number>(q.handle)
    onTestFinished(() => {
      opened.close()
      fromHandle.close()
    })
    void opened.put(1)
    expect(fromHandle.getSync()).toBe(1)
    expect(q.handle).toEqual({ kind: 'simple-queue', name: q.name })
    expect(() => Queue.open(q.name)).toThrow(IncompatibleError)
    expect(q[TRANSFER]().export).toBe('SimpleQueue')
  })

  it('rejects an uncloneable item and keeps the queue unchanged', async () => {
    const q = simple<unknown>()
    await expect(q.put(() => 0)).rejects.toThrow(DataCloneError)
    expect(q.empty()).toBe(true)
  })

  it('inspects and closes', async () => {
    const q = new SimpleQueue<number>({ name: uniqueName('simple') })
    await q.put(1)
    expect(inspect(q, { breakLength: Number.POSITIVE_INFINITY })).toMatch(
      /^SimpleQueue \{ name: '.*', size: 1, capacity: 1048576 \}$/,
    )
    q[Symbol.dispose]()
    q.close()
    expect(q.closed).toBe(true)
    expect(inspect(q)).toContain('closed: true')
    await expect(q.get()).rejects.toThrow(ClosedError)
  })
})
