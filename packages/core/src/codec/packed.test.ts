import { execFileSync } from 'node:child_process'
import { setFlagsFromString, deserialize as v8Deserialize, serialize as v8Serialize } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { packedIndexKeyObjects, prng } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { CorruptError } from '../errors.js'
import { decodeUntrusted, TAG_PACKED } from './codec.js'
import { HEAP_FLOOR, heapBudget } from './heap-budget.js'
import { pack, unpack, unpackUntrusted } from './packed.js'

function roundTrip(value: unknown): unknown {
  const bytes = pack(value)
  if (bytes === undefined) throw new Error('did not pack')
  return unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length)
}

function packed(value: unknown): Buffer {
  const bytes = pack(value) as Uint8Array
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** What structured clone makes of `value`: the reference every packed value must equal. */
function cloned(value: unknown): unknown {
  return v8Deserialize(v8Serialize(value))
}

describe('pack() / unpack()', () => {
  it('gives back what structured clone gives, exactly', () => {
    const values = [
      null,
      undefined,
      true,
      false,
      0,
      -0,
      1,
      -1,
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 31,
      0.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      '',
      'msg-12345',
      'é'.repeat(32),
      'é'.repeat(33),
      'x'.repeat(300),
      '€uro',
      `${'a'.repeat(40)}€`,
      '😀',
      '\ud800',
      'a\udfffb',
      '\u0000',
      [],
      [1, 'two', null, undefined, [3, [4]]],
      {},
      { id: 1, name: 'x', values: [1, 2, 3] },
      { a: undefined, b: { c: { d: [Number.NaN, -0] } } },
      { 'key with spaces': 1, é: 2, '€': 3, '': 4, 12: 'numeric key' },
      Object.assign(Object.create(null), { x: 1 }),
      { __proto__: null, y: 2 },
      JSON.parse('{"__proto__": {"polluted": true}, "z": 3}'),
    ]
    for (const value of values) {
      const back = roundTrip(value)
      expect(back).toStrictEqual(cloned(value))
      if (typeof value === 'number') expect(Object.is(back, value)).toBe(true)
    }
  })

  it('keeps a "__proto__" key an own property, never the prototype', () => {
    const back = roundTrip(JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(Object.hasOwn(back, '__proto__')).toBe(true)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('defines keys Object.prototype has, so no setter runs and a frozen prototype does not refuse them', () => {
    // In a child: freezing Object.prototype or adding an accessor to it here would change the test runner.
    const script = `
      const { encode, decodePayload } = await import(${JSON.stringify(new URL('../../dist/internal.js', import.meta.url).href)})
      const seen = []
      Object.defineProperty(Object.prototype, 'trap', { set(v) { seen.push(v) }, get() { return 'inherited' }, configurable: true })
      const { tag, bytes } = encode({ trap: 1, toString: 'x', hasOwnProperty: 2 })
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      const back = decodePayload(tag, buf, 0, buf.length)
      Object.freeze(Object.prototype)
      const again = decodePayload(tag, buf, 0, buf.length)
      console.log(JSON.stringify({ tag, seen, own: Object.getOwnPropertyNames(back), trap: back.trap, toString: again.toString }))
    `
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(JSON.parse(out)).toEqual({
      tag: 8,
      seen: [],
      own: ['trap', 'toString', 'hasOwnProperty'],
      trap: 1,
      toString: 'x',
    })
  })

  it('refuses (undefined) what it cannot pack exactly, so the codec uses v8', () => {
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    let deep: unknown = 1
    for (let i = 0; i < 70; i++) deep = [deep]
    for (const value of [
      1n,
      Symbol('s'),
      () => 1,
      new Date(0),
      new Map(),
      Object.assign(new Array(3), { 0: 1, 2: 3 }),
      { d: new Date(0) },
      cycle,
      deep,
    ])
      expect(pack(value)).toBeUndefined()
  })

  it('reads each property once and packs what the getter returned', () => {
    let reads = 0
    const value = {
      get n() {
        reads++
        return reads
      },
    }
    expect(roundTrip(value)).toEqual({ n: 1 })
    expect(reads).toBe(1)
  })

  it('packs a value from a getter of a value being packed (re-entry) without corrupting the outer one', () => {
    let inner: Uint8Array | undefined
    const value = {
      a: 'outer',
      get b() {
        inner = pack({ inner: true })
        return 2
      },
    }
    expect(roundTrip(value)).toEqual({ a: 'outer', b: 2 })
    expect(inner).toBeUndefined() // refused while packing: the codec sends it through v8
  })

  it('packs a value larger than its scratch buffer, and the next small one', () => {
    const big = Array.from({ length: 20_000 }, (_, i) => ({ i, s: `item-${i}` }))
    expect(roundTrip(big)).toEqual(big)
    expect(roundTrip({ small: 1 })).toEqual({ small: 1 })
  })

  it('refuses (undefined) a value that reaches a large container twice, before the work multiplies', () => {
    // A DAG whose lists each hold the one below twice: 2^40 paths to its smallest list.
    let dag: unknown[] = ['leaf']
    for (let level = 0; level < 40; level++) dag = [dag, dag]
    // One wide list shared by every entry of another: 10 000 × 5 kB if written per reference.
    const wide = Array.from({ length: 1000 }, (_, i) => i)
    const fan = Array.from({ length: 10_000 }, () => wide)
    const started = performance.now()
    expect(pack(dag)).toBeUndefined()
    expect(pack(fan)).toBeUndefined()
    expect(performance.now() - started).toBeLessThan(500)
  })

  it('packs a large tree of large containers, and a small value that shares one (once per reference)', () => {
    const tree = Array.from({ length: 300 }, (_, i) => ({ i, text: 'x'.repeat(2000), list: [i, i + 1] }))
    expect(roundTrip(tree)).toEqual(tree)
    const shared = { n: 1 }
    const back = roundTrip({ a: shared, b: shared }) as { a: unknown; b: unknown }
    expect(back).toEqual({ a: { n: 1 }, b: { n: 1 } })
    expect(back.a).not.toBe(back.b)
  })

  it('throws CorruptError, never anything else, for bytes it did not write (fuzzed, seeded)', () => {
    const seed = Date.now() >>> 0
    const rand = prng(seed)
    const samples = [
      packed({ id: 1, name: 'x', values: [1, 2, 3], nested: { s: 'é€', u: undefined, f: 0.25 } }),
      packed(['a'.repeat(40), '😀'.repeat(5), [[[]]]]),
    ]
    for (let round = 0; round < 20_000; round++) {
      const base = samples[round % samples.length] as Buffer
      const bytes = Buffer.from(base)
      const mode = round % 3
      let length = bytes.length
      if (mode === 0)
        length = Math.floor(rand() * bytes.length) // truncated
      else if (mode === 1)
        for (let k = 0; k < 3; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256)
      else for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(rand() * 256)
      try {
        unpack(bytes, 0, length)
      } catch (error) {
        if (!(error instanceof CorruptError)) throw new Error(`seed ${seed}, round ${round}: ${String(error)}`)
      }
    }
  })

  it('refuses a count larger than the bytes left, and a nesting bomb, before allocating or recursing', () => {
    const hugeArray = Buffer.from([9, 0xff, 0xff, 0xff, 0x7f])
    expect(() => unpack(hugeArray, 0, hugeArray.length)).toThrow(/a count of 2147483647 with 0 bytes left/)
    const hugeString = Buffer.from([8, 0xff, 0xff, 0xff, 0x7f, 0x41])
    expect(() => unpack(hugeString, 0, hugeString.length)).toThrow(CorruptError)
    const bomb = Buffer.alloc(5 * 100_000)
    for (let i = 0; i < 100_000; i++) bomb.set([9, 1, 0, 0, 0], 5 * i)
    expect(() => unpack(bomb, 0, bomb.length)).toThrow(/nested deeper than 64/)
    const trailing = Buffer.from([1, 1])
    expect(() => unpack(trailing, 0, 2)).toThrow(/1 bytes after the value/)
    const key = Buffer.from([10, 1, 0, 0, 0, 4, 0, 0, 0, 0, 1])
    expect(() => unpack(key, 0, key.length)).toThrow(/where a key was expected/)
  })

  it('reads only inside [start, end) of a larger buffer', () => {
    const bytes = packed({ a: [1, 2] })
    const big = Buffer.alloc(bytes.length + 20, 0xee)
    bytes.copy(big, 10)
    expect(unpack(big, 10, 10 + bytes.length)).toEqual({ a: [1, 2] })
    expect(() => unpack(big, 10, 10 + bytes.length - 1)).toThrow(CorruptError)
  })
})

/** The V8 heap in use after a full GC (the test process gets `gc` through the flag, as `--expose-gc` would give it). */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  return process.memoryUsage().heapUsed
}

/** The least budget `unpackUntrusted` reads `bytes` within: what it charges, to 1 KB. */
function charged(bytes: Buffer): number {
  let lo = 0
  let hi = 2 ** 32
  while (hi - lo > 1024) {
    const mid = Math.floor((lo + hi) / 2)
    try {
      unpackUntrusted(bytes, 0, bytes.length, mid)
      hi = mid
    } catch {
      lo = mid
    }
  }
  return hi
}

describe('unpackUntrusted() / decodeUntrusted() of packed values', () => {
  it('refuses 20,000 objects of index keys 1023 and 2574 (380 KB, 624 MB once revived), heap unchanged', () => {
    const bytes = packedIndexKeyObjects(20_000, [1023, 2574])
    expect(bytes.length).toBe(380_005)
    const before = heapAfterGc()
    expect(() => decodeUntrusted(TAG_PACKED, bytes, 0, bytes.length)).toThrow(
      /its packed value is refused \(it would take more than 16 bytes of heap per byte plus 1048576: 7128656 for its 380005 bytes\)/,
    )
    expect(heapAfterGc() - before).toBeLessThan(HEAP_FLOOR)
  })

  it('charges an index key past the 1,024-slot gap as a dictionary: 2,000 objects of keys 1023 then 5000 are refused too', () => {
    const bytes = packedIndexKeyObjects(2000, [1023, 5000])
    expect(() => decodeUntrusted(TAG_PACKED, bytes, 0, bytes.length)).toThrow(/more than 16 bytes of heap per byte/)
  })

  it('takes ordinary values: records, nested objects, objects with a few small int keys, strings, floats', () => {
    const values: Record<string, unknown> = {
      records: Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `user ${i}`, values: [1, 2, 3] })),
      nested: Array.from({ length: 2000 }, (_, i) => ({ a: { b: { c: [i, i + 0.5, 'x'] } }, d: 'text value' })),
      intKeys: Array.from({ length: 100_000 }, () => ({ 1: 'a', 2: 'b' })),
      dense: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [i, i])),
      strings: Array.from({ length: 50_000 }, (_, i) => `s${i}`),
      wide: { text: 'ü€😀'.repeat(1000), empty: {}, list: [] },
    }
    for (const [name, value] of Object.entries(values)) {
      const bytes = packed(value)
      expect(decodeUntrusted(TAG_PACKED, bytes, 0, bytes.length), name).toEqual(cloned(value))
    }
  })

  it('charges at least the heap V8 takes for the shapes it models, and less than the budget for ordinary ones', () => {
    const shapes: Record<string, unknown> = {
      'records {id, name, values: [1, 2, 3]}': Array.from({ length: 100_000 }, (_, i) => ({
        id: i,
        name: `n${i % 100}`,
        values: [1, 2, 3],
      })),
      '{1: "a", 2: "b"}': Array.from({ length: 100_000 }, () => ({ 1: 'a', 2: 'b' })),
      '{}': Array.from({ length: 100_000 }, () => ({})),
      '{0: 0, …, 99: 99}': Array.from({ length: 2000 }, () =>
        Object.fromEntries(Array.from({ length: 100 }, (_, i) => [i, i])),
      ),
      '{404: null}': Array.from({ length: 200 }, () => ({ 404: null })),
      'one object of 10,000 distinct keys': Object.fromEntries(
        Array.from({ length: 10_000 }, (_, i) => [`key${i}`, i]),
      ),
    }
    for (const [name, value] of Object.entries(shapes)) {
      const bytes = packed(value)
      const estimate = charged(bytes)
      const before = heapAfterGc()
      const revived = unpack(bytes, 0, bytes.length)
      const taken = heapAfterGc() - before
      expect(revived, name).toBeDefined()
      expect(taken, name).toBeLessThanOrEqual(estimate)
      expect(estimate, name).toBeLessThan(heapBudget(bytes.length))
    }
  })

  it('charges at least the heap V8 takes for objects that each name a new key', () => {
    // [{<key>: null}, …] of 30,000 distinct two-char keys, written byte by byte: making the objects here would
    // internalize their keys and make their hidden classes before the read.
    const n = 30_000
    const bytes = Buffer.alloc(5 + 10 * n)
    bytes[0] = 9
    bytes.writeUInt32LE(n, 1)
    for (let i = 0; i < n; i++)
      bytes.set([10, 1, 0, 0, 0, 6, 2, 0x41 + (i % 191), 0x41 + Math.floor(i / 191), 1], 5 + 10 * i)
    const estimate = charged(bytes)
    const before = heapAfterGc()
    const revived = unpack(bytes, 0, bytes.length)
    const taken = heapAfterGc() - before
    expect(revived).toHaveLength(n)
    expect(taken).toBeLessThanOrEqual(estimate)
  })

  it('leaves the trusted read as it was: it does not charge (200 of those objects are read in full)', () => {
    const bytes = packedIndexKeyObjects(200, [1023, 2574])
    expect(unpack(bytes, 0, bytes.length)).toHaveLength(200)
    expect(() => unpackUntrusted(bytes, 0, bytes.length, 1024 * 1024)).toThrow(CorruptError)
    // A refusal leaves the next trusted read unmetered.
    expect(unpack(bytes, 0, bytes.length)).toHaveLength(200)
  })
})
