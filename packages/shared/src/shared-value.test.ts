import { existsSync, truncateSync } from 'node:fs'
import { inspect } from 'node:util'
import { ClosedError, ExistsError, IncompatibleError, NotFoundError, ValueError } from '@ipc/core'
import { HEADER_BYTES, TRANSFER } from '@ipc/core/internal'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { ValueType } from './element-types.js'
import { OFFSET_ELEMENTS } from './layout.js'
import { SharedArray } from './shared-array.js'
import { RawValue, SharedValue } from './shared-value.js'

/** Closes `value` when the test ends. */
function track<V extends { close(): void }>(value: V): V {
  onTestFinished(() => value.close())
  return value
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('Expected the call to throw')
}

const EDGES: [ValueType, unknown[]][] = [
  ['int8', [-128, 127, 0, -1]],
  ['uint8', [0, 255, 1]],
  ['int16', [-32768, 32767]],
  ['uint16', [0, 65535]],
  ['int32', [-(2 ** 31), 2 ** 31 - 1, -1]],
  ['uint32', [0, 2 ** 32 - 1]],
  ['int64', [-(2n ** 63n), 2n ** 63n - 1n, -1n, 0n]],
  ['uint64', [0n, 2n ** 64n - 1n, 2n ** 63n]],
  [
    'float32',
    [
      Number.NaN,
      -0,
      0,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      3.4028234663852886e38,
      1.401298464324817e-45,
      Math.fround(0.1),
    ],
  ],
  [
    'float64',
    [
      Number.NaN,
      -0,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      Number.EPSILON,
      0.1,
    ],
  ],
  ['bool', [true, false]],
]

describe('new SharedValue()', () => {
  it('round-trips the edge values of every type, seen through a second mapping', () => {
    for (const [type, values] of EDGES) {
      const value = track(new SharedValue(type, values[0] as never))
      const other = track(SharedValue.open(value.name, type))
      for (const edge of values) {
        value.value = edge as never
        expect(Object.is(other.value, edge)).toBe(true)
        other.value = edge as never
        expect(Object.is(value.value, edge)).toBe(true)
      }
    }
  })

  it('starts at 0, 0n or false, or at the initial value', () => {
    expect(track(new SharedValue('int32')).value).toBe(0)
    expect(track(new SharedValue('q')).value).toBe(0n)
    expect(track(new SharedValue('bool')).value).toBe(false)
    expect(track(new SharedValue('d', 2.5)).value).toBe(2.5)
    expect(track(new SharedValue('Q', 7n)).value).toBe(7n)
  })

  it('resolves typecodes: l and L are 64-bit', () => {
    expect(track(new SharedValue('i')).type).toBe('int32')
    expect(track(new SharedValue('l', -5n)).type).toBe('int64')
    expect(track(new SharedValue('L')).type).toBe('uint64')
    expect(track(new SharedValue('f')).type).toBe('float32')
  })

  it('rejects unknown types and wrong initial values before creating anything', () => {
    const name = uniqueName('value')
    const type = thrown(() => new SharedValue('double' as never, 1 as never, { name }))
    expect(type).toBeInstanceOf(TypeError)
    expect(type.message).toContain("'float64'")
    expect(thrown(() => new SharedValue('int32', 1.5, { name }))).toBeInstanceOf(TypeError)
    expect(thrown(() => new SharedValue('int64', 1 as never, { name }))).toBeInstanceOf(TypeError)
    expect(thrown(() => new SharedValue('uint8', 256, { name }))).toBeInstanceOf(RangeError)
    expect(thrown(() => new SharedValue('int32', 0, { lock: 'yes' as never, name }))).toBeInstanceOf(TypeError)
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
  })

  it('throws ExistsError for a name that exists', () => {
    const value = track(new SharedValue('int32', 1, { name: uniqueName('value') }))
    expect(thrown(() => new SharedValue('int32', 2, { name: value.name }))).toBeInstanceOf(ExistsError)
    expect(value.value).toBe(1)
  })
})

describe('SharedValue#value', () => {
  it('writes nothing when the value is of the wrong kind or out of range', () => {
    const int32 = track(new SharedValue('int32', 7))
    for (const bad of [1.5, Number.NaN, 1n, '3', null]) {
      expect(thrown(() => (int32.value = bad as never))).toBeInstanceOf(TypeError)
    }
    expect(thrown(() => (int32.value = 2 ** 31))).toBeInstanceOf(RangeError)
    expect(thrown(() => (int32.value = -(2 ** 31) - 1))).toBeInstanceOf(RangeError)
    expect(int32.value).toBe(7)
    const int64 = track(new SharedValue('int64', 7n))
    expect(thrown(() => (int64.value = 1 as never))).toBeInstanceOf(TypeError)
    expect(thrown(() => (int64.value = 2n ** 63n))).toBeInstanceOf(RangeError)
    expect(int64.value).toBe(7n)
    const float = track(new SharedValue('float64', 1.5))
    expect(thrown(() => (float.value = 1n as never))).toBeInstanceOf(TypeError)
    expect(float.value).toBe(1.5)
    const flag = track(new SharedValue('bool', true))
    expect(thrown(() => (flag.value = 0 as never))).toBeInstanceOf(TypeError)
    expect(flag.value).toBe(true)
  })

  it('rounds float32 as the hardware does: to the nearest float32, overflow to Infinity', () => {
    const value = track(new SharedValue('float32', 0.1))
    expect(value.value).toBe(Math.fround(0.1))
    value.value = 1e39
    expect(value.value).toBe(Number.POSITIVE_INFINITY)
  })
})

describe('SharedValue#add() and #sub()', () => {
  it('return the previous value and change the value atomically', () => {
    const value = track(new SharedValue('int32', 10))
    expect(value.add(5)).toBe(10)
    expect(value.sub(3)).toBe(15)
    expect(value.add(-12)).toBe(12)
    expect(value.value).toBe(0)
    const big = track(new SharedValue('uint64', 1n))
    expect(big.add(2n)).toBe(1n)
    expect(big.sub(1n)).toBe(3n)
    expect(big.value).toBe(2n)
  })

  it('wrap around on overflow of the result, as C atomics do', () => {
    const int32 = track(new SharedValue('int32', 2 ** 31 - 1))
    int32.add(1)
    expect(int32.value).toBe(-(2 ** 31))
    const uint8 = track(new SharedValue('uint8', 255))
    uint8.add(1)
    expect(uint8.value).toBe(0)
    uint8.sub(1)
    expect(uint8.value).toBe(255)
    const uint64 = track(new SharedValue('uint64', 2n ** 64n - 1n))
    uint64.add(1n)
    expect(uint64.value).toBe(0n)
  })

  it('reject operands of the wrong kind or out of the type range, changing nothing', () => {
    const int32 = track(new SharedValue('int32', 1))
    for (const bad of [1.5, '1', 1n, undefined, Number.NaN])
      expect(thrown(() => int32.add(bad as never))).toBeInstanceOf(TypeError)
    expect(thrown(() => int32.add(2 ** 31))).toBeInstanceOf(RangeError)
    expect(thrown(() => int32.sub(2 ** 40))).toBeInstanceOf(RangeError)
    const uint32 = track(new SharedValue('uint32', 1))
    expect(thrown(() => uint32.add(-1))).toBeInstanceOf(RangeError)
    const int64 = track(new SharedValue('int64', 1n))
    expect(thrown(() => int64.add(1 as never))).toBeInstanceOf(TypeError)
    expect(int32.value).toBe(1)
    expect(uint32.value).toBe(1)
    expect(int64.value).toBe(1n)
  })

  it('throw TypeError on float and bool values', () => {
    const float = track(new SharedValue('float64', 1)) as unknown as SharedValue<'int32'>
    const error = thrown(() => float.add(1))
    expect(error).toBeInstanceOf(TypeError)
    expect(error.message).toContain('not an integer type')
    const flag = track(new SharedValue('bool')) as unknown as SharedValue<'int32'>
    expect(thrown(() => flag.sub(1))).toBeInstanceOf(TypeError)
  })
})

describe('SharedValue#exchange() and #compareExchange()', () => {
  it('swap atomically and return the previous value', () => {
    const value = track(new SharedValue('int16', 1))
    expect(value.exchange(2)).toBe(1)
    expect(value.compareExchange(2, 3)).toBe(2)
    expect(value.compareExchange(2, 4)).toBe(3)
    expect(value.value).toBe(3)
    const big = track(new SharedValue('int64', -1n))
    expect(big.exchange(2n ** 63n - 1n)).toBe(-1n)
    expect(big.compareExchange(2n ** 63n - 1n, 0n)).toBe(2n ** 63n - 1n)
    expect(big.value).toBe(0n)
  })

  it('validate both arguments', () => {
    const value = track(new SharedValue('uint8', 1))
    expect(thrown(() => value.exchange(256))).toBeInstanceOf(RangeError)
    expect(thrown(() => value.compareExchange(1, 1.5))).toBeInstanceOf(TypeError)
    expect(thrown(() => value.compareExchange(-1, 1))).toBeInstanceOf(RangeError)
    expect(value.value).toBe(1)
    const float = track(new SharedValue('float32', 1)) as unknown as SharedValue<'int32'>
    expect(thrown(() => float.exchange(1))).toBeInstanceOf(TypeError)
  })
})

describe('SharedValue.open()', () => {
  it('refuses an option name it does not know, naming the one meant, before creating anything', () => {
    expect(() => new SharedValue('int32', 0, { lock: false, persistant: true } as never)).toThrow(
      /Unknown option "persistant" in the options\. Did you mean "persistent"\?/,
    )
    expect(() => new RawValue('int32', 0, { lock: false } as never)).toThrow(/Unknown option "lock"/)
    const name = uniqueName('value')
    expect(() => SharedValue.open(name, 'int32', { create: { intial: 5 } } as never)).toThrow(
      /Unknown option "intial" in the "create" option\. Did you mean "initial"\?/,
    )
    expect(() => SharedArray.open(name, 'int32', { create: { lengthOrValues: 2, lenght: 2 } } as never)).toThrow(
      /Unknown option "lenght"/,
    )
    expect(() => SharedValue.open(name, 'int32', { creat: true } as never)).toThrow(/Did you mean "create"/)
    expect(thrown(() => SharedValue.open(name))).toBeInstanceOf(NotFoundError)
    // The names it knows still work, and initial and lengthOrValues still give the contents.
    expect(track(SharedValue.open(name, 'int32', { create: { initial: 5, lock: false } })).value).toBe(5)
    const array = track(
      SharedArray.open(uniqueName('array'), 'int32', { create: { lengthOrValues: [1, 2], lock: false } }),
    )
    expect([...array.toArray()]).toEqual([1, 2])
  })

  it('attaches by name, with or without a type (aliases count as the same type)', () => {
    const value = track(new SharedValue('int32', 42, { name: uniqueName('value') }))
    expect(track(SharedValue.open(value.name)).value).toBe(42)
    expect(track(SharedValue.open(value.name, 'i')).value).toBe(42)
  })

  it('throws IncompatibleError for another type or for a SharedArray, NotFoundError for a missing name', () => {
    const value = track(new SharedValue('int32', 1, { name: uniqueName('value') }))
    const other = thrown(() => SharedValue.open(value.name, 'float64'))
    expect(other).toBeInstanceOf(IncompatibleError)
    expect(other.message).toBe(`Cannot open shared value "${value.name}" as float64: it holds int32`)
    expect(thrown(() => SharedArray.open(value.name))).toBeInstanceOf(IncompatibleError)
    const array = track(new SharedArray('int32', 1, { name: uniqueName('array') }))
    expect(thrown(() => SharedValue.open(array.name))).toBeInstanceOf(IncompatibleError)
    expect(thrown(() => SharedValue.open(uniqueName('missing')))).toBeInstanceOf(NotFoundError)
  })
  it('throws IncompatibleError, not a RangeError, for a file cut short before its element', () => {
    const value = track(new RawValue('float64', 1.5, { name: uniqueName('short') }))
    truncateSync(`/dev/shm/ipc-${value.name}`, HEADER_BYTES + OFFSET_ELEMENTS)
    const error = thrown(() => RawValue.open(value.name))
    expect(error).toBeInstanceOf(IncompatibleError)
    expect(error.message).toContain("its header is not a shared value's")
  })
})

describe('SharedValue#handle and SharedValue.from()', () => {
  it('round-trips through JSON, keeping the lock setting', () => {
    const value = track(new SharedValue('uint16', 9))
    const handle = JSON.parse(JSON.stringify(value.handle))
    expect(handle).toEqual({ kind: 'shared-value', name: value.name, type: 'uint16', lock: true })
    const copy = track(SharedValue.from(handle))
    expect(copy.value).toBe(9)
    expect(copy.hasLock).toBe(true)
    const raw = track(new RawValue('uint16', 1))
    const rawCopy = track(SharedValue.from(raw.handle))
    expect(rawCopy.hasLock).toBe(false)
    expect(rawCopy).toBeInstanceOf(RawValue)
    expect(thrown(() => SharedValue.from({ kind: 'shared-array', name: value.name } as never))).toBeInstanceOf(
      TypeError,
    )
  })

  it('describes itself for Process with [TRANSFER]', () => {
    const value = track(new SharedValue('int32'))
    const descriptor = value[TRANSFER]()
    expect(descriptor.export).toBe('SharedValue')
    expect(descriptor.handle).toEqual(value.handle)
    expect(descriptor.module).toMatch(/^file:/)
    expect(track(new RawValue('int32'))[TRANSFER]().export).toBe('RawValue')
  })
})

describe('SharedValue#getLock() and #withLock()', () => {
  it('gives every object of the value the same lock', () => {
    const value = track(new SharedValue('int32'))
    const other = track(SharedValue.open(value.name))
    const lock = value.getLock()
    expect(value.getLock()).toBe(lock)
    expect(lock.tryAcquire()).toBe(true)
    expect(other.getLock().locked).toBe(true)
    expect(other.getLock().tryAcquire()).toBe(false)
    lock.release()
    expect(other.getLock().tryAcquire()).toBe(true)
    other.getLock().release()
  })

  it('runs sync and async functions holding the lock and releases it on throw', async () => {
    const value = track(new SharedValue('float64', 1))
    expect(
      await value.withLock((lock) => {
        value.value *= 3
        return lock.held
      }),
    ).toBe(true)
    expect(value.value).toBe(3)
    await expect(
      value.withLock(async () => {
        await new Promise((resolve) => setTimeout(resolve, 5))
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(value.getLock().locked).toBe(false)
    expect(value.withLockSync(() => (value.value += 1))).toBe(4)
    expect(value.getLock().locked).toBe(false)
  })

  it('serialises concurrent async read-modify-writes of one thread', async () => {
    const value = track(new SharedValue('int32', 0))
    await Promise.all(
      Array.from({ length: 20 }, () =>
        value.withLock(async () => {
          const seen = value.value
          await new Promise((resolve) => setTimeout(resolve, 1))
          value.value = seen + 1
        }),
      ),
    )
    expect(value.value).toBe(20)
  })

  it('throws ValueError on a value without a lock', async () => {
    const raw = track(new RawValue('int32', 1))
    expect(raw.hasLock).toBe(false)
    expect(thrown(() => raw.getLock())).toBeInstanceOf(ValueError)
    await expect(raw.withLock(() => 1)).rejects.toBeInstanceOf(ValueError)
    const unlocked = track(new SharedValue('int32', 1, { lock: false }))
    expect(thrown(() => unlocked.getLock())).toBeInstanceOf(ValueError)
    expect(track(SharedValue.open(unlocked.name)).hasLock).toBe(false)
    expect(track(RawValue.open(track(new SharedValue('int32')).name)).hasLock).toBe(false)
  })

  it('tells the next holder that a holder closed mid-update', () => {
    const value = track(new SharedValue('int32'))
    const other = track(SharedValue.open(value.name))
    other.getLock().acquireSync()
    other.value = 99
    other.close()
    const lock = value.getLock()
    expect(lock.tryAcquire()).toBe(true)
    expect(lock.previousOwnerDied).toBe(true)
    lock.release()
    expect(lock.previousOwnerDied).toBe(false)
  })
})

describe('SharedValue#close() and #unlink()', () => {
  it('closes idempotently; later use throws ClosedError; the last close removes the memory', () => {
    const value = new SharedValue('int32', 1, { name: uniqueName('value') })
    const path = `/dev/shm/ipc-${value.name}`
    expect(existsSync(path)).toBe(true)
    value.close()
    value[Symbol.dispose]()
    expect(value.closed).toBe(true)
    expect(thrown(() => value.value)).toBeInstanceOf(ClosedError)
    expect(thrown(() => (value.value = 2))).toBeInstanceOf(ClosedError)
    expect(thrown(() => value.add(1))).toBeInstanceOf(ClosedError)
    expect(thrown(() => value.getLock())).toBeInstanceOf(ClosedError)
    expect(existsSync(path)).toBe(false)
  })

  it('unlink removes the name while attached objects keep working', () => {
    const value = track(new SharedValue('int32', 5))
    const other = track(SharedValue.open(value.name))
    value.unlink()
    expect(thrown(() => SharedValue.open(value.name))).toBeInstanceOf(NotFoundError)
    other.add(1)
    expect(value.value).toBe(6)
  })
})

describe('SharedValue [inspect.custom]', () => {
  it('shows name, type, value and lock', () => {
    const value = track(new SharedValue('int64', -3n, { name: uniqueName('value') }))
    expect(inspect(value)).toBe(`SharedValue { name: '${value.name}', type: 'int64', value: -3n, lock: true }`)
    const raw = track(new RawValue('float64', -0, { name: uniqueName('value') }))
    expect(inspect(raw)).toBe(`RawValue { name: '${raw.name}', type: 'float64', value: -0, lock: false }`)
    raw.close()
    expect(inspect(raw)).toBe(`RawValue { name: '${raw.name}', type: 'float64', closed: true }`)
  })
})
