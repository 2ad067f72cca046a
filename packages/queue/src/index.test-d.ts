import { describe, expectTypeOf, it } from 'vitest'
import { type Empty, IpcError, JoinableQueue, Queue, type QueueHandle, type ShutDown, SimpleQueue } from './index.js'

describe('@ipc/queue types', () => {
  it('carries the item type through put and get', () => {
    const queue = new Queue<{ id: number }>()
    expectTypeOf(queue.get()).toEqualTypeOf<Promise<{ id: number }>>()
    expectTypeOf(queue.getSync()).toEqualTypeOf<{ id: number }>()
    expectTypeOf(queue.getNowait()).toEqualTypeOf<{ id: number }>()
    expectTypeOf(queue.put).parameter(0).toEqualTypeOf<{ id: number }>()
    expectTypeOf(queue.put({ id: 1 })).toEqualTypeOf<Promise<void>>()
    expectTypeOf(queue.handle).toEqualTypeOf<QueueHandle>()
    expectTypeOf(Queue.open<string>('x')).toEqualTypeOf<Queue<string>>()
    expectTypeOf(queue).toMatchTypeOf<AsyncIterable<{ id: number }>>()
    expectTypeOf(queue).toMatchTypeOf<Disposable>()
  })

  it('types JoinableQueue and SimpleQueue', () => {
    const tasks = new JoinableQueue<string>()
    expectTypeOf(tasks.join()).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(tasks.joinSync()).toEqualTypeOf<boolean>()
    expectTypeOf(JoinableQueue.open<number>('x')).toEqualTypeOf<JoinableQueue<number>>()
    const simple = new SimpleQueue<number>()
    expectTypeOf(simple.get()).toEqualTypeOf<Promise<number>>()
    expectTypeOf(simple.getSync()).toEqualTypeOf<number>()
  })

  it('types open with create, created and persistent', () => {
    expectTypeOf(Queue.open<string>('x', { create: { maxsize: 1, persistent: true } })).toEqualTypeOf<Queue<string>>()
    expectTypeOf(JoinableQueue.open<number>('x', { create: true })).toEqualTypeOf<JoinableQueue<number>>()
    expectTypeOf(SimpleQueue.open('x', { create: { capacity: 64 } })).toEqualTypeOf<SimpleQueue<unknown>>()
    expectTypeOf(new Queue().created).toEqualTypeOf<boolean>()
    expectTypeOf(new SimpleQueue({ persistent: true }).persistent).toEqualTypeOf<boolean>()
    // @ts-expect-error the name is open's first argument, not a create option
    Queue.open('x', { create: { name: 'y' } })
  })

  it('errors extend IpcError', () => {
    expectTypeOf<Empty>().toMatchTypeOf<IpcError>()
    expectTypeOf<ShutDown['item']>().toEqualTypeOf<unknown>()
    expectTypeOf(IpcError.is).toBeFunction()
  })
})
