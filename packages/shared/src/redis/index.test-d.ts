import type { RLock } from '@ipc/semaphore/redis'
import { describe, expectTypeOf, it } from 'vitest'
import { SharedArray, type SharedArrayHandle, SharedValue, type SharedValueHandle } from './index.js'

describe('public types of @ipc/shared/redis', () => {
  it('makes every read and write async, with the element type of the typecode', () => {
    const hits = new SharedValue('int32', 0, { url: 'redis://127.0.0.1:6379', lease: 5000, name: 'x' })
    expectTypeOf(hits.get()).toEqualTypeOf<Promise<number>>()
    expectTypeOf(hits.set).parameters.toEqualTypeOf<[value: number]>()
    expectTypeOf(hits.add(1)).toEqualTypeOf<Promise<number>>()
    expectTypeOf(hits.compareExchange(0, 1)).toEqualTypeOf<Promise<number>>()
    expectTypeOf(hits).not.toHaveProperty('value')
    const big = new SharedValue('q', 0n)
    expectTypeOf(big.get()).toEqualTypeOf<Promise<bigint>>()
    expectTypeOf(big.sub(1n)).toEqualTypeOf<Promise<bigint>>()
    const flag = new SharedValue('bool', false)
    expectTypeOf(flag.get()).toEqualTypeOf<Promise<boolean>>()
    // @ts-expect-error add is for integer types only
    void new SharedValue('float64', 0).add(1)
    // @ts-expect-error a bigint type takes bigints
    void big.set(1)
  })

  it('has async open/from/close/unlink, a JSON handle and the RLock of @ipc/semaphore/redis', () => {
    expectTypeOf(SharedValue.open('x', 'd')).toEqualTypeOf<Promise<SharedValue<'d'>>>()
    expectTypeOf(SharedArray.from<'int8'>({} as SharedArrayHandle)).toEqualTypeOf<Promise<SharedArray<'int8'>>>()
    const value = new SharedValue('int32')
    expectTypeOf(value.handle).toEqualTypeOf<SharedValueHandle>()
    expectTypeOf(value.getLock()).toEqualTypeOf<RLock>()
    expectTypeOf(value.withLock(async () => 'a')).toEqualTypeOf<Promise<string>>()
    expectTypeOf(value.close()).toEqualTypeOf<Promise<void>>()
    expectTypeOf(value.unlink()).toEqualTypeOf<Promise<void>>()
  })

  it('reads arrays element by element, async', () => {
    const scores = new SharedArray('float32', [1, 2])
    expectTypeOf(scores.get(0)).toEqualTypeOf<Promise<number>>()
    expectTypeOf(scores.toArray()).toEqualTypeOf<Promise<number[]>>()
    expectTypeOf(scores.length).toEqualTypeOf<number>()
    expectTypeOf(scores).not.toHaveProperty('array')
  })
})
