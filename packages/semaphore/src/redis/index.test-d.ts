import { describe, expectTypeOf, it } from 'vitest'
import {
  BoundedSemaphore,
  type ConnectionError,
  type Handle,
  type IpcError,
  Lock,
  type Permit,
  RLock,
  Semaphore,
} from './index.js'

describe('public types of @ipc/semaphore/redis', () => {
  it('makes every call async, tryAcquire too, with no Sync twins', () => {
    const sem = new Semaphore(2, { name: 'x', url: 'redis://127.0.0.1:6379', lease: 5000 })
    expectTypeOf(sem.acquire({ timeout: 1, signal: AbortSignal.timeout(1) })).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(sem.tryAcquire()).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(sem.release).parameters.toEqualTypeOf<[n?: number]>()
    expectTypeOf(sem.release()).toEqualTypeOf<Promise<void>>()
    expectTypeOf(sem.getValue()).toEqualTypeOf<Promise<number>>()
    expectTypeOf(sem.permit()).toEqualTypeOf<Promise<Permit>>()
    expectTypeOf(sem.withPermit(async () => 'a')).toEqualTypeOf<Promise<string>>()
    expectTypeOf(sem.close()).toEqualTypeOf<Promise<void>>()
    expectTypeOf(sem).not.toHaveProperty('acquireSync')
    expectTypeOf(sem).not.toHaveProperty('value')
  })

  it('gives permits a fencing token and a lost-lease signal', () => {
    expectTypeOf<Permit['token']>().toEqualTypeOf<number>()
    expectTypeOf<Permit['signal']>().toEqualTypeOf<AbortSignal>()
    expectTypeOf<Permit['release']>().returns.toEqualTypeOf<Promise<void>>()
  })

  it('opens by name and by handle with promises', () => {
    expectTypeOf(Semaphore.open('x', { create: { value: 2 } })).toEqualTypeOf<Promise<Semaphore>>()
    expectTypeOf(BoundedSemaphore.open('x')).toEqualTypeOf<Promise<BoundedSemaphore>>()
    expectTypeOf(Lock.open('x', { create: true })).toEqualTypeOf<Promise<Lock>>()
    expectTypeOf(RLock.from({} as Handle)).toEqualTypeOf<Promise<RLock>>()
    expectTypeOf(new Lock().locked()).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(new RLock().level).toEqualTypeOf<number>()
  })

  it('exports ConnectionError as an IpcError', () => {
    expectTypeOf<ConnectionError>().toExtend<IpcError>()
  })
})
