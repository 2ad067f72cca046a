import { serialize as v8Serialize } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { CorruptError, DataCloneError } from '../errors.js'
import {
  decodePayload,
  decodeSplit,
  decodeUntrusted,
  deserialize,
  encode,
  serialize,
  TAG_BUFFER,
  TAG_BYTES,
  TAG_JSON_LATIN1,
  TAG_JSON_UTF8,
  TAG_LATIN1,
  TAG_PACKED,
  TAG_UTF8,
  TAG_V8,
  writePayload,
} from './codec.js'

function roundTrip<T>(value: T): T {
  return deserialize<T>(serialize(value))
}

describe('serialize() / deserialize()', () => {
  it.each([
    ['empty', ''],
    ['ascii', 'hello'],
    ['latin1', 'café ÿ'],
    ['utf8', 'Ωμέγα – 日本語'],
    ['emoji', 'ok 😀👍🏽'],
    ['long latin1', 'é'.repeat(10_000)],
    ['lone surrogate', '\ud800x'],
  ])('round-trips a string: %s', (_, text) => {
    // Every string comes back equal, a lone surrogate too (as postMessage keeps it; UTF-8 alone would not).
    expect(roundTrip(text)).toBe(text)
  })

  it('keeps a Buffer a Buffer and a Uint8Array a Uint8Array', () => {
    const buffer = roundTrip(Buffer.from('bytes'))
    expect(Buffer.isBuffer(buffer)).toBe(true)
    expect(buffer.toString()).toBe('bytes')
    const bytes = roundTrip(new Uint8Array([1, 2, 255]))
    expect(bytes).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(bytes)).toBe(false)
    expect([...bytes]).toEqual([1, 2, 255])
    expect(roundTrip(new Uint8Array(0))).toEqual(new Uint8Array(0))
  })

  it('round-trips a view on part of a larger buffer without the rest', () => {
    const big = new Uint8Array(100).map((_, i) => i)
    expect([...roundTrip(big.subarray(10, 13))]).toEqual([10, 11, 12])
  })

  it('round-trips structured-clone values: objects, Map, Set, Date, BigInt, RegExp, typed arrays, cycles', () => {
    const cyclic: Record<string, unknown> = { n: 1 }
    cyclic.self = cyclic
    const value = {
      number: -0.5,
      nan: Number.NaN,
      nothing: undefined,
      empty: null,
      list: [1, 'two', [3]],
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, { b: true }],
      ]),
      set: new Set([1, 'x']),
      date: new Date(1_700_000_000_000),
      big: 2n ** 100n,
      regexp: /ab+c/gi,
      floats: new Float64Array([1.5, -2]),
      cyclic,
    }
    const copy = roundTrip(value)
    expect(copy).toEqual(value)
    expect(copy.map).toBeInstanceOf(Map)
    expect(copy.date).toBeInstanceOf(Date)
    expect(copy.floats).toBeInstanceOf(Float64Array)
    expect(copy.cyclic.self).toBe(copy.cyclic)
    expect(Object.is(roundTrip(-0), -0)).toBe(true)
    expect(roundTrip(undefined)).toBeUndefined()
    expect(roundTrip(null)).toBeNull()
  })

  it('round-trips errors with their type and message', () => {
    const copy = roundTrip(new TypeError('bad thing'))
    expect(copy).toBeInstanceOf(TypeError)
    expect(copy.message).toBe('bad thing')
    expect(copy.stack).toContain('bad thing')
    expect(roundTrip(new RangeError('r'))).toBeInstanceOf(RangeError)
  })

  it.each([
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['an object holding a function', { handler: () => {} }],
    ['a WeakMap', new WeakMap()],
  ])('throws DataCloneError for %s', (_, value) => {
    let error: unknown
    try {
      serialize(value)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(DataCloneError)
    expect((error as DataCloneError).code).toBe('IPC_DATA_CLONE')
    expect((error as DataCloneError).message).toMatch(/^Cannot send the value: /)
    expect((error as DataCloneError).cause).toBeDefined()
  })

  it.each([
    [{ job: { id: 1, onDone: () => {} } }, 'the value.job.onDone is a function'],
    [[1, 2, Symbol('x')], 'the value[2] is a symbol'],
    [{ jobs: [{ ok: true }, { wait: Promise.resolve() }] }, 'the value.jobs[1].wait is a Promise'],
    [new Map([['k', { f() {} }]]), 'the value.get(k).f is a function'],
  ])('names the part of %o that cannot be cloned', (value, where) => {
    expect(() => serialize(value)).toThrow(`Cannot send the value: ${where}, which cannot be cloned (`)
  })

  it('rejects input that serialize did not make', () => {
    expect(() => deserialize('text' as never)).toThrow(TypeError)
    expect(() => deserialize(new Uint8Array(0))).toThrow(RangeError)
    expect(() => deserialize(new Uint8Array([99, 1]))).toThrow('Cannot decode a message: unknown tag 99')
    expect(() => deserialize(new Uint8Array([TAG_V8, 1, 2, 3]))).toThrow(RangeError)
  })

  it('throws DataCloneError for a value v8 serialized but nests too deep to revive', () => {
    let deep = {}
    for (let i = 0; i < 3000; i++) deep = { inner: deep }
    const bytes = serialize(deep)
    expect(() => deserialize(bytes)).toThrow(DataCloneError)
    expect(() => deserialize(bytes)).toThrow(/^Cannot revive the value: it is nested deeper than the stack/)
  })
})

describe('encode()', () => {
  it('picks the fast paths: latin1, utf8, bytes, Buffer, packed plain data; v8 for the rest', () => {
    expect(encode('abc')).toMatchObject({ tag: TAG_LATIN1, size: 3 })
    expect(encode('é')).toMatchObject({ tag: TAG_LATIN1, size: 1 })
    expect(encode('€')).toMatchObject({ tag: TAG_UTF8, size: 3 })
    expect(encode('😀')).toMatchObject({ tag: TAG_UTF8, size: 4 })
    expect(encode(new Uint8Array(5))).toMatchObject({ tag: TAG_BYTES, size: 5 })
    expect(encode(Buffer.alloc(6))).toMatchObject({ tag: TAG_BUFFER, size: 6 })
    // Plain data is packed, including what JSON would lose (undefined, NaN, -0, ±Infinity, lone surrogates).
    for (const plain of [
      { a: 1 },
      { a: '€' },
      7,
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      undefined,
      { a: undefined },
      '\ud800',
      [1, 'x', null, true],
      Object.create(null),
    ])
      expect(encode(plain).tag).toBe(TAG_PACKED)
    for (const notPlain of [
      1n,
      new Date(0),
      new Map(),
      Object.assign(new Array(3), { 0: 1, 2: 3 }), // a hole at index 1
      { d: new Date(0) },
      Object.create({ inherited: 1 }),
      new (class Point {})(),
    ])
      expect(encode(notPlain).tag).toBe(TAG_V8)
  })

  it('sends a DAG that shares its lists through v8, in linear time and with identity kept', () => {
    // Each list holds the one below twice: packed once per path it would take 2^30 writes.
    let dag: unknown[] = []
    for (let level = 0; level < 30; level++) dag = [dag, dag]
    const started = performance.now()
    const encoded = encode(dag)
    expect(performance.now() - started).toBeLessThan(500)
    expect(encoded.tag).toBe(TAG_V8)
    expect(encoded.size).toBeLessThan(1000)
    const copy = roundTrip(dag) as unknown[][]
    expect(copy[0]).toBe(copy[1])
    expect((copy[0] as unknown[][])[0]).toBe((copy[0] as unknown[][])[1])
    // Small plain data keeps the packed form (no tracking below 64 KiB).
    expect(encode({ id: 1, name: 'x', values: [1, 2, 3] }).tag).toBe(TAG_PACKED)
  })

  it('throws DataCloneError before anything is written to the target', () => {
    const target = Buffer.alloc(16, 0xaa)
    expect(() => writePayload(encode({ f: () => {} }), target, 0)).toThrow(DataCloneError)
    expect(target.every((b) => b === 0xaa)).toBe(true)
  })
})

describe('writePayload() / decodePayload()', () => {
  it('writes exactly size bytes at the offset and decodes them back', () => {
    const values = [
      'latin1 é',
      'utf8 😀',
      'x'.repeat(16), // the longest Latin-1 text written in JS
      'y'.repeat(17),
      '\ud800', // lone surrogates: UTF-8 would make them U+FFFD, postMessage keeps them
      'a \udfff b 😀',
      new Uint8Array([1, 2]),
      Buffer.from('b'),
      { k: [1] },
    ]
    for (const value of values) {
      const encoded = encode(value)
      const target = Buffer.alloc(encoded.size + 20, 0xee)
      expect(writePayload(encoded, target, 10)).toBe(encoded.size)
      expect(target.subarray(0, 10).every((b) => b === 0xee)).toBe(true)
      expect(target.subarray(10 + encoded.size).every((b) => b === 0xee)).toBe(true)
      expect(decodePayload(encoded.tag, target, 10, 10 + encoded.size)).toEqual(value)
    }
  })

  it('copies: changing the source afterwards does not change the value', () => {
    const source = Buffer.from([1, 2, 3, 4])
    const bytes = decodePayload(TAG_BYTES, source, 0, 4) as Uint8Array
    const buffer = decodePayload(TAG_BUFFER, source, 0, 4) as Buffer
    source.fill(0)
    expect([...bytes]).toEqual([1, 2, 3, 4])
    expect([...buffer]).toEqual([1, 2, 3, 4])
  })
})

describe('decodeSplit()', () => {
  /** `value`'s payload in `source` as it sits at a ring's end: its last `tail` bytes at 0, the rest at the end. */
  function split(value: unknown, tail: number) {
    const encoded = encode(value)
    const whole = Buffer.alloc(encoded.size)
    writePayload(encoded, whole, 0)
    const source = Buffer.alloc(encoded.size + 8, 0xee)
    whole.copy(source, 0, encoded.size - tail)
    whole.copy(source, source.length - (encoded.size - tail), 0, encoded.size - tail)
    return { tag: encoded.tag, source, size: encoded.size, head: source.length - (encoded.size - tail) }
  }
  const scratch = (size: number) => Buffer.alloc(size)

  it('revives a value from its two pieces, as decodePayload does from one', () => {
    const values = [
      'latin1 é',
      'utf8 😀',
      { k: [1, 'x'] },
      new Map([[1, 2]]),
      Buffer.from('buffer'),
      new Uint8Array([1, 2, 3, 4]),
    ]
    for (const value of values) {
      const { tag, source, size, head } = split(value, 3)
      expect(decodeSplit(tag, source, head, source.length, 0, 3, scratch), String(value)).toEqual(value)
      expect(size).toBeGreaterThan(3)
    }
  })

  it('gives bytes their own memory, of their own type: a Buffer, or a Uint8Array with an ArrayBuffer of its size', () => {
    const large = Buffer.alloc(65536, 7)
    const { tag, source, head } = split(large, 1000)
    const buffer = decodeSplit(tag, source, head, source.length, 0, 1000, scratch) as Buffer
    expect(Buffer.isBuffer(buffer)).toBe(true)
    expect(buffer.equals(large)).toBe(true)
    const bytes = split(new Uint8Array(large), 1000)
    const array = decodeSplit(bytes.tag, bytes.source, bytes.head, bytes.source.length, 0, 1000, scratch) as Uint8Array
    expect(Buffer.isBuffer(array)).toBe(false)
    expect(array.buffer.byteLength).toBe(65536)
    expect(array.byteOffset).toBe(0)
    source.fill(0)
    bytes.source.fill(0)
    expect(buffer.every((b) => b === 7)).toBe(true)
    expect(array.every((b) => b === 7)).toBe(true)
  })

  it('throws CorruptError when a piece falls outside the source', () => {
    const source = Buffer.from('hello')
    expect(decodeSplit(TAG_LATIN1, source, 3, 5, 0, 2, scratch)).toBe('lohe')
    expect(() => decodeSplit(TAG_LATIN1, source, 3, 6, 0, 2, scratch)).toThrow(CorruptError)
    expect(() => decodeSplit(TAG_BYTES, source, 3, 5, -1, 2, scratch)).toThrow(
      /bytes 3 to 5 and -1 to 2 are outside its 5-byte source/,
    )
  })
})

describe('decodePayload() of JSON text (tags 6 and 7: read, no longer written)', () => {
  it('revives JSON text in Latin-1 and in UTF-8', () => {
    const latin1 = Buffer.from('{"a":[1,"é"]}', 'latin1')
    expect(decodePayload(TAG_JSON_LATIN1, latin1, 0, latin1.length)).toEqual({ a: [1, 'é'] })
    const utf8 = Buffer.from('{"a":"€"}', 'utf8')
    expect(decodePayload(TAG_JSON_UTF8, utf8, 0, utf8.length)).toEqual({ a: '€' })
  })
})

describe('decodePayload() bounds', () => {
  it('throws CorruptError when the payload bounds fall outside the source', () => {
    const source = Buffer.from('hello')
    expect(decodePayload(TAG_LATIN1, source, 1, 3)).toBe('el')
    expect(() => decodePayload(TAG_LATIN1, source, 2, 9)).toThrow(CorruptError)
    expect(() => decodePayload(TAG_LATIN1, source, -1, 2)).toThrow(CorruptError)
    expect(() => decodePayload(TAG_BYTES, source, 3, 2)).toThrow(/bytes 3 to 2 are outside its 5-byte source/)
  })
})

describe('decodeUntrusted() errors', () => {
  it("turns every failure of a decoder into CorruptError, the decoder's own error as its cause", () => {
    // A v8 RegExp whose pattern V8 will not compile ('(' for 'a' in /a/) passes the scan, then V8 throws SyntaxError.
    const regexp = Buffer.from([0xff, 0x0f, 0x52, 0x22, 0x01, 0x28, 0x00])
    let thrown: unknown
    try {
      decodeUntrusted(TAG_V8, regexp, 0, regexp.length)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(CorruptError)
    expect((thrown as CorruptError).cause).toBeInstanceOf(SyntaxError)
    // An unknown tag, and JSON that is not JSON.
    expect(() => decodeUntrusted(42, regexp, 0, 1)).toThrow(CorruptError)
    const text = Buffer.from('{"a":')
    expect(() => decodeUntrusted(TAG_JSON_UTF8, text, 0, text.length)).toThrow(CorruptError)
  })
})

describe('decodeUntrusted() of long strings where V8 hashes them (by their length alone past 16,383 chars)', () => {
  // 16,384 chars, one more than V8 hashes by content; they differ only at the end, so all of one
  // length collide and each insertion compares the new one with every earlier one.
  const long = (i: number, length = 16_384) => `${'k'.repeat(length - 4)}${String(i).padStart(4, '0')}`
  const keys = (n: number) => Array.from({ length: n }, (_, i) => long(i))
  const decode = (tag: number, bytes: Uint8Array) =>
    decodeUntrusted(tag, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.byteLength)
  const size = (value: unknown) =>
    value instanceof Set || value instanceof Map ? value.size : Object.keys(value as object).length

  const tables: [string, (strings: string[]) => Uint8Array][] = [
    ['a v8 Set', (strings) => v8Serialize(new Set(strings))],
    ['v8 Map keys', (strings) => v8Serialize(new Map(strings.map((k) => [k, 0])))],
  ]
  for (const [form, make] of tables) {
    it(`${form}: 400 of one length (6.5 MB) are refused with CorruptError, quickly; 100 are read, and 200 of different lengths`, () => {
      const started = performance.now()
      expect(() => decode(TAG_V8, make(keys(400)))).toThrow(/would make V8 compare more than 268435456 chars/)
      // Refused once the compares pass 256 Mi chars (about 40 ms), not after all of them (seconds).
      expect(performance.now() - started).toBeLessThan(1_000)
      expect(size(decode(TAG_V8, make(keys(100))))).toBe(100)
      // Strings of different lengths do not collide: a set of 200 long documents is fine.
      const documents = Array.from({ length: 200 }, (_, i) => long(i, 20_000 + i))
      expect(size(decode(TAG_V8, make(documents)))).toBe(200)
    })
  }

  const objects: [string, (key: string) => { tag: number; bytes: Uint8Array }][] = [
    ['v8', (key) => ({ tag: TAG_V8, bytes: v8Serialize({ [key]: 0, m: new Map() }) })],
    ['packed', (key) => encoded({ [key]: 0 }, TAG_PACKED)],
    ['JSON', (key) => ({ tag: TAG_JSON_LATIN1, bytes: Buffer.from(JSON.stringify({ [key]: 0 })) })],
  ]
  for (const [form, make] of objects) {
    it(`${form}: a property name of more than 16,383 chars is refused (V8 keeps names in one table for the process); one of 16,383 is read`, () => {
      const refused = make(long(1, 16_384))
      expect(() => decode(refused.tag, refused.bytes)).toThrow(CorruptError)
      expect(() => decode(refused.tag, refused.bytes)).toThrow(/a property name of 16384 chars/)
      const fine = make(long(1, 16_383))
      expect(Object.keys(decode(fine.tag, fine.bytes) as object)).toContain(long(1, 16_383))
    })
  }

  it('v8: a RegExp pattern of more than 16,383 chars is refused (V8 caches RegExps for the process by that hash)', () => {
    expect(() => decode(TAG_V8, v8Serialize(new RegExp(long(1, 16_384))))).toThrow(/a RegExp pattern of 16384 chars/)
    expect(String(decode(TAG_V8, v8Serialize(new RegExp(long(1, 16_383)))))).toBe(`/${long(1, 16_383)}/`)
  })
})

function encoded(value: unknown, tag: number): { tag: number; bytes: Uint8Array } {
  const result = encode(value)
  expect(result.tag).toBe(tag)
  return { tag, bytes: result.bytes as Uint8Array }
}
