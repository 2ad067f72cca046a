/**
 * RobustLock between real processes and worker threads: mutual exclusion, and
 * recovery when the holder is SIGKILLed, its worker thread exits, or is terminated.
 */
import { Worker } from 'node:worker_threads'
import { RobustLock, Segment } from '@ipc/core/internal'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const KIND = { kind: 'test-lock-x', version: 1 }
const participant = new URL('./fixtures/lock-participant.mjs', import.meta.url)

function shared(): { segment: Segment; lock: RobustLock; counter: Int32Array } {
  const segment = Segment.create(KIND, 128, { name: uniqueName('lock') })
  onTestFinished(() => segment.close())
  return {
    segment,
    lock: new RobustLock(segment, segment.dataOffset),
    counter: new Int32Array(segment.buffer, segment.dataOffset + 64, 1),
  }
}

/** Starts lock-participant.mjs in a worker thread; resolves its messages through `next()`. */
function worker(args: string[]): { worker: Worker; next(): Promise<string>; exited: Promise<number> } {
  const thread = new Worker(participant, { workerData: args })
  const messages: string[] = []
  const waiting: ((message: string) => void)[] = []
  thread.on('message', (message: string) => {
    const resolve = waiting.shift()
    if (resolve) resolve(message)
    else messages.push(message)
  })
  const exited = new Promise<number>((resolve) => thread.once('exit', resolve))
  onTestFinished(async () => {
    await thread.terminate()
  })
  return {
    worker: thread,
    exited,
    next: () => {
      const queued = messages.shift()
      return queued === undefined ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve(queued)
    },
  }
}

describe('RobustLock across processes', () => {
  it('3 processes and this one, sync and async, lose no plain increment made under the lock', {
    timeout: 60_000,
  }, async () => {
    const { segment, lock, counter } = shared()
    const children = [
      spawnChild(participant, ['count', segment.name, '20000', 'sync']),
      spawnChild(participant, ['count', segment.name, '20000', 'async']),
      spawnChild(participant, ['count', segment.name, '20000', 'sync']),
    ]
    for (let i = 0; i < 20_000; i++) {
      await lock.acquire()
      const seen = counter[0] as number
      counter[0] = seen + 1
      lock.release()
    }
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0])
    expect(counter[0]).toBe(80_000)
    expect(lock.locked).toBe(false)
  })

  it('a holder killed by SIGKILL: a waiter blocked in another process takes over and learns it', {
    timeout: 30_000,
  }, async () => {
    const { segment, lock } = shared()
    const holder = spawnChild(participant, ['hold', segment.name])
    await holder.waitFor('HELD')
    const waiter = spawnChild(participant, ['wait', segment.name])
    await waiter.waitFor('WAITING')
    expect(lock.tryAcquire()).toBe(false)
    holder.child.kill('SIGKILL')
    await waiter.waitFor('TOOK', 10_000)
    expect(waiter.stdout()).toContain('TOOK true')
    expect(await waiter.exited).toBe(0)
    // The waiter released normally: the next holder has nothing to repair.
    expect(lock.acquireSync({ timeout: 5000 })).toBe(true)
    expect(lock.previousOwnerDied).toBe(false)
    lock.release()
  })

  it('a holder killed by SIGKILL: an async waiter in this process takes over', { timeout: 30_000 }, async () => {
    const { segment, lock } = shared()
    const holder = spawnChild(participant, ['hold', segment.name])
    await holder.waitFor('HELD')
    const pending = lock.acquire({ timeout: 10_000 })
    holder.child.kill('SIGKILL')
    expect(await pending).toBe(true)
    expect(lock.previousOwnerDied).toBe(true)
    lock.release()
  })

  it('tryAcquire takes over from a killed holder without waiting; `locked` is false once the holder died', {
    timeout: 30_000,
  }, async () => {
    const { segment, lock } = shared()
    const holder = spawnChild(participant, ['hold', segment.name])
    await holder.waitFor('HELD')
    expect(lock.tryAcquire()).toBe(false)
    expect(lock.locked).toBe(true)
    holder.child.kill('SIGKILL')
    await holder.exited
    // The dead holder's code is still in the word, but nobody holds the lock.
    expect(lock.owner).toBeDefined()
    expect(lock.locked).toBe(false)
    expect(lock.tryAcquire()).toBe(true)
    expect(lock.locked).toBe(true)
    expect(lock.previousOwnerDied).toBe(true)
    lock.release()
  })
})

describe('RobustLock across worker threads', () => {
  it('a worker thread and this thread lose no plain increment made under the lock', { timeout: 30_000 }, async () => {
    const { segment, lock, counter } = shared()
    const thread = worker(['count', segment.name, '20000', 'sync'])
    for (let i = 0; i < 20_000; i++) {
      await lock.acquire()
      const seen = counter[0] as number
      counter[0] = seen + 1
      lock.release()
    }
    expect(await thread.next()).toBe('DONE')
    expect(await thread.exited).toBe(0)
    expect(counter[0]).toBe(40_000)
  })

  it('a worker that exits holding the lock: this thread takes over and learns it', { timeout: 30_000 }, async () => {
    const { segment, lock } = shared()
    const thread = worker(['hold', segment.name, 'exit'])
    expect(await thread.next()).toBe('HELD')
    await thread.exited
    expect(await lock.acquire({ timeout: 10_000 })).toBe(true)
    expect(lock.previousOwnerDied).toBe(true)
    lock.release()
  })

  it('a worker terminated while holding the lock: its thread id is gone, so the lock is taken over', {
    timeout: 30_000,
  }, async () => {
    const { segment, lock } = shared()
    const thread = worker(['hold', segment.name])
    expect(await thread.next()).toBe('HELD')
    expect(lock.tryAcquire()).toBe(false)
    await thread.worker.terminate()
    expect(lock.acquireSync({ timeout: 10_000 })).toBe(true)
    expect(lock.previousOwnerDied).toBe(true)
    lock.release()
  })
})
