/**
 * The packed form (codec tag 8): plain data — objects, arrays, strings,
 * numbers, booleans, null, undefined — in a compact binary layout written and
 * read in JS. A small object takes about half JSON's time to write and 55%
 * to read (no text to build, scan or parse), and it keeps what JSON
 * loses: NaN, ±Infinity, -0, undefined and lone surrogates come back exact.
 *
 * One value is a kind byte, then (little-endian):
 *
 * | kind | name      | then                                                  |
 * |------|-----------|-------------------------------------------------------|
 * | 0    | undefined |                                                       |
 * | 1    | null      |                                                       |
 * | 2, 3 | false/true|                                                       |
 * | 4    | int32     | i32 (an integer from -2^31 to 2^31 - 1, not -0)       |
 * | 5    | float64   | f64 (any other number)                                |
 * | 6    | latin1 8  | u8 n, n bytes: a string of chars up to 0xff           |
 * | 7    | latin1 32 | u32 n, n bytes                                        |
 * | 8    | utf16     | u32 n, n UTF-16LE code units (any string, exact)      |
 * | 9    | array     | u32 n, n values                                       |
 * | 10   | object    | u32 n, n × (a string value: the key; a value)         |
 *
 * What packs: the values above, arrays without holes whose prototype is
 * Array.prototype, and objects whose prototype is Object.prototype or null
 * (own enumerable string keys, as structured clone reads them; they come
 * back with Object.prototype, as structured clone gives), nested at most
 * MAX_DEPTH deep. Anything else (Map, Date, a class instance, a bigint, a
 * cycle) returns undefined from `pack`, and the codec uses the v8
 * serializer for the whole value. So does a large value that reaches one
 * of its larger containers twice (see HEAVY): such a DAG is not tree data,
 * and written once per path it can cost 2^depth (a 200-byte pickle whose
 * lists each hold the one below twice), where v8 writes each object once
 * and keeps identity. Where it differs from structured clone (as the JSON
 * form before it did): a shared sub-object is otherwise packed once per
 * reference (only v8 keeps identity), an array's own non-index properties
 * are left out, and a Proxy of a plain object is packed (v8 refuses it).
 *
 * Reading checks every length against the bytes left (a count can never ask
 * for more elements than there are bytes), the depth, and each kind: memory
 * another process wrote cannot make it read outside the payload or recurse
 * without bound. A violation
 * throws CorruptError. Memory use is linear in the payload but not by a
 * small factor: index keys size an object's element store (`{1023: null,
 * 2574: null}`, 25 bytes, takes 31 KB), so bytes from a peer that may be
 * hostile are read with `unpackUntrusted`, which charges what it builds.
 * Keys become own data properties, as with structured clone and
 * JSON.parse: "__proto__" never sets the prototype, and no setter on
 * Object.prototype runs (so decoding runs no code but ours).
 */
import { CorruptError } from '../errors.js'
import { arrayIndex, ElementStore } from './element-store.js'
import {
  ARRAY,
  ARRAY_SLOT,
  heapBudget,
  IN_OBJECT,
  IN_OBJECT_SLOTS,
  NewKeys,
  NUMBER,
  OBJECT,
  overBudget,
  PROPERTY,
  refusedValue,
  STRING,
} from './heap-budget.js'
import { decodeLatin1, type FastText, writeLatin1 } from './latin1.js'

const K_UNDEFINED = 0
const K_NULL = 1
const K_FALSE = 2
const K_TRUE = 3
const K_INT32 = 4
const K_FLOAT64 = 5
const K_LATIN1_8 = 6
const K_LATIN1_32 = 7
const K_UTF16 = 8
const K_ARRAY = 9
const K_OBJECT = 10

/** Deeper values take the v8 serializer (a cycle among them). */
const MAX_DEPTH = 64
/** The scratch buffer kept between calls; a larger one grown for one big value is dropped after it. */
const SCRATCH_KEEP = 64 * 1024
/**
 * Shared containers. Once TRACK_FROM bytes are written, a container whose
 * packed form took HEAVY bytes or more is remembered when it ends, and
 * entering a remembered container refuses the value (the codec then uses
 * v8). A value under TRACK_FROM bytes, the hot path, never touches a Set.
 *
 * Why that bounds the work whatever the sharing: after TRACK_FROM bytes, a
 * heavy container is written in full at most once more (every later path to
 * it ends at its entry; a container inside itself is a cycle, cut at
 * MAX_DEPTH). What can still be written again is a light sub-value, under
 * HEAVY bytes each time, once per reference to it from a container written
 * once. So the work is at most TRACK_FROM + HEAVY × the value's size as a
 * graph, plus each string once per reference to it (neither this form nor
 * v8 writes a shared string only once): linear. A DAG whose paths multiply
 * is refused soon after TRACK_FROM: its first heavy shared container is
 * reached again along the next path. A tree is never refused. Remembering
 * only heavy containers keeps the cost on a large tree to one Set entry per
 * HEAVY bytes at most (one per container doubled the time of a 900 kB array
 * of small objects, past the v8 serializer's).
 */
const TRACK_FROM = 64 * 1024
const HEAVY = 1024

// ------------------------------------------------------------------ writing

let scratch: Buffer = Buffer.allocUnsafeSlow(SCRATCH_KEEP)
let bytes: Uint8Array = new Uint8Array(scratch.buffer, scratch.byteOffset, scratch.byteLength)
let view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength)
let pos = 0
let packing = false
/** The heavy containers written in the current `pack` (see HEAVY); undefined until the first, and between calls. */
let written: Set<object> | undefined

function room(n: number): void {
  if (pos + n <= scratch.length) return
  const grown = Buffer.allocUnsafeSlow(Math.max(2 * scratch.length, pos + n))
  scratch.copy(grown, 0, 0, pos)
  useScratch(grown)
}

function useScratch(buffer: Buffer): void {
  scratch = buffer
  bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

function putString(s: string): void {
  const n = s.length
  room(5 + 2 * n)
  const short = n <= 0xff
  if (writeLatin1(s, scratch, pos + (short ? 2 : 5))) {
    if (short) {
      scratch[pos] = K_LATIN1_8
      scratch[pos + 1] = n
      pos += 2 + n
    } else {
      scratch[pos] = K_LATIN1_32
      view.setUint32(pos + 1, n, true)
      pos += 5 + n
    }
    return
  }
  // A char past Latin-1: UTF-16 code units, exact (lone surrogates too).
  putHeader(K_UTF16, n)
  pos += (scratch as unknown as FastText).ucs2Write(s, pos, 2 * n)
}

/** Writes a kind byte and a u32 count. */
function putHeader(kind: number, count: number): void {
  room(5)
  scratch[pos] = kind
  view.setUint32(pos + 1, count, true)
  pos += 5
}

/** A container was written from `start` to `pos`: remembers it when heavy (see HEAVY). */
function ended(container: object, start: number): true {
  if (pos - start >= HEAVY && pos > TRACK_FROM) {
    if (written === undefined) written = new Set()
    written.add(container)
  }
  return true
}

/** Writes `value` at `pos`; false when it (or a part) does not pack. */
function putValue(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      putString(value)
      return true
    case 'number':
      room(9)
      if ((value | 0) === value && (value !== 0 || 1 / value > 0)) {
        scratch[pos] = K_INT32
        view.setInt32(pos + 1, value, true)
        pos += 5
      } else {
        scratch[pos] = K_FLOAT64
        view.setFloat64(pos + 1, value, true)
        pos += 9
      }
      return true
    case 'boolean':
      room(1)
      scratch[pos++] = value ? K_TRUE : K_FALSE
      return true
    case 'undefined':
      room(1)
      scratch[pos++] = K_UNDEFINED
      return true
    case 'object': {
      if (value === null) {
        room(1)
        scratch[pos++] = K_NULL
        return true
      }
      if (depth >= MAX_DEPTH || written?.has(value)) return false
      const start = pos
      const proto = Object.getPrototypeOf(value)
      if (proto === Array.prototype) {
        if (!Array.isArray(value)) return false
        const n = value.length
        putHeader(K_ARRAY, n)
        for (let i = 0; i < n; i++) {
          const item = value[i]
          if (item === undefined && !(i in value)) return false // a hole: v8 keeps it
          if (!putValue(item, depth + 1)) return false
        }
        return ended(value, start)
      }
      if (proto !== Object.prototype && proto !== null) return false
      const keys = Object.keys(value)
      const n = keys.length
      putHeader(K_OBJECT, n)
      for (let i = 0; i < n; i++) {
        const key = keys[i] as string
        putString(key)
        if (!putValue((value as Record<string, unknown>)[key], depth + 1)) return false
      }
      return ended(value, start)
    }
    default:
      return false
  }
}

/**
 * The packed bytes of `value` (a new Uint8Array of its own), or undefined when
 * it does not pack (see the file comment). Reads each property once (a
 * value that does not pack partway has its getters run again by the v8
 * serializer the codec then uses).
 */
export function pack(value: unknown): Uint8Array | undefined {
  // A getter that sends a value while its object is being packed: the inner value takes the v8 path.
  if (packing) return undefined
  packing = true
  try {
    pos = 0
    if (!putValue(value, 0)) return undefined
    // One builtin allocates and copies: about half the cost of Buffer.allocUnsafe + copy.
    return bytes.slice(0, pos)
  } finally {
    packing = false
    written = undefined
    if (scratch.length > SCRATCH_KEEP) useScratch(Buffer.allocUnsafeSlow(SCRATCH_KEEP))
  }
}

// ------------------------------------------------------------------ reading

let src: Buffer = scratch
let at = 0
let end = 0
/** True while `unpackUntrusted` reads: each part is charged against `left` (see `unpackUntrusted`). */
let metered = false
/** Heap still allowed, while metered. */
let left = 0
/** The budget the untrusted read started with. */
let limit = 0
/** Where the untrusted payload starts. */
let origin = 0
const refusedKeys = refusedValue('packed')
/** The property names of the untrusted value read (heap-budget.ts). */
let keys = new NewKeys(refusedKeys)

/** Charges `bytes` of heap to an untrusted read. */
function charge(bytes: number): void {
  left -= bytes
  if (left < 0) throw overBudget('packed', limit, end - origin)
}

function malformed(detail: string): CorruptError {
  return new CorruptError(`Cannot decode a message: its packed value is malformed (${detail})`)
}

function need(n: number): void {
  if (n > end - at) throw malformed(`${n} bytes wanted at offset ${at}, ${end - at} left`)
}

function readCount(perItem: number): number {
  need(4)
  const n =
    ((src[at] as number) |
      ((src[at + 1] as number) << 8) |
      ((src[at + 2] as number) << 16) |
      ((src[at + 3] as number) << 24)) >>>
    0
  at += 4
  // Every item takes at least `perItem` bytes: a count beyond what is left is a lie.
  if (n * perItem > end - at) throw malformed(`a count of ${n} with ${end - at} bytes left`)
  return n
}

function readString(kind: number): string {
  let n: number
  if (kind === K_LATIN1_8) {
    need(1)
    n = src[at++] as number
  } else if (kind === K_LATIN1_32 || kind === K_UTF16) {
    need(4)
    n = src.readUInt32LE(at)
    at += 4
  } else throw malformed(`kind ${kind} where a key was expected`)
  const bytes = kind === K_UTF16 ? 2 * n : n
  need(bytes)
  // One Latin-1 char or none: V8's single-char strings and '' are shared.
  if (metered && (n > 1 || kind === K_UTF16)) charge(STRING + bytes)
  const from = at
  at += bytes
  if (kind === K_UTF16) return (src as unknown as FastText).ucs2Slice(from, at)
  return decodeLatin1(src, from, n)
}

/** Keys seen lately, by a hash of their bytes: a key string used again is already internalized, which makes the property store fast. */
const KEY_CACHE_SIZE = 1024
const keyCache: (string | undefined)[] = new Array(KEY_CACHE_SIZE).fill(undefined)

/** An object key: short Latin-1 keys come from the cache when the same bytes were seen before. */
function readKey(): string {
  need(2)
  const n = src[at + 1] as number
  if (src[at] !== K_LATIN1_8 || n > 16 || n > end - at - 2) {
    at++
    return readString(src[at - 1] as number)
  }
  const from = at + 2
  let h = n
  for (let i = from; i < from + n; i++) h = (Math.imul(h, 31) + (src[i] as number)) | 0
  const slot = h & (KEY_CACHE_SIZE - 1)
  const cached = keyCache[slot]
  at = from + n
  if (cached !== undefined && cached.length === n) {
    let same = true
    for (let i = 0; i < n; i++) {
      if (cached.charCodeAt(i) !== src[from + i]) {
        same = false
        break
      }
    }
    if (same) return cached
  }
  if (metered && n > 1) charge(STRING + n)
  const key = decodeLatin1(src, from, n)
  keyCache[slot] = key
  return key
}

function readValue(depth: number): unknown {
  need(1)
  const kind = src[at++] as number
  switch (kind) {
    case K_UNDEFINED:
      return undefined
    case K_NULL:
      return null
    case K_FALSE:
      return false
    case K_TRUE:
      return true
    case K_INT32: {
      need(4)
      const v =
        (src[at] as number) |
        ((src[at + 1] as number) << 8) |
        ((src[at + 2] as number) << 16) |
        ((src[at + 3] as number) << 24)
      at += 4
      return v
    }
    case K_FLOAT64: {
      need(8)
      const v = src.readDoubleLE(at)
      at += 8
      if (metered) charge(NUMBER)
      return v
    }
    case K_LATIN1_8:
    case K_LATIN1_32:
    case K_UTF16:
      return readString(kind)
    case K_ARRAY: {
      if (depth >= MAX_DEPTH) throw malformed(`nested deeper than ${MAX_DEPTH}`)
      const n = readCount(1)
      if (metered) charge(ARRAY + ARRAY_SLOT * n)
      const out = new Array(n)
      for (let i = 0; i < n; i++) out[i] = readValue(depth + 1)
      return out
    }
    case K_OBJECT: {
      if (depth >= MAX_DEPTH) throw malformed(`nested deeper than ${MAX_DEPTH}`)
      const n = readCount(3)
      if (metered) charge(OBJECT)
      const out: Record<string, unknown> = {}
      let named = 0
      let store: ElementStore | undefined
      for (let i = 0; i < n; i++) {
        const key = readKey()
        if (metered) {
          // An index key goes to the elements, whose size the keys choose (element-store.ts).
          const index = arrayIndex(key)
          if (index < 0) charge((named++ < IN_OBJECT_SLOTS ? IN_OBJECT : PROPERTY) + keys.cost(key))
          else if (!(key in out)) {
            store ??= new ElementStore()
            charge(store.set(index))
          }
        }
        const v = readValue(depth + 1)
        // A name Object.prototype has (`__proto__`, `toString`, an accessor someone added) is defined, never
        // assigned: no setter runs and a frozen prototype does not refuse it, as with structured clone.
        if (key in out)
          Object.defineProperty(out, key, { value: v, writable: true, enumerable: true, configurable: true })
        else out[key] = v
      }
      return out
    }
    default:
      throw malformed(`unknown kind ${kind} at offset ${at - 1}`)
  }
}

/**
 * Revives the packed value in `source[start, end)`. The bounds were checked
 * by the caller; everything inside them is checked here.
 * @throws {CorruptError} when the bytes are not one packed value exactly.
 */
export function unpack(source: Buffer, start: number, stop: number): unknown {
  src = source
  at = start
  end = stop
  try {
    const value = readValue(0)
    if (at !== end) throw malformed(`${end - at} bytes after the value`)
    return value
  } finally {
    src = scratch // never keep shared memory reachable from here
  }
}

/**
 * `unpack` for bytes from a peer that may be hostile (a socket, a Redis
 * item). A count is bounded by the bytes left, but what it builds is not:
 * five bytes make an empty object (64 bytes of heap), and an object of two
 * keys, 1023 and 2574 (25 bytes), an element store of 3,878 slots (31 KB),
 * so 20,000 of them (380 KB) took 624 MB. Each part is charged its
 * estimated V8 size as it is read (heap-budget.ts: containers, slots,
 * named properties, strings, numbers that need a box, and index keys as
 * element-store.ts grows the store, and each key's first use: NewKeys), against `allowed`, by default the
 * budget of every untrusted payload (16 bytes per byte plus 1 MiB);
 * past it, CorruptError, and the partial value is garbage.
 *
 * Measured (Node 20 x64, heap after a GC with the value kept, per payload
 * byte, 100,000 copies): records `{ id, name, values: [1, 2, 3] }` take
 * 3.0 and are charged 4.1; `{ 1: 'a', 2: 'b' }` 13.5 and 14.1 (a first
 * store of 19 slots each); `{}` 12.8 and 14.4; `[]` 8.0 and 11.2; short
 * strings 4.1 and 4.8. The trusted read is unchanged: one flag tested per
 * container, string and float (`{ id, name, values: [1, 2, 3] }`: 200.0
 * ns before, 200.2 after, means of five alternating runs).
 *
 * @throws {CorruptError} when the bytes are not one packed value exactly, or it would pass the budget.
 */
export function unpackUntrusted(
  source: Buffer,
  start: number,
  stop: number,
  allowed = heapBudget(stop - start),
): unknown {
  metered = true
  left = allowed
  limit = allowed
  origin = start
  keys = new NewKeys(refusedKeys)
  try {
    return unpack(source, start, stop)
  } finally {
    metered = false
    keys = new NewKeys(refusedKeys)
  }
}
