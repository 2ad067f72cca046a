import { inspect } from 'node:util'
import { notifyWord, ownerCode, threadId } from '@ipc/core/internal'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ClosedError, DataCloneError, JoinableQueue, Queue, TimeoutError, ValueError } from './index.js'
import { RING_OFFSET } from './layout.js'
import { queueState } from './queue.js'

function joinable<T>(options: ConstructorParameters<typeof JoinableQueue>[0] = {}): JoinableQueue<T> {
  const q = new JoinableQueue<T>({ name: uniqueName('joinable'), ...options })
  onTestFinished(() => q.close())
  return q
}

describe('JoinableQueue#taskDone()', () => {
  it('throws ValueError when called more times than items were put', () => {
    const q = joinable<number>()
    expect(() => q.taskDone()).toThrow(ValueError)
    q.putSync(1)
    q.getSync()
    q.taskDone()
    expect(() => q.taskDone()).toThrow(
      `Cannot call taskDone() on joinable queue "${q.name}": it was called more times than items were put`,
    )
  })

  it('counts items put by any attachment', () => {
    const q = joinable<number>()
    const other = JoinableQueue.open<number>(q.name)
    onTestFinished(() => other.close())
    other.putSync(1)
    q.getSync()
    q.taskDone()
    expect(() => other.taskDone()).toThrow(ValueError)
  })
})

describe('JoinableQueue#join()', () => {
  it('resolves true at once when nothing is unfinished', async () => {
    const q = joinable()
    expect(await q.join()).toBe(true)
    expect(q.joinSync({ timeout: 0 })).toBe(true)
  })

  it('counts an item a get dropped as too deep to revive as done (no one can call taskDone for it)', async () => {
    let deep = {}
    for (let i = 0; i < 3000; i++) deep = { inner: deep }
    const q = joinable<unknown>()
    const other = JoinableQueue.open<unknown>(q.name)
    onTestFinished(() => other.close())
    await q.put(deep)
    await q.put('next')
    const joined = other.join({ timeout: 10_000 })
    await expect(q.get()).rejects.toThrow(DataCloneError)
    expect(q.joinSync({ timeout: 0 })).toBe(false)
    expect(q.getSync()).toBe('next')
    q.taskDone()
    expect(await joined).toBe(true)
    // The queue goes on in every attachment.
    await other.put('again')
    expect(await q.get()).toBe('again')
  })

  it('waits until every item is marked done', async () => {
    const q = joinable<number>()
    for (let i = 0; i < 3; i++) await q.put(i)
    let joined = false
    const pending = q.join().then((result) => {
      joined = true
      return result
    })
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 5))
      expect(joined).toBe(false)
      q.getSync()
      q.taskDone()
    }
    expect(await pending).toBe(true)
  })

  it('resolves false after the timeout while items are unfinished', async () => {
    const q = joinable<number>()
    q.putSync(1)
    expect(await q.join({ timeout: 20 })).toBe(false)
    expect(q.joinSync({ timeout: 20 })).toBe(false)
    q.getSync()
    q.taskDone()
    expect(q.joinSync({ timeout: 20 })).toBe(true)
  })

  it('rejects with signal.reason on abort', async () => {
    const q = joinable<number>()
    q.putSync(1)
    await expect(q.join({ signal: AbortSignal.timeout(20) })).rejects.toMatchObject({ name: 'TimeoutError' })
    expect(() => q.joinSync({ signal: AbortSignal.abort() })).toThrow()
  })

  it('returns when shutdown({ immediate: true }) drops the unfinished items', async () => {
    const q = joinable<number>()
    for (let i = 0; i < 4; i++) q.putSync(i)
    q.getSync()
    const pending = q.join()
    q.shutdown({ immediate: true })
    // Three were dropped (counted done); the one taken still needs its taskDone.
    expect(await q.join({ timeout: 20 })).toBe(false)
    q.taskDone()
    expect(await pending).toBe(true)
    expect(() => q.taskDone()).toThrow(ValueError)
  })

  it('counts the items a shutdown({ immediate: true }) dropped before it threw TimeoutError part-way', {
    timeout: 10_000,
  }, async () => {
    const q = joinable<number>()
    for (let i = 0; i < 10; i++) q.putSync(i)
    const other = JoinableQueue.open<number>(q.name)
    onTestFinished(() => other.close())
    // White box: after the third drop, the consumer lock word (mpmc-ring.ts's C_LOCK, word 16) names
    // the other, live attachment, as a process stopped while it holds the lock would.
    const { segment } = queueState(other as unknown as Queue<unknown>)
    const lock = (segment.dataOffset + RING_OFFSET) / 4 + 16
    const state = queueState(q as unknown as Queue<unknown>)
    const count = state.onDropped
    let drops = 0
    state.onDropped = () => {
      count?.()
      if (++drops === 3) Atomics.store(segment.i32, lock, ownerCode(segment.slot, threadId()))
    }
    expect(() => q.shutdown({ immediate: true })).toThrow(TimeoutError)
    expect(drops).toBe(3)
    Atomics.store(segment.i32, lock, 0)
    notifyWord(segment.i32, lock, 1)
    // The seven left are taken and done; the three dropped were counted done as they went.
    for (let i = 3; i < 10; i++) {
      expect(other.getNowait()).toBe(i)
      other.taskDone()
    }
    expect(await q.join({ timeout: 1000 })).toBe(true)
  })

  it('rejects a pending join with ClosedError that says the queue was closed while it waited', async () => {
    const q = new JoinableQueue<number>({ name: uniqueName('joinable') })
    await q.put(1)
    const pending = q.join()
    await new Promise((r) => setTimeout(r, 10))
    q.close()
    await expect(pending).rejects.toThrow(`Cannot use joinable queue "${q.name}": it was closed while the call waited`)
  })

  it('throws ClosedError after close', async () => {
    const q = new JoinableQueue({ name: uniqueName('joinable') })
    q.close()
    await expect(q.join()).rejects.toThrow(ClosedError)
    expect(() => q.taskDone()).toThrow(ClosedError)
  })
})

describe('JoinableQueue', () => {
  it('is a Queue with its own handle kind and inspect output', () => {
    const q = joinable<number>()
    expect(q).toBeInstanceOf(Queue)
    expect(q.handle).toEqual({ kind: 'joinable-queue', name: q.name })
    const fromHandle = JoinableQueue.from<number>(q.handle)
    onTestFinished(() => fromHandle.close())
    q.putSync(5)
    expect(inspect(q)).toContain('unfinished: 1')
    expect(inspect(q)).toMatch(/^JoinableQueue \{/)
    expect(fromHandle.getSync()).toBe(5)
    expect(() => JoinableQueue.from({ kind: 'queue', name: q.name })).toThrow(TypeError)
  })
})
