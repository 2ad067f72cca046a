import { Lock, RLock } from '@ipc/semaphore'
import { describe, expectTypeOf, it } from 'vitest'
import {
  type ClosedError,
  type ExistsError,
  type IncompatibleError,
  type IpcError,
  NotFoundError,
  RawArray,
  RawValue,
  SharedArray,
  type SharedArrayHandle,
  type SharedLock,
  SharedMemory,
  SharedValue,
  type SharedValueHandle,
  ValueError,
} from './index.js'

describe('@ipc/shared types', () => {
  it('maps each type to its JavaScript value', () => {
    expectTypeOf(new SharedValue('int32').value).toEqualTypeOf<number>()
    expectTypeOf(new SharedValue('i', 1).value).toEqualTypeOf<number>()
    expectTypeOf(new SharedValue('int64', 1n).value).toEqualTypeOf<bigint>()
    expectTypeOf(new SharedValue('Q').value).toEqualTypeOf<bigint>()
    expectTypeOf(new SharedValue('l').value).toEqualTypeOf<bigint>()
    expectTypeOf(new SharedValue('bool', true).value).toEqualTypeOf<boolean>()
    expectTypeOf(new SharedValue('d').value).toEqualTypeOf<number>()
    expectTypeOf(SharedValue.open('x').value).toEqualTypeOf<number | bigint | boolean>()
    expectTypeOf(new RawValue('f').value).toEqualTypeOf<number>()
  })

  it('rejects initial values of the wrong kind', () => {
    // @ts-expect-error a number for a 64-bit type
    new SharedValue('int64', 1)
    // @ts-expect-error a bigint for int32
    new SharedValue('int32', 1n)
    // @ts-expect-error not a type
    new SharedValue('int33')
  })

  it('offers add/sub/exchange/compareExchange on integer types only', () => {
    expectTypeOf(new SharedValue('uint8').add(1)).toEqualTypeOf<number>()
    expectTypeOf(new SharedValue('q').sub(1n)).toEqualTypeOf<bigint>()
    expectTypeOf(new SharedValue('int16').compareExchange(1, 2)).toEqualTypeOf<number>()
    // @ts-expect-error float values have no add
    new SharedValue('float64').add(1)
    // @ts-expect-error bool values have no exchange
    new SharedValue('bool').exchange(true)
  })

  it('gives arrays the matching typed-array view', () => {
    expectTypeOf(new SharedArray('float64', 3).array).toEqualTypeOf<Float64Array>()
    expectTypeOf(new SharedArray('int64', 3).array).toEqualTypeOf<BigInt64Array>()
    expectTypeOf(new SharedArray('bool', 3).array).toEqualTypeOf<Uint8Array>()
    expectTypeOf(new SharedArray('B', [1, 2]).get(0)).toEqualTypeOf<number>()
    expectTypeOf(new RawArray('Q', 1).toArray()).toEqualTypeOf<bigint[]>()
    expectTypeOf(new SharedArray('bool', 1).handle).toEqualTypeOf<SharedArrayHandle>()
  })

  it('exposes the lock, handles, shared memory and errors', () => {
    expectTypeOf(new SharedValue('int32').getLock()).toEqualTypeOf<SharedLock>()
    expectTypeOf<SharedLock>().toEqualTypeOf<Lock | RLock>()
    expectTypeOf(new SharedValue('int32', 0, { lock: new Lock() }).value).toEqualTypeOf<number>()
    expectTypeOf(new SharedArray('int32', 2, { lock: new RLock(), name: 'x' }).length).toEqualTypeOf<number>()
    // @ts-expect-error a lock option is true, false, a Lock or an RLock
    new SharedValue('int32', 0, { lock: 'yes' })
    expectTypeOf(
      SharedValue.open('x', 'int64', { create: { initial: 1n, persistent: true } }).value,
    ).toEqualTypeOf<bigint>()
    expectTypeOf(
      SharedArray.open('x', 'float64', { create: { lengthOrValues: [1.5] } }).array,
    ).toEqualTypeOf<Float64Array>()
    // @ts-expect-error an int64 value starts from a bigint
    SharedValue.open('x', 'int64', { create: { initial: 1 } })
    expectTypeOf(new SharedValue('int32').getLock().acquire()).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(new SharedValue('int32').withLock(() => 1)).toEqualTypeOf<Promise<number>>()
    expectTypeOf(new SharedValue('int32').withLock(async () => 'x')).toEqualTypeOf<Promise<string>>()
    expectTypeOf(new SharedValue('int32').handle).toEqualTypeOf<SharedValueHandle>()
    expectTypeOf(SharedMemory.create({ size: 1 }).buf).toEqualTypeOf<Uint8Array>()
    expectTypeOf(SharedMemory.open('x', { create: { size: 8, persistent: true } })).toEqualTypeOf<SharedMemory>()
    expectTypeOf(SharedMemory.create({ size: 1 }).created).toEqualTypeOf<boolean>()
    expectTypeOf(SharedMemory.create({ size: 8, name: 'x', raw: true }).raw).toEqualTypeOf<boolean>()
    expectTypeOf(SharedMemory.open('x', { raw: true })).toEqualTypeOf<SharedMemory>()
    // @ts-expect-error: a raw block is created with create(), not through open's create
    SharedMemory.open('x', { create: { size: 8, raw: true } })
    // @ts-expect-error a block cannot be created without its size
    SharedMemory.open('x', { create: true })
    expectTypeOf(new NotFoundError('x')).toMatchTypeOf<IpcError>()
    expectTypeOf(new ValueError('x')).toMatchTypeOf<IpcError>()
    expectTypeOf<typeof ClosedError | typeof ExistsError | typeof IncompatibleError>().not.toBeNever()
  })
})
