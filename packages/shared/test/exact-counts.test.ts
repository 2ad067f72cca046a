/**
 * Counts stay exact across processes and threads: increments under the
 * robust lock, and lock-free atomic adds.
 */
import { Worker } from 'node:worker_threads'
import { Process } from '@ipc/core'
import { SharedValue } from '@ipc/shared'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const participant = new URL('./fixtures/shared-participant.mjs', import.meta.url)
const functions = new URL('./fixtures/shared-functions.mjs', import.meta.url)

function track<V extends { close(): void }>(value: V): V {
  onTestFinished(() => value.close())
  return value
}

function thread(args: string[]): Promise<string> {
  const worker = new Worker(participant, { workerData: args })
  onTestFinished(async () => {
    await worker.terminate()
  })
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}

describe('SharedValue under its lock', () => {
  it('4 processes × 100,000 locked increments give exactly 400,000', { timeout: 60_000 }, async () => {
    const counter = track(new SharedValue('int32', 0))
    const handle = JSON.stringify(counter.handle)
    const children = [1, 2, 3, 4].map(() => spawnChild(participant, ['locked-increments', handle, '100000']))
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0])
    expect(counter.value).toBe(400_000)
    expect(counter.getLock().locked).toBe(false)
  })

  it('2 processes, a worker thread and this thread (async) give an exact float64 sum', {
    timeout: 60_000,
  }, async () => {
    const total = track(new SharedValue('float64', 0))
    const handle = JSON.stringify(total.handle)
    const children = [1, 2].map(() => spawnChild(participant, ['locked-increments', handle, '20000']))
    const worker = thread(['locked-increments', handle, '20000'])
    for (let i = 0; i < 20_000; i++) {
      await total.withLock(() => {
        total.value += 1
      })
    }
    expect(await worker).toBe('DONE')
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0])
    expect(total.value).toBe(80_000)
  })

  it('works when handed to Process, in a child process and in a worker thread', { timeout: 60_000 }, async () => {
    const counter = track(new SharedValue('int64', 0n))
    const child = new Process(functions, { exportName: 'lockedIncrements', args: [counter, 5000] }).start()
    const worker = new Process(functions, {
      exportName: 'lockedIncrements',
      args: [counter, 5000],
      mode: 'thread',
    }).start()
    counter.withLockSync(() => (counter.value += 1n))
    expect(await child.join()).toBe(0)
    expect(await worker.join()).toBe(0)
    expect(counter.value).toBe(10_001n)
  })
})

describe('SharedValue#add() without a lock', () => {
  it('4 processes × 100,000 adds give exactly 400,000 (int32) and 400,000n (int64)', { timeout: 60_000 }, async () => {
    const int32 = track(new SharedValue('int32', 0, { lock: false }))
    const int64 = track(new SharedValue('int64', 0n, { lock: false }))
    const children = [int32, int64, int32, int64, int32, int64, int32, int64].map((value) =>
      spawnChild(participant, ['adds', JSON.stringify(value.handle), '100000']),
    )
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    expect(int32.value).toBe(400_000)
    expect(int64.value).toBe(400_000n)
  })

  it('a worker thread and this thread add exactly', { timeout: 30_000 }, async () => {
    const counter = track(new SharedValue('uint32', 0))
    const worker = thread(['adds', JSON.stringify(counter.handle), '200000'])
    for (let i = 0; i < 200_000; i++) counter.add(1)
    expect(await worker).toBe('DONE')
    expect(counter.value).toBe(400_000)
  })
})
