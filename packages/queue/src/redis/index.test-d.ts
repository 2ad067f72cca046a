import { describe, expectTypeOf, it } from 'vitest'
import {
  type ConnectionError,
  type IpcError,
  JoinableQueue,
  MAX_ITEM_BYTES,
  Queue,
  type QueueHandle,
  type QueueOptions,
} from './index.js'

describe('public types of @ipc/queue/redis', () => {
  it('carries the item type through put and get, and makes every call async, with no Sync twins', () => {
    const queue = new Queue<{ id: number }>({ name: 'x', url: 'redis://127.0.0.1:6379', lease: 5000, maxsize: 10 })
    expectTypeOf(queue.get({ timeout: 1, signal: AbortSignal.timeout(1) })).toEqualTypeOf<Promise<{ id: number }>>()
    expectTypeOf(queue.getNowait()).toEqualTypeOf<Promise<{ id: number }>>()
    expectTypeOf(queue.getMany({ max: 2 })).toEqualTypeOf<Promise<{ id: number }[]>>()
    expectTypeOf(queue.put).parameter(0).toEqualTypeOf<{ id: number }>()
    expectTypeOf(queue.putNowait({ id: 1 })).toEqualTypeOf<Promise<void>>()
    expectTypeOf(queue.qsize()).toEqualTypeOf<Promise<number>>()
    expectTypeOf(queue.full()).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(queue.shutdown({ immediate: true })).toEqualTypeOf<Promise<void>>()
    expectTypeOf(queue.close()).toEqualTypeOf<Promise<void>>()
    expectTypeOf(queue.handle).toEqualTypeOf<QueueHandle>()
    expectTypeOf(queue).toMatchTypeOf<AsyncIterable<{ id: number }>>()
    expectTypeOf(queue).toMatchTypeOf<AsyncDisposable>()
    expectTypeOf(queue).not.toHaveProperty('getSync')
    expectTypeOf(queue).not.toHaveProperty('putSync')
    expectTypeOf<QueueOptions>().not.toHaveProperty('capacity')
    expectTypeOf(MAX_ITEM_BYTES).toEqualTypeOf<number>()
  })

  it('opens and revives by promise, and types JoinableQueue', async () => {
    expectTypeOf(Queue.open<string>('jobs', { create: { maxsize: 1 } })).toEqualTypeOf<Promise<Queue<string>>>()
    expectTypeOf(
      JoinableQueue.from<string>({ kind: 'joinable-queue', name: 'x', url: 'redis://h', lease: 100 }),
    ).toEqualTypeOf<Promise<JoinableQueue<string>>>()
    const tasks = new JoinableQueue<string>()
    expectTypeOf(tasks.join({ timeout: 1 })).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(tasks.taskDone()).toEqualTypeOf<Promise<void>>()
    expectTypeOf(tasks).toMatchTypeOf<Queue<string>>()
  })

  it('re-exports the connection error', () => {
    expectTypeOf<ConnectionError>().toMatchTypeOf<IpcError>()
  })
})
