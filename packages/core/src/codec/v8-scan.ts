/**
 * A linear check of a v8 serializer payload (codec tag 5) from a peer that
 * may be hostile (a socket, a Redis item), run before `v8.deserialize`. It
 * walks the bytes once, as V8's ValueDeserializer (format version 15) and
 * Node's DefaultDeserializer would read them, builds nothing, and refuses
 * with CorruptError:
 *
 * - **numbers as Map keys and Set items past MAX_HASHED_NUMBERS.** V8 hashes
 *   numbers and bigints there without a random seed, so a peer can choose
 *   thousands that collide and make each insertion scan all the others (a
 *   Set of 32,768 such ints, 195 KB, blocks the event loop 1.1 s). Object
 *   keys are safe from this: integer keys go to a NumberDictionary, strings
 *   to a NameDictionary, both hashed with the isolate's seed.
 * - **strings of more than MAX_HASHED_CHARS chars where V8 hashes them**:
 *   it hashes those by their length alone, seed or not, so they collide. A
 *   property name or a RegExp pattern is refused (V8 keeps them in tables
 *   of the whole process: names under any per-message limit would add up);
 *   Map keys and Set items are charged (heap-budget.ts NewKeys).
 * - **values that would cost more heap than HEAP_BYTES_PER_BYTE per payload
 *   byte plus HEAP_FLOOR.** An empty Set is 3 bytes on the wire and about
 *   160 on the heap: 75 MB of them exhaust a 4 GB heap. Each object, entry,
 *   slot and string is charged an estimate of its V8 size (x64, measured on
 *   Node 20: see the costs below); a payload whose sum passes the budget is
 *   refused before anything is allocated. Sizes that depend on the value
 *   are modelled as V8 computes them: a sparse array's length (V8 makes a
 *   store of that many slots, up to 2^25), and the element store of each
 *   object and array, which index keys grow (element-store.ts): 13 bytes
 *   can ask for a 268 MB store, and an object of two keys, 1023 and 2574,
 *   for 31 KB.
 * - **anything it does not understand:** a version other than 15, an unknown
 *   or misplaced tag, a varint over 32 bits, a length or count past the end
 *   or not matching what was read, a reference to an object not yet read,
 *   nesting deeper than MAX_DEPTH, bytes after the value, index keys of one
 *   object or array out of ascending order (`v8.serialize` never writes
 *   them so). What V8 would refuse anyway may be refused here first.
 *
 * What the scan accepts, V8 reads as the scan walked it (the same tags, in
 * the same order, with the same ids), so the count of hashed numbers is
 * exact. The heap charge is an estimate, not a measurement: it covers the
 * objects above at their measured sizes and the element stores as modelled
 * (a store that grows is charged its growth, and the one it replaces is left
 * to GC), and not V8's own bookkeeping while it reads (the table of ids,
 * handles: tens of bytes an object, which the floor and the per-byte rate
 * absorb at the sizes measured). What it modelled, measured (Node 20 x64,
 * `--expose-gc`, `heapUsed` after a GC with the value kept, and before that
 * GC, garbage included; each run in a fresh process after one warm-up
 * `v8.deserialize`):
 *
 * | payload                                              | bytes   | estimate | after GC | before GC |
 * |------------------------------------------------------|---------|----------|----------|-----------|
 * | `{0: 0, …, 99999: 99999}`                            | 783,495 | 1.15 MB  | 0.90 MB  | 2.8 MB    |
 * | 20 × `{0: 0, …, 9999: 9999}`                         | 1.27 MB | 2.01 MB  | 1.59 MB  | 2.9 MB    |
 * | 20 × 10,000 keys `7 × i`                             | 1.41 MB | 17.0 MB  | 13.6 MB  | 21.4 MB   |
 * | 20 × 10,000 keys `1e6 + 1000 × i` (a dictionary)     | 1.20 MB | 9.83 MB  | 7.8 MB   | 11.3 MB   |
 * | 20 × keys 3000 … 9999 (a dictionary, then fast)      | 875 KB  | 2.89 MB  | 1.83 MB  | 4.1 MB    |
 * | 10,000 `undefined` in an array, then key 2^31        | 10,016  | 572 KB   | 383 KB   | 479 KB    |
 * | 200 × `{1023: _, 2574: _}`                           | 2,209   | 7.16 MB  | 6.20 MB  | 6.82 MB   |
 * | `[new Array(2 ** 25)]`, and `a[1e6] = 1`             | 18, 17  | 336 MB, 10 MB | 268 MB, 8.0 MB | 268 MB, 8.0 MB |
 *
 * (The stores match V8's: `%DebugPrint` shows a FixedArray[84920] for the
 * 10,000 keys `7 × i`, the model's capacity.)
 *
 * The tags (V8's `SerializationTag`, src/objects/value-serializer.cc):
 *
 * | tag  | value             | then                                             |
 * |------|-------------------|--------------------------------------------------|
 * | 0x00 | padding           | (skipped before any tag)                         |
 * | `?`  | verify count      | varint; then a value                             |
 * | `_ 0 T F` | undefined, null, true, false |                              |
 * | `I`  | int32             | zigzag varint                                    |
 * | `U`  | uint32            | varint                                           |
 * | `N`  | double            | 8 bytes                                          |
 * | `Z`  | bigint            | varint bitfield (byte length << 1 \| sign), digits |
 * | `" c S` | string         | varint byte length, Latin-1 / UTF-16LE / UTF-8   |
 * | `^`  | reference         | varint id of an object read before               |
 * | `o`  | object            | key, value pairs; `{` varint count               |
 * | `A`  | dense array       | varint n, n values or `-` holes; key, value pairs; `$` count, n |
 * | `a`  | sparse array      | varint n; key, value pairs; `@` count, n         |
 * | `D`  | Date              | 8 bytes                                          |
 * | `y x`| Boolean object    |                                                  |
 * | `n`  | Number object     | 8 bytes                                          |
 * | `z`  | BigInt object     | as `Z`                                           |
 * | `s`  | String object     | a string value                                   |
 * | `R`  | RegExp            | a string value, varint flags                     |
 * | `;`  | Map               | key, value, …; `:` varint 2 × entries            |
 * | `'`  | Set               | items; `,` varint count                          |
 * | `B`  | ArrayBuffer       | varint n, n bytes; then maybe a `V` view         |
 * | `~`  | resizable buffer  | varint n, varint max, n bytes; then maybe `V`    |
 * | `V`  | view of the buffer just read | subtag byte, varint offset, length, flags |
 * | `r`  | Error             | subtags: `E R F S T U` prototype, `m` message, `s` stack, `c` cause (values), `.` end |
 * | `\`  | host object: Node's Buffer / typed array | varint type (0 to 12 on Node 20), varint n, n bytes |
 *
 * Objects (everything from `o` on, and host objects) take the next id, in
 * the order they start. Keys of objects and arrays are numbers or strings.
 * Shared memory is written by the same user and is not scanned; the pickle
 * reader (@ipc/pipe) has its own cap on the same numbers.
 */
import { deserialize as v8Deserialize } from 'node:v8'
import { arrayIndexOfBytes, ElementStore, lengthCapacity, lengthStoreBytes, MAX_INDEX } from './element-store.js'
import {
  ARRAY,
  ARRAY_SLOT,
  heapBudget,
  IN_OBJECT,
  IN_OBJECT_SLOTS,
  MAX_HASHED_CHARS,
  NewKeys,
  NUMBER,
  OBJECT,
  overBudget,
  PROPERTY,
  refusedValue,
  STRING,
} from './heap-budget.js'
import { decodeLatin1 } from './latin1.js'

/**
 * The most numbers and bigints one message puts into Maps (as keys) and
 * Sets. V8 hashes them without a random seed, so a peer can pick thousands
 * that share a hash and make each insertion scan all the others: 32,768
 * colliding ints take a second, 4,096 a few milliseconds. The pickle reader
 * of @ipc/pipe applies the same cap.
 */
export const MAX_HASHED_NUMBERS = 4096

/** Deepest nesting accepted; `v8.serialize` itself gives up between 2,000 and 4,000 levels down. */
export const MAX_DEPTH = 2000

// Estimated V8 heap sizes (x64, no pointer compression, Node 20), bytes; the common ones are in heap-budget.ts.
/** A JSMap or JSSet with its first hash table; each entry adds MAP_ENTRY or SET_ENTRY (the table doubles). */
const MAP = 208
const SET = 176
const MAP_ENTRY = 48
const SET_ENTRY = 32
const DATE = 104
const WRAPPER = 48
const REGEXP = 160
const ERROR = 256
/** A JSArrayBuffer with its backing store record (its bytes are added). */
const ARRAY_BUFFER = 256
/** A JSTypedArray or DataView of an ArrayBuffer read before. */
const VIEW = 136
/** Node's host object: a typed array, and a Buffer when it copies the bytes to align them (which are added). */
const HOST = 192

const T_PADDING = 0x00
const T_VERIFY_COUNT = 0x3f // ?
const T_HOLE = 0x2d // -
const T_UNDEFINED = 0x5f // _
const T_NULL = 0x30 // 0
const T_TRUE = 0x54 // T
const T_FALSE = 0x46 // F
const T_INT32 = 0x49 // I
const T_UINT32 = 0x55 // U
const T_DOUBLE = 0x4e // N
const T_BIGINT = 0x5a // Z
const T_UTF8 = 0x53 // S
const T_LATIN1 = 0x22 // "
const T_TWO_BYTE = 0x63 // c
const T_REFERENCE = 0x5e // ^
const T_OBJECT = 0x6f // o
const T_END_OBJECT = 0x7b // {
const T_SPARSE = 0x61 // a
const T_END_SPARSE = 0x40 // @
const T_DENSE = 0x41 // A
const T_END_DENSE = 0x24 // $
const T_DATE = 0x44 // D
const T_TRUE_OBJECT = 0x79 // y
const T_FALSE_OBJECT = 0x78 // x
const T_NUMBER_OBJECT = 0x6e // n
const T_BIGINT_OBJECT = 0x7a // z
const T_STRING_OBJECT = 0x73 // s
const T_REGEXP = 0x52 // R
const T_MAP = 0x3b // ;
const T_END_MAP = 0x3a // :
const T_SET = 0x27 // '
const T_END_SET = 0x2c // ,
const T_ARRAY_BUFFER = 0x42 // B
const T_RESIZABLE_BUFFER = 0x7e // ~
const T_VIEW = 0x56 // V
const T_ERROR = 0x72 // r
const T_HOST = 0x5c // \

/** Subtags of a view: Int8 … BigUint64, DataView (Float16, `h`, is not in Node 20). */
const VIEW_SUBTAGS = new Set([0x62, 0x42, 0x43, 0x77, 0x57, 0x64, 0x44, 0x66, 0x46, 0x71, 0x51, 0x3f])
/**
 * The highest host object type Node's deserializer knows: Int8Array (0) …
 * DataView (9), FastBuffer (10), BigInt64Array, BigUint64Array (12) on
 * Node 20. A later Node may add types (Float16Array), so it is asked once,
 * on first use, by reviving an empty view of each next type; a type past its
 * table makes `_readHostObject` throw a TypeError.
 */
let highestHostType = -1

function maxHostType(): number {
  if (highestHostType < 0) {
    let type = 12
    for (; type < 32; type++) {
      try {
        v8Deserialize(Buffer.from([0xff, 0x0f, T_HOST, type + 1, 0]))
      } catch {
        break
      }
    }
    highestHostType = type
  }
  return highestHostType
}

const NO_BYTES = Buffer.alloc(0)

let src: Buffer = NO_BYTES
/** Where the payload starts in `src`: offsets in messages count from here. */
let origin = 0
let at = 0
let end = 0
let nextId = 0
let hashable = 0
let budget = 0
/** The budget the scan started with. */
let limit = 0
/** The array index the last number or string read names as a key, or -1. */
let keyIndex = -1
/** Byte length of the last string read (a RegExp's pattern, a key). */
let lastLength = 0
/** The value of the last int32 or uint32 read. */
let lastInteger = 0
/** The refusal of a payload this scan does not accept (heap-budget.ts, as the other readers'). */
const refused = refusedValue('v8')
/** The property names of the value scanned (heap-budget.ts). */
let keys = new NewKeys(refused)

function charge(bytes: number): void {
  budget -= bytes
  if (budget < 0) throw overBudget('v8', limit, end - origin)
}

function skip(n: number, what: string): void {
  if (n > end - at) throw refused(`${what} of ${n} bytes at offset ${at - origin}, ${end - at} left`)
  at += n
}

/** The next tag, past padding. */
function tag(): number {
  while (at < end) {
    const t = src[at++] as number
    if (t !== T_PADDING) return t
  }
  throw refused('it ends inside a value')
}

/** The next tag, past padding, without taking it. */
function peek(): number {
  let p = at
  while (p < end && src[p] === T_PADDING) p++
  if (p >= end) throw refused('it ends inside a value')
  return src[p] as number
}

/** A varint of at most 32 bits (a fifth byte holds the top 4 bits and ends it). */
function varint(): number {
  let value = 0
  for (let shift = 0; ; shift += 7) {
    if (at >= end) throw refused('it ends inside a varint')
    const byte = src[at++] as number
    if (shift === 28) {
      if (byte > 0x0f) throw refused(`a varint at offset ${at - 1 - origin} is longer than 32 bits`)
      return value + byte * 0x10000000
    }
    value |= (byte & 0x7f) << shift
    if (byte < 0x80) return value
  }
}

function bigintBody(): void {
  const bytes = Math.floor(varint() / 2)
  skip(bytes, 'a bigint')
  charge(2 * NUMBER + bytes)
}

/** A string value (a RegExp's pattern, a String object's, an Error's message or stack). */
function stringValue(depth: number, what: string): number {
  const t = value(depth)
  if (t !== T_LATIN1 && t !== T_TWO_BYTE && t !== T_UTF8) throw refused(`${what} is not a string`)
  return t
}

/** The chars (UTF-16 units) of the string just read, tag `t`: exact (a UTF-8 one of more than MAX_HASHED_CHARS bytes is decoded to count them). */
function lastChars(t: number): number {
  if (t === T_TWO_BYTE) return lastLength / 2
  if (t === T_UTF8 && lastLength > MAX_HASHED_CHARS) return src.toString('utf8', at - lastLength, at).length
  return lastLength
}

/**
 * Key, value pairs up to `endTag` (objects and arrays); returns how many.
 * Named keys cost IN_OBJECT (the first `cheap`) or PROPERTY each, and their
 * name's first use (namedKey). Index keys
 * (a number or a string that is an array index, below 2^32 − 1) go to the
 * element store, charged as V8 grows it (element-store.ts). Index keys must
 * come in ascending order, as `v8.serialize` writes them: a repeated or
 * lower index is refused, which keeps the model's count exact.
 */
function properties(endTag: number, depth: number, cheap: number, store: ElementStore): number {
  let count = 0
  let named = 0
  let last = -1
  for (;;) {
    const t = peek()
    if (t === endTag) {
      tag()
      return count
    }
    if (t !== T_INT32 && t !== T_UINT32 && t !== T_DOUBLE && t !== T_LATIN1 && t !== T_TWO_BYTE && t !== T_UTF8)
      throw refused(`tag 0x${t.toString(16)} where a key was expected at offset ${at - origin}`)
    const keyTag = value(depth)
    const index = keyIndex
    if (index < 0) namedKey(keyTag)
    value(depth)
    count++
    if (index < 0) {
      charge(named < cheap ? IN_OBJECT : PROPERTY)
      named++
      continue
    }
    if (index <= last)
      throw refused(
        `index key ${index} after ${last} at offset ${at - origin}: v8.serialize writes them in ascending order`,
      )
    last = index
    charge(store.set(index))
  }
}

/**
 * Charges the name of the named key just read (tag `t`) its first use in the
 * value (heap-budget.ts NewKeys). A number that is no array index (a
 * negative int32, a fraction) names the string V8 makes of it, charged too.
 */
function namedKey(t: number): void {
  let name: string
  if (t === T_LATIN1) name = decodeLatin1(src, at - lastLength, lastLength)
  else if (t === T_TWO_BYTE) name = src.toString('utf16le', at - lastLength, at)
  else if (t === T_UTF8) name = src.toString('utf8', at - lastLength, at)
  else {
    if (t === T_INT32 || t === T_UINT32) name = String(lastInteger)
    else name = String(src.readDoubleLE(at - 8))
    charge(STRING + name.length)
  }
  charge(keys.cost(name))
}

/** The array index a key string of `n` bytes at `start` names (no sign, no leading zero, at most MAX_INDEX), or -1. */
function stringIndex(t: number, start: number, n: number): number {
  if (t === T_TWO_BYTE) return arrayIndexOfBytes(src, start, n / 2, 2)
  return arrayIndexOfBytes(src, start, n, 1)
}

function expect(count: number, what: string): void {
  const said = varint()
  if (said !== count) throw refused(`${what} says ${said}, ${count} were read`)
}

/** One value; returns its tag (past any verify-count prefix). */
function value(depth: number): number {
  if (depth > MAX_DEPTH) throw refused(`it is nested deeper than ${MAX_DEPTH}`)
  let t = tag()
  while (t === T_VERIFY_COUNT) {
    varint()
    t = tag()
  }
  switch (t) {
    case T_UNDEFINED:
    case T_NULL:
    case T_TRUE:
    case T_FALSE:
      return t
    case T_INT32: {
      const zigzag = varint()
      lastInteger = zigzag % 2 ? -(zigzag + 1) / 2 : zigzag / 2
      keyIndex = zigzag % 2 ? -1 : zigzag / 2
      return t
    }
    case T_UINT32: {
      const n = varint()
      lastInteger = n
      keyIndex = n <= MAX_INDEX ? n : -1
      charge(NUMBER)
      return t
    }
    case T_DOUBLE: {
      skip(8, 'a double')
      const d = src.readDoubleLE(at - 8)
      keyIndex = Number.isInteger(d) && d >= 0 && d <= MAX_INDEX ? d : -1
      charge(NUMBER)
      return t
    }
    case T_BIGINT:
      bigintBody()
      return t
    case T_LATIN1:
    case T_TWO_BYTE:
    case T_UTF8: {
      const n = varint()
      if (t === T_TWO_BYTE && n % 2 !== 0) throw refused(`a two-byte string of ${n} bytes`)
      skip(n, 'a string')
      keyIndex = stringIndex(t, at - n, n)
      lastLength = n
      charge(STRING + (t === T_UTF8 ? 2 * n : n))
      return t
    }
    case T_REFERENCE: {
      const id = varint()
      if (id >= nextId) throw refused(`a reference to object ${id}, only ${nextId} were read`)
      return t
    }
  }
  // Objects: each takes the next id before its contents are read.
  nextId++
  switch (t) {
    case T_OBJECT:
      charge(OBJECT)
      expect(properties(T_END_OBJECT, depth + 1, IN_OBJECT_SLOTS, new ElementStore()), 'an object’s property count')
      return t
    case T_DENSE: {
      const n = varint()
      if (n > end - at) throw refused(`a dense array of ${n} elements with ${end - at} bytes left`)
      charge(ARRAY + ARRAY_SLOT * n)
      let used = 0
      for (let i = 0; i < n; i++) {
        if (peek() === T_HOLE) tag()
        else {
          value(depth + 1)
          used++
        }
      }
      expect(properties(T_END_DENSE, depth + 1, 0, new ElementStore(n, used, n)), 'a dense array’s property count')
      expect(n, 'a dense array’s length')
      return t
    }
    case T_SPARSE: {
      // JSArray::SetLength(n): its store (element-store.ts).
      const n = varint()
      const capacity = lengthCapacity(n)
      charge(ARRAY + lengthStoreBytes(capacity))
      expect(
        properties(T_END_SPARSE, depth + 1, 0, new ElementStore(capacity, 0, n)),
        'a sparse array’s property count',
      )
      expect(n, 'a sparse array’s length')
      return t
    }
    case T_DATE:
      skip(8, 'a Date')
      charge(DATE)
      return t
    case T_TRUE_OBJECT:
    case T_FALSE_OBJECT:
      charge(WRAPPER)
      return t
    case T_NUMBER_OBJECT:
      skip(8, 'a Number object')
      charge(WRAPPER + NUMBER)
      return t
    case T_BIGINT_OBJECT:
      bigintBody()
      charge(WRAPPER)
      return t
    case T_STRING_OBJECT:
      stringValue(depth + 1, 'a String object’s value')
      charge(WRAPPER)
      return t
    case T_REGEXP: {
      const chars = lastChars(stringValue(depth + 1, 'a RegExp’s pattern'))
      // V8 looks each new RegExp up in a cache for the whole process by its pattern's hash: a longer
      // pattern is hashed by its length alone, so such patterns of one length would all collide.
      if (chars > MAX_HASHED_CHARS)
        throw refused(`a RegExp pattern of ${chars} chars, more than the ${MAX_HASHED_CHARS} V8 hashes by content`)
      charge(REGEXP + 2 * lastLength)
      varint()
      return t
    }
    case T_MAP: {
      charge(MAP)
      let count = 0
      while (peek() !== T_END_MAP) {
        hashedKey(value(depth + 1))
        value(depth + 1)
        charge(MAP_ENTRY)
        count += 2
      }
      tag()
      expect(count, 'a Map’s length')
      return t
    }
    case T_SET: {
      charge(SET)
      let count = 0
      while (peek() !== T_END_SET) {
        hashedKey(value(depth + 1))
        charge(SET_ENTRY)
        count++
      }
      tag()
      expect(count, 'a Set’s size')
      return t
    }
    case T_ARRAY_BUFFER:
    case T_RESIZABLE_BUFFER: {
      const n = varint()
      const max = t === T_RESIZABLE_BUFFER ? varint() : n
      if (n > max) throw refused(`a resizable ArrayBuffer of ${n} bytes with a maximum of ${max}`)
      skip(n, 'an ArrayBuffer')
      charge(ARRAY_BUFFER + max)
      if (at < end && peek() === T_VIEW) {
        tag()
        nextId++
        const subtag = at < end ? (src[at++] as number) : -1
        if (!VIEW_SUBTAGS.has(subtag)) throw refused(`a view of subtag ${subtag}`)
        const offset = varint()
        const length = varint()
        varint() // flags
        if (offset + length > n) throw refused(`a view of bytes ${offset} to ${offset + length} of a ${n}-byte buffer`)
        charge(VIEW)
      }
      return t
    }
    case T_ERROR: {
      charge(ERROR)
      for (;;) {
        if (at >= end) throw refused('it ends inside an Error')
        const sub = src[at++] as number
        if (sub === 0x2e) return t // .
        if (sub === 0x6d) stringValue(depth + 1, 'an Error’s message')
        else if (sub === 0x73) stringValue(depth + 1, 'an Error’s stack')
        else if (sub === 0x63) value(depth + 1)
        else if (!(sub === 0x45 || sub === 0x52 || sub === 0x46 || sub === 0x53 || sub === 0x54 || sub === 0x55))
          throw refused(`an Error subtag 0x${sub.toString(16)}`)
      }
    }
    case T_HOST: {
      const type = varint()
      if (type > maxHostType()) throw refused(`a typed array of type ${type}`)
      const n = varint()
      skip(n, 'a typed array')
      charge(HOST + n)
      return t
    }
    default:
      throw refused(`tag 0x${t.toString(16)} at offset ${at - 1 - origin}`)
  }
}

/**
 * A Map key or Set item just read (tag `t`): a number is counted against
 * MAX_HASHED_NUMBERS, a string charged as a long key (heap-budget.ts
 * NewKeys#hashedString).
 */
function hashedKey(t: number): void {
  if (t === T_LATIN1 || t === T_UTF8 || t === T_TWO_BYTE) keys.hashedString(lastChars(t))
  else if (t === T_INT32 || t === T_UINT32 || t === T_DOUBLE || t === T_BIGINT) hashed()
}

function hashed(): void {
  if (--hashable < 0)
    throw refused(
      `it puts more than ${MAX_HASHED_NUMBERS} numbers into Maps and Sets, the most one message may: V8 hashes them without a seed, so a peer could choose colliding ones to stall this process`,
    )
}

/**
 * Checks the v8 serializer payload `source[start, end)` (in bounds: the
 * caller checked) against the rules of the file comment, before
 * `v8.deserialize` reads it. Linear in the payload; allocates nothing.
 * Returns the heap the value is estimated to take, in bytes. `allowed` is
 * the heap budget (tests pass a larger one to read the estimate of a
 * payload the rule refuses).
 *
 * @throws {CorruptError} when the payload breaks one of them.
 */
export function scanV8(source: Buffer, start: number, stop: number, allowed = heapBudget(stop - start)): number {
  if (stop - start < 2 || source[start] !== 0xff || source[start + 1] !== 0x0f)
    throw refused('it does not start with version 15 of the format')
  src = source
  origin = start
  at = start + 2
  end = stop
  nextId = 0
  hashable = MAX_HASHED_NUMBERS
  budget = allowed
  limit = allowed
  keys = new NewKeys(refused)
  try {
    value(0)
    if (at !== end) throw refused(`${end - at} bytes after the value`)
    return allowed - budget
  } catch (error) {
    if (error instanceof RangeError) throw refused('it is nested deeper than the stack allows')
    throw error
  } finally {
    src = NO_BYTES
    keys = new NewKeys(refused)
  }
}
