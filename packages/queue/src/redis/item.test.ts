import { serialize as v8Serialize } from 'node:v8'
import { CorruptError } from '@ipc/core'
import { collidingIntegers, prng, v8EmptySets, v8IndexKeyObjects, v8SetOf, v8SparseArrays } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { fromWire, toWire } from './item.js'

describe('fromWire()', () => {
  it('revives the v8 items toWire writes (Map, Set, Date, bigint, Buffer, cycles)', () => {
    const cycle: Record<string, unknown> = { name: 'root' }
    cycle.self = cycle
    const value = {
      map: new Map<unknown, unknown>([
        ['a', new Date(0)],
        [1n, new Set([1, 2])],
      ]),
      buffer: Buffer.from('bytes'),
      floats: new Float64Array([1.5]),
      cycle,
    }
    const wire = toWire(value)
    expect(wire[0]).toBe('5')
    expect(fromWire(wire, 'queue "t"')).toEqual(value)
  })

  it('throws CorruptError, quickly, for colliding ints, empty-Set, sparse-array and index-key bombs and 5,000 mutated v8 items (fuzz)', () => {
    for (const payload of [
      v8SetOf(collidingIntegers(32_768)),
      v8EmptySets(2_000_000),
      v8SparseArrays(8, 30_000_000),
      v8IndexKeyObjects(2000, [1023, 2574], 'latin1'),
    ]) {
      const start = performance.now()
      expect(() => fromWire(`5${payload.toString('base64')}`, 'queue "t"')).toThrow(CorruptError)
      expect(performance.now() - start).toBeLessThan(1000)
    }
    // A fixed seed, so every run tries the same items; change it here to explore others.
    const seed = 0x17e3_5eed
    console.log(`fromWire fuzz seed ${seed}`)
    const random = prng(seed)
    const holes: number[] = []
    holes[0] = 1
    holes[2] = 3
    const samples: Buffer[] = [
      v8Serialize(
        new Map<unknown, unknown>([
          ['a', 1],
          [2, new Date(0)],
        ]),
      ),
      v8Serialize({ tags: new Set(['x', 'y']), big: 2n ** 70n, re: /a+/g, error: new RangeError('r') }),
      v8Serialize([Buffer.from('ab'), new Uint16Array([1, 2]), new DataView(new ArrayBuffer(4)), holes]),
      v8SetOf(collidingIntegers(64)),
      v8EmptySets(20),
    ]
    const start = performance.now()
    let refused = 0
    for (let i = 0; i < 5000; i++) {
      const bytes = Buffer.from(samples[Math.floor(random() * samples.length)] as Buffer)
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--)
        bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
      const wire = `5${bytes.subarray(0, random() < 0.2 ? Math.floor(random() * bytes.length) : bytes.length).toString('base64')}`
      try {
        fromWire(wire, 'queue "t"')
      } catch (error) {
        expect(error).toBeInstanceOf(CorruptError)
        refused++
      }
    }
    expect(refused).toBeGreaterThan(1000)
    expect(performance.now() - start).toBeLessThan(5000)
  })
})
