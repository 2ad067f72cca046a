import { Lock, Semaphore } from '@ipc/semaphore'
import { describe, expectTypeOf, it } from 'vitest'
import {
  Barrier,
  type BarrierHandle,
  BrokenBarrierError,
  Condition,
  type ConditionHandle,
  type ConditionLock,
  Event,
  type EventHandle,
  type IpcError,
} from './index.js'

describe('public types', () => {
  it('types the waiting calls', () => {
    const event = new Event({ name: 'x', persistent: false })
    expectTypeOf(event.wait()).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(event.waitSync({ timeout: 1 })).toEqualTypeOf<boolean>()
    expectTypeOf(event.isSet()).toEqualTypeOf<boolean>()
    expectTypeOf(event.handle).toEqualTypeOf<EventHandle>()

    const condition = new Condition()
    // A Semaphore has the options' names (name, persistent) but is not a lock: refused here, not only at run time.
    // @ts-expect-error a Semaphore is not a Lock or an RLock
    expectTypeOf(new Condition(new Semaphore())).toEqualTypeOf<Condition>()
    expectTypeOf(new Condition(new Lock(), { name: 'c' })).toEqualTypeOf<Condition>()
    expectTypeOf(new Condition({ name: 'c' })).toEqualTypeOf<Condition>()
    expectTypeOf(condition.wait({ timeout: 1, signal: AbortSignal.timeout(1) })).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(condition.waitSync()).toEqualTypeOf<boolean>()
    expectTypeOf(condition.waitFor(() => 42)).toEqualTypeOf<Promise<number>>()
    expectTypeOf(condition.waitFor(async () => 'a')).toEqualTypeOf<Promise<string>>()
    expectTypeOf(condition.waitForSync(() => true)).toEqualTypeOf<boolean>()
    expectTypeOf(condition.notify).parameters.toEqualTypeOf<[n?: number]>()
    expectTypeOf(condition.withLock(() => 1)).toEqualTypeOf<Promise<number>>()
    expectTypeOf(condition.lock).toEqualTypeOf<ConditionLock>()
    expectTypeOf(condition.handle).toEqualTypeOf<ConditionHandle>()

    const barrier = new Barrier(3)
    expectTypeOf(barrier.wait()).toEqualTypeOf<Promise<number>>()
    expectTypeOf(barrier.waitSync()).toEqualTypeOf<number>()
    expectTypeOf(barrier.parties).toEqualTypeOf<number>()
    expectTypeOf(barrier.nWaiting).toEqualTypeOf<number>()
    expectTypeOf(barrier.broken).toEqualTypeOf<boolean>()
    expectTypeOf(barrier.handle).toEqualTypeOf<BarrierHandle>()
    expectTypeOf(Barrier.open('b', { create: { parties: 2 } })).toEqualTypeOf<Barrier>()
  })

  it('types the errors', () => {
    expectTypeOf(new BrokenBarrierError('x')).toMatchTypeOf<IpcError>()
    expectTypeOf(new BrokenBarrierError('x').code).toEqualTypeOf<string>()
  })
})
