/**
 * A pickle writer for plain data, protocol 4.
 *
 * Why protocol 4: every Python since 3.4 reads it (all maintained ones;
 * multiprocessing itself sends protocol 4 since 3.8), and it is the first
 * protocol with opcodes for sets and frozensets. With it the output never
 * holds a GLOBAL or a REDUCE, so a Python peer that unpickles with a
 * restricted `find_class` refusing every global still reads all we send.
 * (Protocol 3, which Python 3.0 to 3.3 also read, writes sets as a call of
 * `builtins.set`.) No FRAME opcodes: framing is optional in protocol 4.
 *
 * | JavaScript                                   | Python                          |
 * |----------------------------------------------|---------------------------------|
 * | null, undefined                              | None                            |
 * | boolean                                      | bool                            |
 * | number: a safe integer (not -0)              | int                             |
 * | number: anything else (3.5, -0, NaN, 1e300)  | float                           |
 * | bigint                                       | int                             |
 * | string                                       | str (lone surrogates kept)      |
 * | Uint8Array (and Buffer)                      | bytes                           |
 * | Array                                        | list; tuple as a dict key or set item |
 * | Map, plain object (own enumerable str keys)  | dict                            |
 * | Set                                          | set; frozenset as a dict key or set item |
 *
 * Anything else (a Date, a class instance, a function, a symbol, another
 * typed array) throws DataCloneError before anything is sent. Shared and
 * self references are kept through the memo; an Array used as a key that
 * holds itself, a Map or plain object as a key (unhashable in Python), and
 * nesting deeper than MAX_DEPTH also throw DataCloneError.
 */
import { DataCloneError } from '@ipc/core'

/** The protocol we write. */
export const PICKLE_PROTOCOL = 4
/** The deepest nesting the writer follows (Python's own recursion limit is 1000). */
export const MAX_DEPTH = 1000

const PROTO = 0x80
const STOP = 0x2e
const MARK = 0x28
const NONE = 0x4e
const NEWTRUE = 0x88
const NEWFALSE = 0x89
const BININT = 0x4a
const BININT1 = 0x4b
const BININT2 = 0x4d
const LONG1 = 0x8a
const LONG4 = 0x8b
const BINFLOAT = 0x47
const SHORT_BINUNICODE = 0x8c
const BINUNICODE = 0x58
const BINUNICODE8 = 0x8d
const SHORT_BINBYTES = 0x43
const BINBYTES = 0x42
const BINBYTES8 = 0x8e
const EMPTY_LIST = 0x5d
const APPENDS = 0x65
const EMPTY_TUPLE = 0x29
const TUPLE = 0x74
const TUPLE1 = 0x85
const TUPLE2 = 0x86
const TUPLE3 = 0x87
const EMPTY_DICT = 0x7d
const SETITEMS = 0x75
const EMPTY_SET = 0x8f
const ADDITEMS = 0x90
const FROZENSET = 0x91
const MEMOIZE = 0x94
const BINGET = 0x68
const LONG_BINGET = 0x6a

/** Items per APPENDS / SETITEMS / ADDITEMS, as CPython batches them. */
const BATCH = 1000
const SURROGATE = /[\uD800-\uDFFF]/

/** UTF-8 of `text`, lone surrogates as 3-byte sequences (Python's 'surrogatepass'). */
function encodeText(text: string): Buffer {
  const out: number[] = []
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number
    if (cp < 0x80) out.push(cp)
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f))
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f))
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f))
  }
  return Buffer.from(out)
}

/** The minimal little-endian two's-complement bytes of `value` (CPython's `encode_long`). */
function encodeLong(value: bigint): Buffer {
  if (value === 0n) return Buffer.alloc(0)
  const negative = value < 0n
  // Bits of the magnitude, plus one for the sign.
  let bits = (negative ? -value - 1n : value).toString(2).length + 1
  if (negative && value === -1n) bits = 1
  const n = Math.ceil(bits / 8)
  let v = negative ? (1n << BigInt(8 * n)) + value : value
  const out = Buffer.alloc(n)
  for (let i = 0; i < n; i++) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}

function typeName(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor
    return typeof ctor?.name === 'string' && ctor.name !== '' ? `a ${ctor.name}` : 'an object'
  }
  return `a ${typeof value}`
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

class Writer {
  #buf = Buffer.allocUnsafe(256)
  #len = 0
  /** Memo indexes of containers written as list/dict/set (`list`) or as tuple/frozenset (`key`). */
  readonly #memo = new Map<object, number>()
  readonly #keyMemo = new Map<object, number>()
  #memoSize = 0
  /** Arrays and Sets being written as a tuple or frozenset (a cycle through one cannot be pickled). */
  readonly #open = new Set<object>()

  #room(n: number): void {
    if (this.#len + n <= this.#buf.byteLength) return
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.byteLength * 2, this.#len + n))
    this.#buf.copy(grown, 0, 0, this.#len)
    this.#buf = grown
  }

  #op(op: number): void {
    this.#room(1)
    this.#buf[this.#len++] = op
  }

  #opU8(op: number, v: number): void {
    this.#room(2)
    this.#buf[this.#len++] = op
    this.#buf[this.#len++] = v
  }

  #opU32(op: number, v: number): void {
    this.#room(5)
    this.#buf[this.#len] = op
    this.#buf.writeUInt32LE(v, this.#len + 1)
    this.#len += 5
  }

  /** An opcode whose argument is a length-prefixed byte string: 1-, 4- or 8-byte length. */
  #sized(short: number, long: number, huge: number, data: Uint8Array): void {
    const n = data.byteLength
    if (n <= 0xff) this.#opU8(short, n)
    else if (n <= 0xffffffff) this.#opU32(long, n)
    else {
      this.#room(9)
      this.#buf[this.#len] = huge
      this.#buf.writeBigUInt64LE(BigInt(n), this.#len + 1)
      this.#len += 9
    }
    this.#room(n)
    this.#buf.set(data, this.#len)
    this.#len += n
  }

  /** A str: UTF-8 written in place when the text has no lone surrogate (Buffer's encoder would replace them). */
  #text(text: string): void {
    if (SURROGATE.test(text)) {
      this.#sized(SHORT_BINUNICODE, BINUNICODE, BINUNICODE8, encodeText(text))
      return
    }
    const n = Buffer.byteLength(text, 'utf8')
    if (n <= 0xff) this.#opU8(SHORT_BINUNICODE, n)
    else if (n <= 0xffffffff) this.#opU32(BINUNICODE, n)
    else {
      this.#room(9)
      this.#buf[this.#len] = BINUNICODE8
      this.#buf.writeBigUInt64LE(BigInt(n), this.#len + 1)
      this.#len += 9
    }
    this.#room(n)
    this.#len += this.#buf.write(text, this.#len, n, 'utf8')
  }

  #memoize(table: Map<object, number>, value: object): void {
    this.#op(MEMOIZE)
    table.set(value, this.#memoSize++)
  }

  /** A memo reference to `value` if it was written before; true when written. */
  #get(table: Map<object, number>, value: object): boolean {
    const index = table.get(value)
    if (index === undefined) return false
    if (index <= 0xff) this.#opU8(BINGET, index)
    else this.#opU32(LONG_BINGET, index)
    return true
  }

  #int(value: bigint | number): void {
    if (typeof value === 'number' && value >= 0 && value <= 0xff) this.#opU8(BININT1, value)
    else if (typeof value === 'number' && value >= 0 && value <= 0xffff) {
      this.#room(3)
      this.#buf[this.#len] = BININT2
      this.#buf.writeUInt16LE(value, this.#len + 1)
      this.#len += 3
    } else if (typeof value === 'number' && value >= -0x80000000 && value <= 0x7fffffff) {
      this.#room(5)
      this.#buf[this.#len] = BININT
      this.#buf.writeInt32LE(value, this.#len + 1)
      this.#len += 5
    } else {
      const bytes = encodeLong(BigInt(value))
      if (bytes.byteLength <= 0xff) this.#opU8(LONG1, bytes.byteLength)
      else this.#opU32(LONG4, bytes.byteLength)
      this.#room(bytes.byteLength)
      this.#buf.set(bytes, this.#len)
      this.#len += bytes.byteLength
    }
  }

  /** Writes `value`; `key`: it is a dict key or set item, so Arrays are tuples and Sets frozensets. */
  write(value: unknown, key: boolean, depth: number, where: string): void {
    switch (typeof value) {
      case 'undefined':
        this.#op(NONE)
        return
      case 'boolean':
        this.#op(value ? NEWTRUE : NEWFALSE)
        return
      case 'number':
        if (Number.isSafeInteger(value) && !Object.is(value, -0)) this.#int(value)
        else {
          this.#room(9)
          this.#buf[this.#len] = BINFLOAT
          this.#buf.writeDoubleBE(value, this.#len + 1)
          this.#len += 9
        }
        return
      case 'bigint':
        this.#int(value)
        return
      case 'string':
        this.#text(value)
        return
      case 'object':
        break
      default:
        throw new DataCloneError(`Cannot pickle ${where}: it is ${typeName(value)}, not plain data`)
    }
    if (value === null) {
      this.#op(NONE)
      return
    }
    if (value instanceof Uint8Array) {
      this.#sized(SHORT_BINBYTES, BINBYTES, BINBYTES8, value)
      return
    }
    if (depth >= MAX_DEPTH)
      throw new DataCloneError(`Cannot pickle ${where}: the value is nested more than ${MAX_DEPTH} deep`)
    const next = depth + 1
    if (Array.isArray(value)) {
      if (key) this.#tuple(value, next, where)
      else this.#list(value, next, where)
      return
    }
    if (value instanceof Set) {
      if (key) this.#frozenset(value, next, where)
      else this.#set(value, next, where)
      return
    }
    if (key)
      throw new DataCloneError(
        `Cannot pickle ${where}: a dict key or set item must be hashable in Python, and ${typeName(value)} becomes a dict`,
      )
    if (value instanceof Map || isPlainObject(value)) {
      this.#dict(value as Map<unknown, unknown> | Record<string, unknown>, next, where)
      return
    }
    throw new DataCloneError(
      `Cannot pickle ${where}: it is ${typeName(value)}; only null, booleans, numbers, bigints, strings, Uint8Arrays, Arrays, Maps, plain objects and Sets map to Python's plain data`,
    )
  }

  #list(list: unknown[], depth: number, where: string): void {
    if (this.#get(this.#memo, list)) return
    this.#op(EMPTY_LIST)
    this.#memoize(this.#memo, list)
    for (let i = 0; i < list.length; i += BATCH) {
      this.#op(MARK)
      const stop = Math.min(list.length, i + BATCH)
      for (let j = i; j < stop; j++) this.write(list[j], false, depth, where)
      this.#op(APPENDS)
    }
  }

  #tuple(tuple: unknown[], depth: number, where: string): void {
    if (this.#get(this.#keyMemo, tuple)) return
    if (this.#open.has(tuple))
      throw new DataCloneError(`Cannot pickle ${where}: a tuple (an Array used as a key) holds itself`)
    this.#open.add(tuple)
    const n = tuple.length
    if (n === 0) this.#op(EMPTY_TUPLE)
    else {
      if (n > 3) this.#op(MARK)
      for (const item of tuple) this.write(item, true, depth, where)
      this.#op(n === 1 ? TUPLE1 : n === 2 ? TUPLE2 : n === 3 ? TUPLE3 : TUPLE)
    }
    this.#open.delete(tuple)
    this.#memoize(this.#keyMemo, tuple)
  }

  #set(set: Set<unknown>, depth: number, where: string): void {
    if (this.#get(this.#memo, set)) return
    this.#op(EMPTY_SET)
    this.#memoize(this.#memo, set)
    const items = [...set]
    for (let i = 0; i < items.length; i += BATCH) {
      this.#op(MARK)
      const stop = Math.min(items.length, i + BATCH)
      for (let j = i; j < stop; j++) this.write(items[j], true, depth, where)
      this.#op(ADDITEMS)
    }
  }

  #frozenset(set: Set<unknown>, depth: number, where: string): void {
    if (this.#get(this.#keyMemo, set)) return
    if (this.#open.has(set))
      throw new DataCloneError(`Cannot pickle ${where}: a frozenset (a Set used as a key) holds itself`)
    this.#open.add(set)
    this.#op(MARK)
    for (const item of set) this.write(item, true, depth, where)
    this.#op(FROZENSET)
    this.#open.delete(set)
    this.#memoize(this.#keyMemo, set)
  }

  /** A Map, or a plain object (its own enumerable string keys), as a dict. */
  #dict(dict: Map<unknown, unknown> | Record<string, unknown>, depth: number, where: string): void {
    if (this.#get(this.#memo, dict)) return
    this.#op(EMPTY_DICT)
    this.#memoize(this.#memo, dict)
    let inBatch = 0
    const item = (k: unknown, v: unknown) => {
      if (inBatch === 0) this.#op(MARK)
      this.write(k, true, depth, where)
      this.write(v, false, depth, where)
      if (++inBatch === BATCH) {
        this.#op(SETITEMS)
        inBatch = 0
      }
    }
    if (dict instanceof Map) for (const [k, v] of dict) item(k, v)
    else for (const k of Object.keys(dict)) item(k, dict[k])
    if (inBatch > 0) this.#op(SETITEMS)
  }

  finish(): Uint8Array {
    this.#op(STOP)
    return new Uint8Array(this.#buf.buffer, this.#buf.byteOffset, this.#len)
  }

  start(): void {
    this.#opU8(PROTO, PICKLE_PROTOCOL)
  }
}

/**
 * Python's `pickle.dumps(value, protocol=4)` of a plain JavaScript value (see
 * the table in the file comment).
 *
 * @throws {DataCloneError} when the value holds anything that is not plain data; nothing is written.
 */
export function pickle(value: unknown): Uint8Array {
  const writer = new Writer()
  writer.start()
  writer.write(value, false, 0, 'the value')
  return writer.finish()
}
