// The pickle reader and writer against real python3: Python's pickles at protocols 2..5 of a
// corpus of plain data -> unpickle; our pickle() of the same values -> pickle.loads in Python.
import { execFileSync } from 'node:child_process'
import { CorruptError, DataCloneError } from '@ipc/core'
import { prng } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { HEAP_BUDGET_PER_BYTE, MAX_LONG_BYTES, unpickle } from './pickle-reader.js'
import { pickle } from './pickle-writer.js'

const corpusScript = new URL('../test/fixtures/pickle_corpus.py', import.meta.url).pathname

function python(args: string[], input?: string): string {
  return execFileSync('python3', [corpusScript, ...args], {
    input,
    encoding: 'utf8',
    timeout: 20_000,
    maxBuffer: 64 * 1024 * 1024,
  })
}

/** The corpus as JavaScript sees it (the names of pickle_corpus.py). */
function corpus(): Record<string, unknown> {
  const shared = [1, 2]
  const meList: unknown[] = []
  meList.push(meList)
  const meDict: Record<string, unknown> = {}
  meDict.me = meDict
  const meDictInt = new Map<unknown, unknown>([[1, null]])
  meDictInt.set(2, meDictInt)
  let deep: unknown = null
  for (let i = 0; i < 200; i++) deep = [deep]
  const dictStr: Record<string, unknown> = { a: 1, b: [1, 2] }
  Object.defineProperty(dictStr, '__proto__', { value: 'kept', enumerable: true, writable: true, configurable: true })
  const bigDict: Record<string, number> = {}
  for (let i = 0; i < 1500; i++) bigDict[String(i)] = i
  return {
    none: null,
    true: true,
    false: false,
    ints: [0, 1, 255, 256, 65535, 65536, -1, -256, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2 ** 53 - 1)],
    big_ints: [2n ** 53n, -(2n ** 53n), 2n ** 64n, -(2n ** 100n), 10n ** 40n, 2n ** 63n - 1n, -(2n ** 63n)],
    floats: [3.5, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e300, 5e-324],
    strings: ['', 'hello', 'h\u00e9llo \u00fcn\u00efcode \u{1f389}', 'a'.repeat(300), 'lone \ud800 surrogate'],
    bytes: [new Uint8Array(0), new Uint8Array([0, 255]), new Uint8Array(300).fill(0x78)],
    bytearray: new Uint8Array([0x61, 0x62]),
    list: [1, 'a', null, true, 2.5],
    tuple: [1, 'two', null],
    empty_tuple: [],
    long_tuple: [1, 2, 3, 4, 5],
    dict_str: dictStr,
    dict_int: new Map([
      [1, 'one'],
      [2, 'two'],
    ]),
    dict_tuple_key: new Map([[[1, 2], 'pair']]),
    empty_dict: {},
    set: new Set([1, 2, 3]),
    frozenset: new Set(['a', 'b']),
    empty_set: new Set(),
    set_of_tuples: new Set([[1, 2], ['a']]),
    shared: [shared, shared],
    me_list: meList,
    me_dict: meDict,
    me_dict_int: meDictInt,
    dict_mixed: new Map<unknown, unknown>([
      ['a', 1],
      [2, 'b'],
      ['c', [{ d: 4 }]],
    ]),
    deep,
    many: Array.from({ length: 2500 }, (_, i) => i),
    big_dict: bigDict,
    nested: {
      users: [
        { id: 1, tags: new Set(['x']) },
        { id: 2, tags: new Set() },
      ],
      ok: true,
    },
  }
}

describe('unpickle()', () => {
  it("reads Python's pickles of every plain type at protocols 2, 3, 4 and 5", { timeout: 30_000 }, () => {
    const want = corpus()
    const lines = python(['dump']).trim().split('\n')
    expect(lines.length).toBe(4 * Object.keys(want).length)
    for (const line of lines) {
      const { protocol, name, hex } = JSON.parse(line) as { protocol: number; name: string; hex: string }
      const got = unpickle(Buffer.from(hex, 'hex'))
      const where = `${name} at protocol ${protocol}`
      if (name === 'me_list') {
        expect(Array.isArray(got) && (got as unknown[])[0] === got, where).toBe(true)
      } else if (name === 'me_dict') {
        expect((got as { me?: unknown }).me === got, where).toBe(true)
      } else if (name === 'me_dict_int') {
        expect(got instanceof Map && got.get(1) === null && got.get(2) === got, where).toBe(true)
      } else if (name === 'shared') {
        expect(got, where).toEqual(want[name])
        expect((got as unknown[])[0] === (got as unknown[])[1], where).toBe(true)
      } else if (name === 'dict_str') {
        expect(Object.getPrototypeOf(got), where).toBe(Object.prototype)
        expect(Object.entries(got as object), where).toEqual([
          ['a', 1],
          ['b', [1, 2]],
          ['__proto__', 'kept'],
        ])
      } else if (name === 'floats') {
        expect(
          (got as number[]).map((x) => (Object.is(x, -0) ? '-0' : String(x))),
          where,
        ).toEqual((want[name] as number[]).map((x) => (Object.is(x, -0) ? '-0' : String(x))))
      } else {
        expect(got, where).toEqual(want[name])
      }
    }
  })

  it('refuses a class instance, a global and a reduce with DataCloneError naming the opcode', () => {
    const out = execFileSync(
      'python3',
      [
        '-c',
        `
import pickle, os, collections
class Point:
    def __init__(self): self.x = 1
print(pickle.dumps(Point(), protocol=2).hex())
print(pickle.dumps(Point(), protocol=4).hex())
print(pickle.dumps(os.system, protocol=4).hex())
print(pickle.dumps(collections.OrderedDict(a=1), protocol=2).hex())
print(pickle.dumps(set, protocol=2).hex())
print(pickle.dumps(complex(1, 2), protocol=4).hex())
`,
      ],
      { encoding: 'utf8', cwd: '/tmp', timeout: 20_000 },
    )
    const [p2, p4, system, ordered, setType, cplx] = out.trim().split('\n') as [string, ...string[]]
    expect(() => unpickle(Buffer.from(p2, 'hex'))).toThrow(/GLOBAL names the global __main__\.Point/)
    expect(() => unpickle(Buffer.from(p4 as string, 'hex'))).toThrow(/STACK_GLOBAL names the global __main__\.Point/)
    expect(() => unpickle(Buffer.from(system as string, 'hex'))).toThrow(/STACK_GLOBAL names the global posix\.system/)
    expect(() => unpickle(Buffer.from(ordered as string, 'hex'))).toThrow(DataCloneError)
    expect(() => unpickle(Buffer.from(setType as string, 'hex'))).toThrow(/leaves a class or function/)
    expect(() => unpickle(Buffer.from(cplx as string, 'hex'))).toThrow(/builtins\.complex/)
  })

  it('throws CorruptError for a truncated pickle, an unknown opcode and a length past the end', () => {
    const good = pickle({ a: [1, 2, 'three'] })
    for (let n = 0; n < good.byteLength; n++) expect(() => unpickle(good.subarray(0, n))).toThrow(CorruptError)
    expect(() => unpickle(Uint8Array.of(0x80, 4, 0xff, 0x2e))).toThrow(/unknown opcode 0xff/)
    // BINUNICODE announcing 4 GiB - 1 in a 10-byte frame: refused before any slice.
    expect(() => unpickle(Uint8Array.of(0x58, 0xff, 0xff, 0xff, 0xff, 0x61, 0x2e))).toThrow(/needs 4294967295 bytes/)
    expect(() => unpickle(Uint8Array.of(0x8e, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0x2e))).toThrow(CorruptError)
    expect(() => unpickle(Uint8Array.of(0x61, 0x2e))).toThrow(/APPEND finds the stack empty/)
  })
})

describe('pickle()', () => {
  it("writes protocol 4 that Python's pickle.loads reads as the same plain data", { timeout: 30_000 }, () => {
    const values = corpus()
    const input = Object.entries(values)
      .map(([name, value]) => JSON.stringify({ name, hex: Buffer.from(pickle(value)).toString('hex') }))
      .join('\n')
    const lines = python(['check'], `${input}\n`).trim().split('\n')
    expect(lines.filter((l) => !l.startsWith('ok '))).toEqual([])
    expect(lines.length).toBe(Object.keys(values).length)
  })

  it('round-trips through its own reader: safe integers as numbers, larger ones as bigint', () => {
    expect(unpickle(pickle([2 ** 53 - 1, 2n ** 53n, -3n, 1.5]))).toEqual([2 ** 53 - 1, 2n ** 53n, -3, 1.5])
    expect(unpickle(pickle(new Map<unknown, unknown>([[1, 'a']])))).toEqual(new Map([[1, 'a']]))
  })

  it('refuses values that are not plain data with DataCloneError', () => {
    expect(() => pickle(new Date())).toThrow(/it is a Date/)
    expect(() => pickle({ f: () => 1 })).toThrow(/it is a function/)
    expect(() => pickle(Symbol('s'))).toThrow(DataCloneError)
    expect(() => pickle(new Float64Array(2))).toThrow(/Float64Array/)
    expect(() => pickle(new Map([[{}, 1]]))).toThrow(/hashable/)
    const loop: unknown[] = []
    loop.push(loop)
    expect(() => pickle(new Set([loop]))).toThrow(/holds itself/)
    let deep: unknown = 1
    for (let i = 0; i < 1001; i++) deep = [deep]
    expect(() => pickle(deep)).toThrow(/nested more than 1000 deep/)
  })
})

describe('unpickle() under fuzzing', () => {
  /** Runs the reader on `input`: a value, or one of the two typed errors; never anything else. */
  function attempt(input: Uint8Array): void {
    const started = performance.now()
    try {
      unpickle(input)
    } catch (error) {
      if (!(error instanceof CorruptError) && !(error instanceof DataCloneError)) {
        throw new Error(`untyped error for ${Buffer.from(input).toString('hex')}: ${String(error)}`)
      }
    }
    // Linear in the input: a few hundred bytes never take long.
    expect(performance.now() - started).toBeLessThan(200)
  }

  it('throws only DataCloneError or CorruptError for random, truncated and mutated pickles (seed 20)', () => {
    const seed = 20
    console.log(`pickle fuzz seed ${seed}`)
    const next = prng(seed)
    const byte = () => Math.floor(next() * 256)
    const valid = [
      pickle(corpus().nested),
      pickle([1, 2n ** 70n, 'x', new Uint8Array([1, 2]), new Set([1]), new Map([[[1, 2], { a: null }]])]),
      Buffer.from(python(['dump']).split('\n')[20] as string, 'utf8'), // not a pickle at all: JSON text
    ]
    for (let i = 0; i < 3000; i++) {
      const input = new Uint8Array(Math.floor(next() * 64))
      for (let j = 0; j < input.byteLength; j++) input[j] = byte()
      // Half of them start like a real pickle, to get past the first opcode.
      if (i % 2 === 0 && input.byteLength > 2) input.set([0x80, 4], 0)
      attempt(input)
    }
    for (const good of valid) {
      for (let n = 0; n <= good.byteLength; n++) attempt(good.subarray(0, n))
      for (let i = 0; i < 1000; i++) {
        const input = Uint8Array.from(good)
        const flips = 1 + Math.floor(next() * 4)
        for (let f = 0; f < flips; f++) input[Math.floor(next() * input.byteLength)] = byte()
        attempt(input)
      }
    }
  })

  it('refuses a length field larger than the frame before allocating it', () => {
    // Every sized opcode announcing more than is left: CorruptError naming the bytes needed.
    const cases = [
      [0x58, 0xff, 0xff, 0xff, 0x7f], // BINUNICODE 2 GiB
      [0x42, 0xff, 0xff, 0xff, 0xff], // BINBYTES 4 GiB
      [0x8d, 0, 0, 0, 0, 0, 0, 0x10, 0], // BINUNICODE8 2^52
      [0x96, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // BYTEARRAY8 2^64 - 1
      [0x8b, 0xff, 0xff, 0xff, 0x7f], // LONG4 2 GiB
      [0x95, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], // FRAME 4 GiB
    ]
    const before = process.memoryUsage().arrayBuffers
    for (const c of cases) expect(() => unpickle(Uint8Array.from([0x80, 5, ...c, 0x2e]))).toThrow(CorruptError)
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024)
  })
})

/** STACK_GLOBAL of a builtin, MEMOIZE (entry 0), POP: the attack pickles below start so. */
function stackGlobal(module: string, name: string): number[] {
  return [0x8c, module.length, ...Buffer.from(module), 0x8c, name.length, ...Buffer.from(name), 0x93, 0x94, 0x30]
}

/** A 4-byte little-endian length. */
function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]
}

/** PROTO 4, `head`, `argument` (memoised by the caller), `times` × `call`, STOP: a valid pickle of plain data. */
function attack(head: number[], argument: Uint8Array, call: number[], times: number): Uint8Array {
  const calls = new Uint8Array(call.length * times)
  for (let i = 0; i < times; i++) calls.set(call, i * call.length)
  return Buffer.concat([Buffer.from([0x80, 4, ...head]), argument, calls, Buffer.from([0x2e])])
}

describe('unpickle() copy budget', () => {
  // BINGET 0 (the builtin), BINGET 1 (the argument), TUPLE1, REDUCE: 6 bytes per full copy.
  const copyOfOne = [0x68, 0, 0x68, 1, 0x85, 0x52]
  const memoizeAndPop = Buffer.from([0x94, 0x30])

  it('refuses repeated bytearray(bytes) of a memoised 256 KiB bytes with DataCloneError, allocating little', () => {
    const big = Buffer.concat([Buffer.from([0x42, ...u32(256 * 1024)]), Buffer.alloc(256 * 1024, 0x78), memoizeAndPop])
    const input = attack(stackGlobal('builtins', 'bytearray'), big, copyOfOne, 400) // 100 MiB of copies unchecked
    const before = process.memoryUsage().arrayBuffers
    const started = performance.now()
    expect(() => unpickle(input)).toThrow(DataCloneError)
    expect(() => unpickle(input)).toThrow(/REDUCE of bytearray would copy 262144 values or bytes/)
    expect(performance.now() - started).toBeLessThan(500)
    // At most 4 bytes per byte of the pickle, twice: about 2 MiB.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024)
  })

  it('refuses repeated set(list) and frozenset(list) of a memoised 50,000-item list quickly', () => {
    const items = [0x28] // MARK, 50,000 × BININT, LIST
    for (let i = 0; i < 50_000; i++) items.push(0x4a, ...u32(i))
    items.push(0x6c, 0x94, 0x30)
    for (const name of ['set', 'frozenset']) {
      const input = attack(stackGlobal('builtins', name), Uint8Array.from(items), copyOfOne, 200) // 10M entries unchecked
      const before = process.memoryUsage().heapUsed
      const started = performance.now()
      expect(() => unpickle(input)).toThrow(DataCloneError)
      expect(performance.now() - started).toBeLessThan(500)
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024)
    }
  })

  it('refuses repeated _codecs.encode of a memoised 256 KiB str quickly', () => {
    // Entry 1 the str, entry 2 'latin1'; each call: BINGET 0, BINGET 1, BINGET 2, TUPLE2, REDUCE.
    const argument = Buffer.concat([
      Buffer.from([0x58, ...u32(256 * 1024)]),
      Buffer.alloc(256 * 1024, 0x61),
      memoizeAndPop,
      Buffer.from([0x8c, 6, ...Buffer.from('latin1')]),
      memoizeAndPop,
    ])
    const input = attack(stackGlobal('_codecs', 'encode'), argument, [0x68, 0, 0x68, 1, 0x68, 2, 0x86, 0x52], 400)
    const before = process.memoryUsage().arrayBuffers
    const started = performance.now()
    expect(() => unpickle(input)).toThrow(DataCloneError)
    expect(() => unpickle(input)).toThrow(/REDUCE of _codecs.encode would copy/)
    expect(performance.now() - started).toBeLessThan(500)
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024)
  })

  it("reads CPython's protocol 2 and 3 pickles of a large set, bytes and bytearray within the budget", {
    timeout: 30_000,
  }, () => {
    for (const protocol of [2, 3]) {
      const input = execFileSync(
        'python3',
        [
          '-c',
          `import pickle, sys; sys.stdout.buffer.write(pickle.dumps([set(map(str, range(100000))), frozenset(range(5)), b'x' * 100000, bytearray(b'y' * 100000)], protocol=${protocol}))`,
        ],
        { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 },
      )
      // Strings: numbers would be over MAX_HASHED_NUMBERS.
      const [set, frozen, bytes, bytearray] = unpickle(input) as [Set<string>, Set<number>, Uint8Array, Uint8Array]
      expect(set.size).toBe(100_000)
      expect(set.has('99999')).toBe(true)
      expect(frozen.size).toBe(5)
      expect(bytes).toEqual(new Uint8Array(100_000).fill(0x78))
      expect(bytearray).toEqual(new Uint8Array(100_000).fill(0x79))
    }
  })
})

describe('unpickle() of large integers', () => {
  it('reads a LONG4 of 64 KiB (MAX_LONG_BYTES), positive and negative, in milliseconds', () => {
    for (const top of [0x7f, 0x80]) {
      const digits = Buffer.alloc(MAX_LONG_BYTES, 0)
      digits[MAX_LONG_BYTES - 1] = top
      const input = Buffer.concat([Buffer.from([0x80, 4, 0x8b, ...u32(MAX_LONG_BYTES)]), digits, Buffer.from([0x2e])])
      const started = performance.now()
      const value = unpickle(input)
      expect(performance.now() - started).toBeLessThan(100)
      const bits = BigInt(8 * MAX_LONG_BYTES)
      expect(value).toBe(top === 0x7f ? 0x7fn << (bits - 8n) : (0x80n << (bits - 8n)) - (1n << bits))
    }
    // Little-endian two's complement at the edges of a number.
    expect(unpickle(Uint8Array.from([0x80, 4, 0x8a, 2, 0xff, 0x7f, 0x2e]))).toBe(32767)
    expect(unpickle(Uint8Array.from([0x80, 4, 0x8a, 2, 0x00, 0x80, 0x2e]))).toBe(-32768)
    expect(unpickle(Uint8Array.from([0x80, 4, 0x8a, 1, 0xff, 0x2e]))).toBe(-1)
  })

  it('refuses a LONG4 of 1 MiB with DataCloneError in milliseconds', () => {
    const n = 1024 * 1024
    const input = Buffer.concat([Buffer.from([0x80, 4, 0x8b, ...u32(n)]), Buffer.alloc(n, 0x5a), Buffer.from([0x2e])])
    const started = performance.now()
    expect(() => unpickle(input)).toThrow(DataCloneError)
    expect(() => unpickle(input)).toThrow(/LONG4 holds an integer of 1048576 bytes, more than the 65536 accepted/)
    expect(performance.now() - started).toBeLessThan(100)
  })
})

/** PROTO 4, MARK, `n` × `op`, LIST, STOP: n fresh objects in a list, one byte each. */
function bomb(op: number, n: number): Uint8Array {
  const input = Buffer.alloc(n + 5, op)
  input.set([0x80, 4, 0x28], 0)
  input.set([0x6c, 0x2e], n + 3)
  return input
}

describe('unpickle() heap budget', () => {
  it("reads CPython's pickles of ordinary data at protocols 2 to 5 in at most 24 bytes of heap per byte (small dicts with int keys: 30)", {
    timeout: 30_000,
  }, () => {
    const lines = python(['budget']).trim().split('\n')
    let worst = { perByte: 0, where: '' }
    for (const line of lines) {
      const { protocol, name, hex, length, last } = JSON.parse(line) as {
        protocol: number
        name: string
        hex: string
        length: number
        last: unknown
      }
      const input = Buffer.from(hex, 'hex')
      const where = `${name} at protocol ${protocol}`
      // No floor: the least whole number of bytes per byte the value needs.
      let perByte = 1
      while (perByte <= HEAP_BUDGET_PER_BYTE) {
        try {
          unpickle(input, 0, input.byteLength, perByte * input.byteLength)
          break
        } catch (error) {
          if (!(error instanceof DataCloneError) || !/would take more memory/.test(error.message)) throw error
          perByte++
        }
      }
      if (perByte > worst.perByte) worst = { perByte, where }
      // Small dicts with int keys are Maps (184 bytes each, and the dict object they replace at STOP).
      expect(perByte, where).toBeLessThanOrEqual(name === 'records_int_keys' ? 30 : 24)
      const got = unpickle(input)
      if (got instanceof Set) expect(got.size, where).toBe(length)
      else if (Array.isArray(got)) {
        expect(got.length, where).toBe(length)
        const tail = got[length - 1]
        if (tail instanceof Map) expect(Object.fromEntries(tail), where).toEqual(last)
        else expect(tail instanceof Uint8Array ? Array.from(tail) : tail, where).toEqual(last)
      } else {
        expect(Object.keys(got as object).length, where).toBe(length)
        expect((got as Record<string, unknown>)[`key${length - 1}`], where).toEqual(last)
      }
    }
    console.log(`worst heap per byte of ordinary data: ${worst.perByte} (${worst.where})`)
  })

  it('refuses 2 MB of empty sets, dicts, lists or tuples in a list with DataCloneError, quickly', () => {
    for (const op of [0x8f, 0x7d, 0x5d, 0x29]) {
      const input = bomb(op, 2_000_000)
      const before = process.memoryUsage().heapUsed
      const started = performance.now()
      expect(() => unpickle(input)).toThrow(DataCloneError)
      expect(performance.now() - started).toBeLessThan(3000)
      // The budget, 32 bytes per byte plus 1 MiB (65 MB), then the parse stack and the stores it
      // left behind as it grew (up to 40 bytes per byte, garbage at once).
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(160 * 1024 * 1024)
    }
    expect(() => unpickle(bomb(0x8f, 2_000_000))).toThrow(
      /value would take more memory than its 2000005 bytes allow \(65048736 bytes of heap, 32 per byte plus 1 MiB\), past it at opcode EMPTY_SET at offset \d+/,
    )
  })

  it('reads a small message of costly values within the 1 MiB floor, and refuses a larger one', () => {
    // 4,000 empty sets (152 bytes each, 608 KB) from 4 KB: within the floor.
    expect((unpickle(bomb(0x8f, 4000)) as unknown[]).length).toBe(4000)
    // 20,000 (3 MB) from 20 KB: past 1 MiB plus 32 per byte.
    expect(() => unpickle(bomb(0x8f, 20_000))).toThrow(/would take more memory/)
  })

  it('charges memo entries as V8 stores them: 12 bytes each while the indices go 0, 1, 2…', () => {
    // NONE, then 1,000,000 × MEMOIZE: fast elements, 1.5 slots of 8 bytes each; within 32 per byte.
    const dense = Buffer.alloc(1_000_005, 0x94)
    dense.set([0x80, 4, 0x4e], 0)
    dense.set([0x2e], 1_000_004)
    expect(unpickle(dense)).toBe(null)
    // LONG_BINPUT 2^32 - 1 (no array index: a property), then the same: still fast elements.
    const past = Buffer.alloc(1_000_010, 0x94)
    past.set([0x80, 4, 0x4e, 0x72, 0xff, 0xff, 0xff, 0xff], 0)
    past.set([0x2e], 1_000_009)
    expect(unpickle(past)).toBe(null)
    // 20,000 LONG_BINPUTs 3,000 apart (7 bytes each): dictionary elements, a table of 32,768 entries
    // (3 slots each) once all are in, about 49 bytes an entry; refused at 4 per byte.
    const sparse = Buffer.alloc(2 + 7 * 20_000 + 2)
    sparse.set([0x80, 4], 0)
    for (let i = 0; i < 20_000; i++) {
      sparse.set([0x4e, 0x72], 2 + 7 * i)
      sparse.writeUInt32LE(5000 + 3000 * i, 4 + 7 * i)
      sparse[8 + 7 * i] = 0x30
    }
    sparse.set([0x4e, 0x2e], 2 + 7 * 20_000)
    expect(unpickle(sparse)).toBe(null)
    expect(() => unpickle(sparse, 0, sparse.byteLength, 4 * sparse.byteLength)).toThrow(
      /would take more memory than .* at opcode LONG_BINPUT/,
    )
  })

  it("refuses memo indices that grow V8's fast elements through their 1024-slot gap, within the budget", () => {
    // 100,000 × (NONE MEMOIZE POP), then 1,500 × NONE LONG_BINPUT (each 1,023 past the last) POP:
    // 310 KB whose memo V8 would grow to ~2 million slots (16 MB live, 26 MB with the stores it
    // replaced) against a budget of 11 MB.
    const parts = [Buffer.from([0x80, 4]), Buffer.alloc(300_000, Buffer.from([0x4e, 0x94, 0x30]))]
    let index = 99_999
    for (let i = 0; i < 1500; i++) {
      index += 1023
      const put = Buffer.from([0x4e, 0x72, 0, 0, 0, 0, 0x30])
      put.writeUInt32LE(index, 2)
      parts.push(put)
    }
    parts.push(Buffer.from([0x4e, 0x2e]))
    const input = Buffer.concat(parts)
    const budget = HEAP_BUDGET_PER_BYTE * input.byteLength + 1024 * 1024
    const before = process.memoryUsage().heapUsed
    expect(() => unpickle(input)).toThrow(/would take more memory than its 310504 bytes allow .* at opcode LONG_BINPUT/)
    // Each store is charged its growth (the live heap); the ones it replaced are garbage until a GC,
    // at most about as much again: twice the budget, then the parse stack.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(2 * budget + 4 * 1024 * 1024)
  })

  it('refuses dicts whose str keys are array indices that V8 stores in grown fast elements, within the budget', () => {
    // '1023' and '2574' memoised, then 20,000 × {'1023': None, '2574': None} (EMPTY_DICT BINGET 0
    // NONE SETITEM BINGET 1 NONE SETITEM APPEND): 200 KB whose dicts V8 gives 3,878 slots each
    // (31 KB; 620 MB in all) against a budget of 7.4 MB.
    const key = (text: string) => Buffer.concat([Buffer.from([0x8c, text.length]), Buffer.from(text)])
    const one = Buffer.from([0x7d, 0x68, 0, 0x4e, 0x73, 0x68, 1, 0x4e, 0x73, 0x61])
    const head = Buffer.concat([Buffer.from([0x80, 4]), key('1023'), Buffer.from([0x94, 0x30]), key('2574')])
    const dicts = (n: number) =>
      Buffer.concat([head, Buffer.from([0x94, 0x30, 0x5d]), Buffer.alloc(one.byteLength * n, one), Buffer.from([0x2e])])
    const input = dicts(20_000)
    const budget = HEAP_BUDGET_PER_BYTE * input.byteLength + 1024 * 1024
    const before = process.memoryUsage().heapUsed
    expect(() => unpickle(input)).toThrow(/would take more memory than its 200020 bytes allow .* at opcode SETITEM/)
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(budget + 4 * 1024 * 1024)
    // 20 of them (0.6 MB) are within the 1 MiB floor, 40 are not.
    const few = unpickle(dicts(20)) as Record<string, unknown>[]
    expect(few.length).toBe(20)
    expect(Object.keys(few[19] as object)).toEqual(['1023', '2574'])
    expect(() => unpickle(dicts(40))).toThrow(/would take more memory/)
  })

  it('charges str keys that are not array indices as properties', () => {
    // '01', '-1', '4294967295' (past the largest index) and '1.5' are property names, not elements:
    // a million-slot gap is no cost for them.
    for (const text of ['01', '-1', '4294967295', '1.5', '99999999999']) {
      const key = Buffer.concat([Buffer.from([0x8c, text.length]), Buffer.from(text)])
      const input = Buffer.concat([Buffer.from([0x80, 4, 0x7d]), key, Buffer.from([0x4e, 0x73, 0x2e])])
      expect(Object.keys(unpickle(input, 0, input.byteLength, 1024) as object), text).toEqual([text])
    }
    // '4294967294' is the largest index: a dictionary entry, within 1 KiB; '4' past a 1023-slot gap: a store of 1552 slots.
    const largest = Buffer.from([0x80, 4, 0x7d, 0x8c, 10, ...Buffer.from('4294967294'), 0x4e, 0x73, 0x2e])
    expect(Object.keys(unpickle(largest, 0, largest.byteLength, 1024) as object)).toEqual(['4294967294'])
    const gap = Buffer.from([0x80, 4, 0x7d, 0x8c, 4, ...Buffer.from('1023'), 0x4e, 0x73, 0x2e])
    expect(() => unpickle(gap, 0, gap.byteLength, 8 * 1024)).toThrow(/would take more memory/)
    expect(Object.keys(unpickle(gap, 0, gap.byteLength, 16 * 1024) as object)).toEqual(['1023'])
  })
})

describe('unpickle() of long strings as set items and dict keys (V8 hashes them by their length alone)', () => {
  // 16,384 chars, differing only at the end: they all collide in V8's tables.
  const keys = (n: number) => Array.from({ length: n }, (_, i) => `${'k'.repeat(16_380)}${String(i).padStart(4, '0')}`)
  const forms: [string, (n: number) => unknown][] = [
    ['a set', (n) => new Set(keys(n))],
    [
      'keys of a dict with an int key first (a Map)',
      (n) => new Map<unknown, number>([[1, 1], ...keys(n).map((k): [string, number] => [k, 0])]),
    ],
  ]
  for (const [form, make] of forms) {
    it(`${form}: 400 are refused with DataCloneError, quickly; 100 are read`, () => {
      const input = pickle(make(400))
      const started = performance.now()
      expect(() => unpickle(input)).toThrow(DataCloneError)
      expect(() => unpickle(input)).toThrow(/would make V8 compare more than 268435456 chars/)
      expect(performance.now() - started).toBeLessThan(2_000)
      const value = unpickle(pickle(make(100))) as Set<string> | Map<unknown, number>
      expect(value.size).toBeGreaterThanOrEqual(100)
    })
  }

  it('a dict with a str key of more than 16,383 chars is read as a Map (not a property name), whatever the key order', () => {
    const key = (length: number) => 'k'.repeat(length)
    expect(unpickle(pickle({ [key(16_384)]: 0, a: 1 }))).toEqual(
      new Map<unknown, number>([
        [key(16_384), 0],
        ['a', 1],
      ]),
    )
    expect(
      unpickle(
        pickle(
          new Map<unknown, number>([
            [1, 2],
            [key(16_384), 0],
          ]),
        ),
      ),
    ).toEqual(
      new Map<unknown, number>([
        [1, 2],
        [key(16_384), 0],
      ]),
    )
    expect(Object.keys(unpickle(pickle({ [key(16_383)]: 0 })) as object)).toEqual([key(16_383)])
    // Such keys are Map keys then: 400 of one length are refused, as in a set.
    const many = Object.fromEntries(
      Array.from({ length: 400 }, (_, i) => [`${key(16_380)}${String(i).padStart(4, '0')}`, 0]),
    )
    expect(() => unpickle(pickle(many))).toThrow(/would make V8 compare more than 268435456 chars/)
  })
})
