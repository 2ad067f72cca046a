import { setFlagsFromString, serialize as v8Serialize } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { CorruptError } from '@ipc/core'
import {
  collidingIntegers,
  jsonArrayOf,
  packedIndexKeyObjects,
  prng,
  v8EmptySets,
  v8IndexKeyObjects,
  v8SetOf,
  v8SparseArrays,
} from '@ipc/test-utils'
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

/** The V8 heap in use after a full GC (the test process gets `gc` through the flag, as `--expose-gc` would give it). */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  return process.memoryUsage().heapUsed
}

describe('fromWire() of packed and JSON items', () => {
  it('drops a packed item of 20,000 objects of index keys 1023 and 2574 (380 KB, 624 MB once revived), heap unchanged', () => {
    const wire = `8${packedIndexKeyObjects(20_000, [1023, 2574]).toString('base64')}`
    const before = heapAfterGc()
    expect(() => fromWire(wire, 'queue "t"')).toThrow(
      /Cannot decode an item of queue "t": .*its packed value is refused \(it would take more than 16 bytes of heap per byte/,
    )
    expect(heapAfterGc() - before).toBeLessThan(2 ** 20)
  })

  it('drops JSON items past the budget ([{},…]: 3 MB of text, 64 MB once parsed), heap unchanged', () => {
    const wire = `6${jsonArrayOf(1_000_000, '{}').toString('latin1')}`
    const before = heapAfterGc()
    expect(() => fromWire(wire, 'queue "t"')).toThrow(/its JSON value is refused/)
    // The 3 MB wire string, a rope until read, is flattened once: a parsed value would be 64 MB.
    expect(heapAfterGc() - before).toBeLessThan(8 * 2 ** 20)
  })

  it('revives ordinary packed and JSON items, and refuses malformed JSON with CorruptError', () => {
    const records = Array.from({ length: 10_000 }, (_, i) => ({ id: i, name: `user ${i}`, values: [1, 2, 3] }))
    const small = { 1: 'a', 2: 'b', nested: { list: [1.5, 'é€'] } }
    for (const value of [records, small]) {
      const wire = toWire(value)
      expect(wire[0]).toBe('8')
      expect(fromWire(wire, 'queue "t"')).toEqual(value)
      expect(fromWire(`6${JSON.stringify(value)}`, 'queue "t"')).toEqual(value)
    }
    expect(() => fromWire('6{"a":', 'queue "t"')).toThrow(CorruptError)
  })
})
