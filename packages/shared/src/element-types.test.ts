import { describe, expect, it } from 'vitest'
import { checkElement, elementType, elementTypeById, loadElement, storeElement } from './element-types.js'

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('Expected the call to throw')
}

describe('elementType()', () => {
  it('resolves every name and Python typecode', () => {
    const expected: Record<string, [string, number]> = {
      int8: ['int8', 1],
      b: ['int8', 1],
      uint8: ['uint8', 1],
      B: ['uint8', 1],
      int16: ['int16', 2],
      h: ['int16', 2],
      uint16: ['uint16', 2],
      H: ['uint16', 2],
      int32: ['int32', 4],
      i: ['int32', 4],
      uint32: ['uint32', 4],
      I: ['uint32', 4],
      int64: ['int64', 8],
      l: ['int64', 8],
      q: ['int64', 8],
      uint64: ['uint64', 8],
      L: ['uint64', 8],
      Q: ['uint64', 8],
      float32: ['float32', 4],
      f: ['float32', 4],
      float64: ['float64', 8],
      d: ['float64', 8],
      bool: ['bool', 1],
      '?': ['bool', 1],
    }
    for (const [given, [name, bytes]] of Object.entries(expected)) {
      const type = elementType(given)
      expect(type.name).toBe(name)
      expect(type.bytes).toBe(bytes)
      expect(elementTypeById(type.id)).toBe(type)
    }
  })

  it('throws a TypeError that lists the valid types', () => {
    for (const bad of ['int', 'Int32', 'c', '', 42, undefined]) {
      const error = thrown(() => elementType(bad))
      expect(error).toBeInstanceOf(TypeError)
      expect(error.code).toBe('ERR_INVALID_ARG_VALUE')
      expect(error.message).toContain("'int8', 'uint8', 'int16'")
      expect(error.message).toContain("'q', 'Q', 'f', 'd'")
    }
    expect(thrown(() => elementType('int33')).message).toMatch(/received "int33"$/)
  })
})

describe('checkElement()', () => {
  it('accepts the extremes of every integer type and rejects one past them with RangeError', () => {
    const cases: [string, number | bigint, number | bigint, number | bigint, number | bigint][] = [
      ['int8', -128, 127, -129, 128],
      ['uint8', 0, 255, -1, 256],
      ['int16', -32768, 32767, -32769, 32768],
      ['uint16', 0, 65535, -1, 65536],
      ['int32', -(2 ** 31), 2 ** 31 - 1, -(2 ** 31) - 1, 2 ** 31],
      ['uint32', 0, 2 ** 32 - 1, -1, 2 ** 32],
      ['int64', -(2n ** 63n), 2n ** 63n - 1n, -(2n ** 63n) - 1n, 2n ** 63n],
      ['uint64', 0n, 2n ** 64n - 1n, -1n, 2n ** 64n],
    ]
    for (const [name, min, max, below, above] of cases) {
      const type = elementType(name)
      expect(checkElement(type, min, 'v')).toBe(min)
      expect(checkElement(type, max, 'v')).toBe(max)
      expect(thrown(() => checkElement(type, below, 'v'))).toBeInstanceOf(RangeError)
      expect(thrown(() => checkElement(type, above, 'v'))).toBeInstanceOf(RangeError)
    }
  })

  it('rejects values of the wrong kind with TypeError', () => {
    const int32 = elementType('int32')
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 1n, '1', true, null, undefined])
      expect(thrown(() => checkElement(int32, bad, 'v'))).toBeInstanceOf(TypeError)
    for (const bad of [1, 1.5, '1', true])
      expect(thrown(() => checkElement(elementType('int64'), bad, 'v'))).toBeInstanceOf(TypeError)
    for (const bad of [1n, '1', true, null])
      expect(thrown(() => checkElement(elementType('float64'), bad, 'v'))).toBeInstanceOf(TypeError)
    for (const bad of [0, 1, 1n, 'true', null])
      expect(thrown(() => checkElement(elementType('bool'), bad, 'v'))).toBeInstanceOf(TypeError)
    expect(thrown(() => checkElement(int32, 1.5, 'The value')).message).toBe(
      'The value must be an integer for type int32, received 1.5',
    )
  })

  it('stores booleans as 0 and 1 and accepts any number for float types', () => {
    expect(checkElement(elementType('bool'), true, 'v')).toBe(1)
    expect(checkElement(elementType('bool'), false, 'v')).toBe(0)
    expect(checkElement(elementType('float32'), 1e300, 'v')).toBe(1e300)
    expect(Object.is(checkElement(elementType('float64'), -0, 'v'), -0)).toBe(true)
  })
})

describe('loadElement() and storeElement()', () => {
  it('round-trip float edge values through their bit patterns', () => {
    const buffer = new ArrayBuffer(16)
    const f64 = elementType('float64')
    const bits64 = new BigInt64Array(buffer)
    for (const value of [
      0,
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.MIN_VALUE,
      Number.MAX_VALUE,
      0.1,
    ]) {
      storeElement(f64, bits64, 1, value)
      expect(Object.is(loadElement(f64, bits64, 1), value)).toBe(true)
      expect(Object.is(new Float64Array(buffer)[1], value)).toBe(true)
    }
    const f32 = elementType('float32')
    const bits32 = new Int32Array(buffer)
    for (const value of [0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1.5, Math.fround(0.1)]) {
      storeElement(f32, bits32, 3, value)
      expect(Object.is(loadElement(f32, bits32, 3), value)).toBe(true)
    }
    storeElement(f32, bits32, 3, 1e300)
    expect(loadElement(f32, bits32, 3)).toBe(Number.POSITIVE_INFINITY)
  })
})
