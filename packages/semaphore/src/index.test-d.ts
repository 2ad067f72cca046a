import { describe, expectTypeOf, it } from 'vitest'
import {
  BoundedSemaphore,
  ClosedError,
  type IpcError,
  Lock,
  type LockHandle,
  type Permit,
  RLock,
  type RLockHandle,
  Semaphore,
  type SemaphoreHandle,
  TimeoutError,
  ValueError,
} from './index.js'

describe('public types', () => {
  it('types the waiting calls', () => {
    const sem = new Semaphore(2, { name: 'x', reclaim: true })
    expectTypeOf(sem.acquire()).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(sem.acquire({ timeout: 1, signal: AbortSignal.timeout(1) })).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(sem.acquireSync({ timeout: 1 })).toEqualTypeOf<boolean>()
    expectTypeOf(sem.tryAcquire()).toEqualTypeOf<boolean>()
    expectTypeOf(sem.release).parameters.toEqualTypeOf<[n?: number]>()
    expectTypeOf(sem.value).toEqualTypeOf<number>()
    expectTypeOf(sem.permit()).toEqualTypeOf<Promise<Permit>>()
    expectTypeOf(sem.withPermit(() => 1)).toEqualTypeOf<Promise<number>>()
    expectTypeOf(sem.withPermit(async () => 'a')).toEqualTypeOf<Promise<string>>()
  })

  it('types handles and statics', () => {
    expectTypeOf(Semaphore.open('x')).toEqualTypeOf<Semaphore>()
    expectTypeOf(BoundedSemaphore.open('x')).toEqualTypeOf<BoundedSemaphore>()
    expectTypeOf(Lock.from({ kind: 'lock', name: 'x' })).toEqualTypeOf<Lock>()
    expectTypeOf<SemaphoreHandle['kind']>().toEqualTypeOf<'semaphore'>()
    expectTypeOf(Semaphore.open('x', { create: { value: 2, persistent: true } })).toEqualTypeOf<Semaphore>()
    expectTypeOf(BoundedSemaphore.open('x', { create: true })).toEqualTypeOf<BoundedSemaphore>()
    expectTypeOf(new Semaphore(1, { persistent: true }).created).toEqualTypeOf<boolean>()
    expectTypeOf(new Semaphore().persistent).toEqualTypeOf<boolean>()
  })

  it('makes Lock.release take no count and permits disposable', () => {
    const lock = new Lock()
    expectTypeOf(lock.release).parameters.toEqualTypeOf<[]>()
    expectTypeOf<Permit>().toMatchTypeOf<Disposable & AsyncDisposable>()
  })

  it('types Lock and RLock alike, with open-or-create and previousOwnerDied', () => {
    const lock = Lock.open('x', { create: { persistent: true } })
    const rlock = new RLock({ name: 'y', persistent: false })
    expectTypeOf(RLock.open('y', { create: true })).toEqualTypeOf<RLock>()
    expectTypeOf(lock.handle).toEqualTypeOf<LockHandle>()
    expectTypeOf(rlock.handle).toEqualTypeOf<RLockHandle>()
    expectTypeOf(rlock.acquire()).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(rlock.acquireSync({ timeout: 1 })).toEqualTypeOf<boolean>()
    expectTypeOf(lock.previousOwnerDied).toEqualTypeOf<boolean>()
    expectTypeOf(lock.withLock(async () => 1)).toEqualTypeOf<Promise<number>>()
    expectTypeOf(rlock.withLockSync(() => 'a')).toEqualTypeOf<string>()
    expectTypeOf(lock.withLock).parameter(0).parameter(0).toEqualTypeOf<Lock>()
  })

  it('exports the error classes', () => {
    expectTypeOf(new TimeoutError('x')).toMatchTypeOf<IpcError>()
    expectTypeOf(new ValueError('x')).toMatchTypeOf<IpcError>()
    expectTypeOf(new ClosedError('x')).toMatchTypeOf<IpcError>()
  })
})
