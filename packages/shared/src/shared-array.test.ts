import { closeSync, existsSync, openSync, writeSync } from 'node:fs'
import { inspect } from 'node:util'
import { ClosedError, IncompatibleError, NotFoundError, ValueError } from '@ipc/core'
import { HEADER_BYTES, TRANSFER } from '@ipc/core/internal'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { OFFSET_LENGTH } from './layout.js'
import { RawArray, SharedArray } from './shared-array.js'
import { SharedValue } from './shared-value.js'

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

describe('new SharedArray()', () => {
  it('makes a zeroed array of a length, or one holding the given values', () => {
    const zeros = track(new SharedArray('int32', 4))
    expect(zeros.length).toBe(4)
    expect(zeros.toArray()).toEqual([0, 0, 0, 0])
    expect(track(new SharedArray('q', 2)).toArray()).toEqual([0n, 0n])
    expect(track(new SharedArray('bool', 2)).toArray()).toEqual([false, false])
    expect(track(new SharedArray('d', [1.5, -0, Number.NaN])).toArray()).toEqual([1.5, -0, Number.NaN])
    expect(track(new SharedArray('uint8', new Set([1, 2, 3]))).toArray()).toEqual([1, 2, 3])
    expect(track(new SharedArray('int16', 0)).toArray()).toEqual([])
  })

  it('gives a typed-array view of the matching class for every type', () => {
    const classes: [string, unknown][] = [
      ['int8', Int8Array],
      ['uint8', Uint8Array],
      ['int16', Int16Array],
      ['uint16', Uint16Array],
      ['int32', Int32Array],
      ['uint32', Uint32Array],
      ['int64', BigInt64Array],
      ['uint64', BigUint64Array],
      ['float32', Float32Array],
      ['float64', Float64Array],
      ['bool', Uint8Array],
    ]
    for (const [type, Class] of classes) {
      const array = track(new SharedArray(type as 'int8', 3))
      expect(array.array).toBeInstanceOf(Class)
      expect(array.array.length).toBe(3)
      expect(array.array.byteOffset % 64).toBe(0)
    }
  })

  it('validates every value before creating anything', () => {
    const name = uniqueName('array')
    expect(thrown(() => new SharedArray('int32', [1, 2, 1.5], { name }))).toBeInstanceOf(TypeError)
    const range = thrown(() => new SharedArray('uint8', [1, 256], { name }))
    expect(range).toBeInstanceOf(RangeError)
    expect(range.message).toBe('The value at index 1 must be in [0, 255] for type uint8, received 256')
    expect(thrown(() => new SharedArray('int64', [1n, 2] as never, { name }))).toBeInstanceOf(TypeError)
    expect(thrown(() => new SharedArray('int32', -1, { name }))).toBeInstanceOf(RangeError)
    expect(thrown(() => new SharedArray('int32', 2.5, { name }))).toBeInstanceOf(RangeError)
    expect(thrown(() => new SharedArray('int32', '3' as never, { name }))).toBeInstanceOf(TypeError)
    expect(thrown(() => new SharedArray('vec3' as never, 3, { name }))).toBeInstanceOf(TypeError)
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
  })
})

describe('SharedArray#get() and #set()', () => {
  it('round-trip edge values, seen through a second mapping and the view', () => {
    const array = track(new SharedArray('int64', 3))
    const other = track(SharedArray.open(array.name, 'int64'))
    array.set(0, -(2n ** 63n))
    array.set(2, 2n ** 63n - 1n)
    expect(other.get(0)).toBe(-(2n ** 63n))
    expect(other.array[2]).toBe(2n ** 63n - 1n)
    const floats = track(new SharedArray('float32', 2))
    floats.set(1, -0)
    expect(Object.is(track(SharedArray.open(floats.name)).get(1), -0)).toBe(true)
    const flags = track(new SharedArray('bool', 2))
    flags.set(1, true)
    expect(flags.array[1]).toBe(1)
    expect(flags.get(1)).toBe(true)
    const u64 = track(new SharedArray('Q', [2n ** 64n - 1n]))
    expect(u64.get(0)).toBe(2n ** 64n - 1n)
  })

  it('throws RangeError for an index out of range or not an integer, TypeError for a non-number', () => {
    const array = track(new SharedArray('int32', 3))
    for (const bad of [-1, 3, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(thrown(() => array.get(bad))).toBeInstanceOf(RangeError)
      expect(thrown(() => array.set(bad, 1))).toBeInstanceOf(RangeError)
    }
    expect(thrown(() => array.get(3)).message).toBe('The index must be an integer in [0, 3), received 3')
    expect(thrown(() => array.get('1' as never))).toBeInstanceOf(TypeError)
  })

  it('writes nothing for a value of the wrong kind or out of range', () => {
    const array = track(new SharedArray('int8', [5, 5]))
    expect(thrown(() => array.set(0, 128))).toBeInstanceOf(RangeError)
    expect(thrown(() => array.set(0, 0.5))).toBeInstanceOf(TypeError)
    expect(thrown(() => array.set(0, 1n as never))).toBeInstanceOf(TypeError)
    expect(array.toArray()).toEqual([5, 5])
  })
})

describe('SharedArray index assignment (arr[i] = v)', () => {
  it('throws a TypeError and writes neither the shared memory nor a local property', () => {
    const arr = track(new SharedArray('int32', 3))
    const other = track(SharedArray.open(arr.name, 'int32'))
    const error = thrown(() => {
      // The Python habit; TypeScript refuses it too (the index signature is readonly never).
      ;(arr as unknown as Record<number, number>)[0] = 99
    })
    expect(error).toBeInstanceOf(TypeError)
    expect(arr.get(0)).toBe(0)
    expect(other.get(0)).toBe(0)
    expect(Object.keys(arr)).not.toContain('0')
    expect((arr as unknown as Record<number, unknown>)[0]).toBeUndefined()
    // The same for arrays without a lock.
    const raw = track(new RawArray('uint8', 2))
    expect(Reflect.defineProperty(raw, 1, { value: 5 })).toBe(false)
    expect(raw.get(1)).toBe(0)
  })

  it('is ignored, never read back, in sloppy-mode code', () => {
    const arr = track(new SharedArray('float64', 2))
    // Function-constructor code is sloppy: there a failed assignment is silent.
    const assignAndRead = new Function('a', 'a[0] = 99; return a[0]') as (a: unknown) => unknown
    expect(assignAndRead(arr)).toBeUndefined()
    expect(arr.get(0)).toBe(0)
  })

  it('leaves the typed-array view and set() as the ways to write', () => {
    const arr = track(new SharedArray('int32', 2))
    arr.array[0] = 7
    arr.set(1, 8)
    expect(arr.toArray()).toEqual([7, 8])
  })
})

describe('SharedArray#array', () => {
  it('is a live zero-copy view: writes through it appear in every mapping', () => {
    const array = track(new SharedArray('float64', 1000))
    const other = track(SharedArray.open(array.name))
    array.array.fill(0.25)
    other.array[999] = 7
    expect(other.toArray().slice(0, 2)).toEqual([0.25, 0.25])
    expect(array.get(999)).toBe(7)
    expect(array.array.buffer).toBe(array.array.buffer)
    expect(Atomics.add(track(new SharedArray('int32', 1)).array, 0, 1)).toBe(0)
  })

  it('works with Atomics on integer arrays', () => {
    const array = track(new SharedArray('int32', 2))
    const other = track(SharedArray.open(array.name, 'int32'))
    Atomics.add(array.array, 1, 5)
    expect(Atomics.load(other.array, 1)).toBe(5)
  })
})

describe('SharedArray.open()', () => {
  it('throws IncompatibleError for another type or a SharedValue, NotFoundError for a missing name', () => {
    const array = track(new SharedArray('uint16', 2, { name: uniqueName('array') }))
    expect(track(SharedArray.open(array.name, 'H')).length).toBe(2)
    const error = thrown(() => SharedArray.open(array.name, 'int16'))
    expect(error).toBeInstanceOf(IncompatibleError)
    expect(error.message).toBe(`Cannot open shared array "${array.name}" as int16: it holds uint16`)
    const value = track(new SharedValue('uint16', 1, { name: uniqueName('value') }))
    const kind = thrown(() => SharedArray.open(value.name))
    expect(kind).toBeInstanceOf(IncompatibleError)
    expect(kind.message).toContain('it is a shared-value, not a shared-array')
    expect(thrown(() => SharedArray.open(uniqueName('missing')))).toBeInstanceOf(NotFoundError)
  })
  it('throws IncompatibleError, not a RangeError, for a length word that is negative, fractional or too large', () => {
    for (const length of [-1, 2.5, 5, 1e300, Number.NaN]) {
      const array = track(new RawArray('int32', 4, { name: uniqueName('length') }))
      const fd = openSync(`/dev/shm/ipc-${array.name}`, 'r+')
      const word = Buffer.alloc(8)
      word.writeDoubleLE(length)
      writeSync(fd, word, 0, 8, HEADER_BYTES + OFFSET_LENGTH)
      closeSync(fd)
      const error = thrown(() => RawArray.open(array.name))
      expect(error, `length ${length}`).toBeInstanceOf(IncompatibleError)
      expect(error.message).toContain("its header is not a shared array's")
    }
  })
})

describe('SharedArray#handle and SharedArray.from()', () => {
  it('round-trips through JSON', () => {
    const array = track(new SharedArray('float32', [1, 2]))
    const handle = JSON.parse(JSON.stringify(array.handle))
    expect(handle).toEqual({ kind: 'shared-array', name: array.name, type: 'float32', length: 2, lock: true })
    expect(track(SharedArray.from(handle)).toArray()).toEqual([1, 2])
    const raw = track(new RawArray('int8', 1))
    expect(track(SharedArray.from(raw.handle))).toBeInstanceOf(RawArray)
    expect(raw[TRANSFER]().export).toBe('RawArray')
    expect(array[TRANSFER]().export).toBe('SharedArray')
    expect(thrown(() => SharedArray.from(null as never))).toBeInstanceOf(TypeError)
  })
})

describe('SharedArray#withLock()', () => {
  it('holds the lock while fn runs and releases it on throw', async () => {
    const array = track(new SharedArray('int32', [1, 2]))
    await array.withLock(() => {
      const [a, b] = array.toArray() as number[]
      array.set(0, b as number)
      array.set(1, a as number)
    })
    expect(array.toArray()).toEqual([2, 1])
    await expect(
      array.withLock(() => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(array.getLock().locked).toBe(false)
    expect(array.withLockSync(() => array.array.fill(3).length)).toBe(2)
  })

  it('is absent from a RawArray', () => {
    const raw = track(new RawArray('int32', 2))
    expect(thrown(() => raw.getLock())).toBeInstanceOf(ValueError)
    expect(track(RawArray.open(raw.name)).hasLock).toBe(false)
  })
})

describe('SharedArray iteration, close and inspect', () => {
  it('iterates the elements', () => {
    expect([...track(new SharedArray('bool', [true, false, true]))]).toEqual([true, false, true])
  })

  it('throws ClosedError after close and removes the memory with the last close', () => {
    const array = new SharedArray('int32', 2)
    const path = `/dev/shm/ipc-${array.name}`
    array.close()
    array.close()
    expect(thrown(() => array.array)).toBeInstanceOf(ClosedError)
    expect(thrown(() => array.get(0))).toBeInstanceOf(ClosedError)
    expect(thrown(() => array.set(0, 1))).toBeInstanceOf(ClosedError)
    expect(thrown(() => array.toArray())).toBeInstanceOf(ClosedError)
    expect(existsSync(path)).toBe(false)
  })

  it('shows type, length and the first values', () => {
    const array = track(new SharedArray('int32', [1, 2, 3], { name: uniqueName('array') }))
    expect(inspect(array)).toBe(`SharedArray { name: '${array.name}', type: 'int32', length: 3, values: [ 1, 2, 3 ] }`)
    const long = track(new SharedArray('uint8', 30))
    expect(inspect(long)).toContain('(and 10 more)')
  })
})
