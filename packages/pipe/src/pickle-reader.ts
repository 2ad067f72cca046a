/**
 * A pickle reader for plain data: what Python's `pickle.dumps` (protocols 2
 * to 5) makes of None, bool, int, float, str, bytes, bytearray, list, tuple,
 * dict, set and frozenset, with its memo (shared and self references).
 * Nothing in a pickle is ever executed: the reader interprets opcodes, and
 * an opcode that would build anything else is refused.
 *
 * | Python                 | JavaScript                                          |
 * |------------------------|-----------------------------------------------------|
 * | None                   | null                                                |
 * | bool                   | boolean                                             |
 * | int                    | number when a safe integer (abs < 2^53), else bigint |
 * | float                  | number                                              |
 * | str                    | string (lone surrogates kept, as Python's surrogatepass) |
 * | bytes, bytearray       | Uint8Array (a copy)                                 |
 * | list, tuple            | Array                                               |
 * | dict                   | a plain object when every key is a str, else a Map  |
 * | set, frozenset         | Set                                                 |
 *
 * Refused with DataCloneError naming the opcode (the message is dropped and
 * the connection goes on): GLOBAL and STACK_GLOBAL (except the five builtins
 * below), REDUCE (except on them), BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX,
 * PERSID, BINPERSID, EXT1/2/4, NEXT_BUFFER, READONLY_BUFFER, and the text
 * opcodes of protocol 0 (INT, LONG, FLOAT, STRING, UNICODE, GET, PUT) and
 * Python 2's str (BINSTRING, SHORT_BINSTRING).
 *
 * The five builtins: protocols 2 and 3 have no opcode for sets, and protocol
 * 2 none for bytes, so CPython writes them as a call: `builtins.set(list)`,
 * `builtins.frozenset(list)`, `builtins.bytearray(bytes)`, `builtins.bytes()`
 * and `_codecs.encode(str, 'latin1')`. The reader recognises exactly these
 * names (also as Python 2's `__builtin__`) and builds the value itself; a
 * global left over anywhere else in the value (a class or a function as
 * data) is refused.
 *
 * Malformed input (truncated, a length past the end, an unknown opcode, an
 * opcode on the wrong kind of value, an empty stack) throws CorruptError.
 *
 * Bounds: every length is checked against the bytes left in the frame before
 * anything is sliced or allocated, and every opcode consumes at least one
 * byte, so the stack, the marks and the memo each hold at most as many
 * entries as the frame has bytes (a memo get pushes a reference, not a copy;
 * a dict moves to a Map at most once). Only the builtin calls copy: a memo
 * get can hand one a large value many times, so each unpickle has a budget
 * of COPY_BUDGET_PER_BYTE values or bytes per byte of the pickle, charged
 * before each copy (a Set's entries, bytearray's and encode's bytes).
 * CPython's own pickles spend at most two per byte (protocol 2 writes a
 * bytearray as `bytearray(_codecs.encode(str, 'latin1'))`). Past the budget, or for
 * an integer longer than MAX_LONG_BYTES, DataCloneError. The reader loops,
 * never recurses.
 *
 * Heap budget: one byte can build an object (EMPTY_SET is 1 byte, a Set 152
 * bytes of heap), so each unpickle may build at most HEAP_BUDGET_PER_BYTE
 * bytes per byte of the pickle plus HEAP_BUDGET_FLOOR. Everything built is
 * charged its estimated V8 size (see HEAP) as it is built: containers, each
 * slot or entry put into them, strings, bytes, numbers that need a box,
 * builtins and memo entries. Past the budget, DataCloneError; the partial
 * value is garbage. Not charged: the parse stack (an 8-byte slot per value
 * on it, at most one per byte of the pickle, and the stores it leaves behind
 * as it grows: up to 12 bytes per byte), the stores a list or an object's
 * elements leave behind as they grow by appends (at most twice the live
 * one: each is at least 1.5 times the last) and, for a dict promoted to a
 * Map, the walk at STOP.
 *
 * Index keys: a str key that is an array index ('0' to '4294967294', no
 * leading zero) does not become a property: V8 keeps it in the object's
 * elements, an array of 8-byte slots that it grows to hold any index less
 * than 1024 past its end, so one key '1023' makes 1,552 slots (12 KB) and
 * '2574' next 3,878 (31 KB). The reader charges those elements for each dict
 * given such a key, and for the memo, whose keys are indices, with
 * @ipc/core's element model (`ElementStore`, the one the v8 scan and the
 * packed reader use: V8's own rules, the same slot counts V8 reports): a
 * store is charged its growth (the live heap; the stores it replaced are
 * garbage until a GC, at most about as much again), a dictionary its table
 * as V8 sizes it. Where V8 picks a dictionary over a large and mostly empty
 * store (past 500 or 5,000 slots, depending on the object's age), the
 * model still charges the store.
 *
 * Measured (heap after `gc()` with the value alive, per copy, over
 * thousands of copies): empty containers, one-item lists and tuples,
 * floats and short str in a list are charged 3 to 11% over their heap;
 * dicts with index keys 0 to 45% over (the 88 bytes of their ElementStore:
 * {'1', '2'} 41%, '0' to '99' 8%, {'404'} 0%; {'1023', '2574'} 40%, the 12
 * KB store it replaced), a memo of 300,000 entries 0.1% under; dicts with
 * dictionary elements ({'5000', '9000'}, ten keys 3,000 apart) 2.1 to 2.2
 * times; small dicts with int keys (Maps) 36% over (measured with the
 * reader's own element model, since replaced by core's, which charges 10
 * bytes a grown slot, growth only, and a dictionary's table as V8 sizes it;
 * the CPython corpus below still holds);
 * dicts with the same two str keys 2.1 times (V8 keeps their first
 * properties inside the object, each charged HEAP.property). CPython's
 * pickles of ordinary data (protocols 2 to 5) take at most 20 bytes per
 * byte (a list of
 * `[[[x]]]`), small dicts with int keys 30 (a Map each, and the dict it
 * replaces at STOP); lists of ints, floats, str, pairs or small dicts 4 to
 * 18, small dicts with index keys 18 to 23 (pickle.test.ts measures them).
 * Over 32 only lists of thousands of distinct empty sets (87), tuples (44)
 * or dicts (39), and of short bytearrays at protocol 4 (43): past the
 * floor, refused. So do dicts whose index keys are sparse: a list of dicts
 * {'404': x} takes 5 KB of heap each in V8, and is charged so.
 *
 * Hashing: V8 hashes numbers in a Set or Map without a random seed, so a
 * peer can choose numbers that all collide and make building a set of n of
 * them take n^2 steps. One unpickle puts at most MAX_HASHED_NUMBERS numbers
 * (set items, non-str dict keys) into Sets and Maps, else DataCloneError;
 * the memo is an object, whose integer keys V8 hashes with its seed. V8
 * hashes a string of more than 16,383 chars by its length alone, seeded or
 * not: such strings as dict keys or set items are held to @ipc/core's rule
 * for every reader (NewKeys#hashedString), else DataCloneError.
 */
import { isUtf8 } from 'node:buffer'
import { CorruptError, DataCloneError, IpcError } from '@ipc/core'
import { arrayIndex, ElementStore, MAX_HASHED_CHARS, MAX_HASHED_NUMBERS, NewKeys } from '@ipc/core/internal'

/** Every opcode of pickle protocols 0 to 5, by byte: its name in Python's `pickletools`. */
export const OPCODE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x28, 'MARK'],
  [0x2e, 'STOP'],
  [0x30, 'POP'],
  [0x31, 'POP_MARK'],
  [0x32, 'DUP'],
  [0x46, 'FLOAT'],
  [0x49, 'INT'],
  [0x4a, 'BININT'],
  [0x4b, 'BININT1'],
  [0x4c, 'LONG'],
  [0x4d, 'BININT2'],
  [0x4e, 'NONE'],
  [0x50, 'PERSID'],
  [0x51, 'BINPERSID'],
  [0x52, 'REDUCE'],
  [0x53, 'STRING'],
  [0x54, 'BINSTRING'],
  [0x55, 'SHORT_BINSTRING'],
  [0x56, 'UNICODE'],
  [0x58, 'BINUNICODE'],
  [0x61, 'APPEND'],
  [0x62, 'BUILD'],
  [0x63, 'GLOBAL'],
  [0x64, 'DICT'],
  [0x7d, 'EMPTY_DICT'],
  [0x65, 'APPENDS'],
  [0x67, 'GET'],
  [0x68, 'BINGET'],
  [0x69, 'INST'],
  [0x6a, 'LONG_BINGET'],
  [0x6c, 'LIST'],
  [0x5d, 'EMPTY_LIST'],
  [0x6f, 'OBJ'],
  [0x70, 'PUT'],
  [0x71, 'BINPUT'],
  [0x72, 'LONG_BINPUT'],
  [0x73, 'SETITEM'],
  [0x74, 'TUPLE'],
  [0x29, 'EMPTY_TUPLE'],
  [0x75, 'SETITEMS'],
  [0x47, 'BINFLOAT'],
  [0x80, 'PROTO'],
  [0x81, 'NEWOBJ'],
  [0x82, 'EXT1'],
  [0x83, 'EXT2'],
  [0x84, 'EXT4'],
  [0x85, 'TUPLE1'],
  [0x86, 'TUPLE2'],
  [0x87, 'TUPLE3'],
  [0x88, 'NEWTRUE'],
  [0x89, 'NEWFALSE'],
  [0x8a, 'LONG1'],
  [0x8b, 'LONG4'],
  [0x42, 'BINBYTES'],
  [0x43, 'SHORT_BINBYTES'],
  [0x8c, 'SHORT_BINUNICODE'],
  [0x8d, 'BINUNICODE8'],
  [0x8e, 'BINBYTES8'],
  [0x8f, 'EMPTY_SET'],
  [0x90, 'ADDITEMS'],
  [0x91, 'FROZENSET'],
  [0x92, 'NEWOBJ_EX'],
  [0x93, 'STACK_GLOBAL'],
  [0x94, 'MEMOIZE'],
  [0x95, 'FRAME'],
  [0x96, 'BYTEARRAY8'],
  [0x97, 'NEXT_BUFFER'],
  [0x98, 'READONLY_BUFFER'],
])

/** The highest pickle protocol this reader knows. */
export const HIGHEST_PROTOCOL = 5

/** Values or bytes the builtin calls may copy, per byte of the pickle (see the file comment). */
export const COPY_BUDGET_PER_BYTE = 4

/**
 * The longest LONG4 integer accepted: 64 KiB, 524,288 bits (157,826
 * decimal digits). Printing one takes about 30 ms; one of 1 MiB, a second.
 */
export const MAX_LONG_BYTES = 64 * 1024

/**
 * The most numbers (int, float) one unpickle puts into Sets and Maps (set
 * items, non-str dict keys): the cap @ipc/core's scan of v8 payloads applies
 * (V8 hashes numbers there without a random seed, so a peer can pick
 * thousands that share a hash and make each insertion scan all the others).
 */
export { MAX_HASHED_NUMBERS }

/**
 * Heap bytes each unpickle may build per byte of the pickle, on top of
 * HEAP_BUDGET_FLOOR (see the file comment and the HEAP constants).
 */
export const HEAP_BUDGET_PER_BYTE = 32

/** Heap bytes every unpickle may build whatever its size: small messages of costly shapes (a few thousand empty sets). */
export const HEAP_BUDGET_FLOOR = 1024 * 1024

/**
 * Estimated V8 heap sizes (Node 20, x64, no pointer compression), measured as
 * `process.memoryUsage().heapUsed` deltas after `gc()` over 100,000 copies:
 * `[]` 32, `[x]` 56, `[x, y]` 64 (an array 32, its elements 16, 8 per slot;
 * push grows a store by half, so a slot pushed onto a non-empty list may
 * cost 12), `{}` 56 (4 properties inside; past about 10 a dict goes to
 * dictionary mode at about 32 per property), `new Set()` 152 and 18 to 24
 * per entry, `new Map()` 184 and about 30 per entry, a Uint8Array 184 plus
 * its bytes, a one-byte string 16 plus its length (two-byte: twice it) in
 * words of 8, a float or an int past 32 bits 16, a bigint 16 plus its
 * bytes, a memo entry 10 to 12 while the indices go 0, 1, 2… (fast
 * elements: 8 per slot, 16 per store, see ElementStore), 43 to 62 once they
 * do not (dictionary elements: 3 words an entry in a table of 1.5 to 3
 * times the entries, 144 bytes with 1 to 3 entries), a dict's
 * ElementStore and its entry in `Unpickler.stores` 86 (until unpickle
 * returns). A str key new to this pickle costs about 100 more on a plain
 * object (dicts each with its own key: 211 bytes a dict, not 116): charged
 * by @ipc/core's NewKeys, the rule every reader of untrusted values uses.
 */
const HEAP = {
  array: 32,
  elements: 16,
  slot: 8,
  pushedSlot: 12,
  object: 56,
  property: 32,
  set: 152,
  setEntry: 24,
  map: 184,
  mapEntry: 32,
  bytes: 184,
  string: 16,
  number: 16,
  builtin: 32,
  dictionaryEntry: 72,
  elementStore: 88,
} as const

/**
 * Appends `items` to `list`. An empty list gets a store of exactly its new
 * length: push would give it at least 16 spare slots, and CPython writes
 * every list as EMPTY_LIST then APPEND or APPENDS (`[x]` would take 184 bytes
 * instead of 56). Raising `length` of an empty array makes a store of that
 * length, but of 16 at least; lowering it to at most half the store, from
 * more than one above, trims the store (V8's JSArray::SetLength).
 */
function appendAll(list: unknown[], items: readonly unknown[]): void {
  const n = items.length
  if (list.length !== 0 || n === 0) {
    for (const v of items) list.push(v)
    return
  }
  list.length = n < 16 ? 2 * n + 16 : n
  for (let i = 0; i < n; i++) list[i] = items[i]
  list.length = n
}

/** A global the reader recognises (see the file comment); only REDUCE may consume it. */
class Builtin {
  readonly name: string
  constructor(name: string) {
    this.name = name
  }
}

const BUILTINS: ReadonlyMap<string, string> = new Map([
  ['builtins set', 'set'],
  ['__builtin__ set', 'set'],
  ['builtins frozenset', 'frozenset'],
  ['__builtin__ frozenset', 'frozenset'],
  ['builtins bytes', 'bytes'],
  ['__builtin__ bytes', 'bytes'],
  ['builtins bytearray', 'bytearray'],
  ['__builtin__ bytearray', 'bytearray'],
  ['_codecs encode', 'encode'],
])

/** UTF-8 with lone surrogates encoded as 3-byte sequences (Python's 'surrogatepass'); CorruptError for anything else invalid. */
function decodeText(bytes: Uint8Array): string {
  // Validating allocates nothing; only a string that is not strict UTF-8 takes the slow path.
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  return decodeSurrogatepass(bytes)
}

/** UTF-16 code units turned into a string per call of String.fromCharCode (its arguments go on the stack). */
const CHARS_PER_CALL = 8192

/**
 * decodeText's slow path: UTF-8 that may encode lone surrogates. The code
 * units go into one array (at most one per input byte), then into the string
 * in slices: appending char by char would build a rope of ~19x the input.
 */
function decodeSurrogatepass(bytes: Uint8Array): string {
  const units = new Uint16Array(bytes.byteLength)
  let count = 0
  let i = 0
  while (i < bytes.byteLength) {
    const b = bytes[i] as number
    let cp: number
    let n: number
    if (b < 0x80) {
      cp = b
      n = 1
    } else if (b >= 0xc2 && b < 0xe0) {
      cp = b & 0x1f
      n = 2
    } else if (b >= 0xe0 && b < 0xf0) {
      cp = b & 0x0f
      n = 3
    } else if (b >= 0xf0 && b < 0xf5) {
      cp = b & 0x07
      n = 4
    } else throw new CorruptError(`Cannot read the pickle: a string holds the invalid UTF-8 byte 0x${b.toString(16)}`)
    if (i + n > bytes.byteLength)
      throw new CorruptError('Cannot read the pickle: a string ends inside a UTF-8 sequence')
    for (let k = 1; k < n; k++) {
      const c = bytes[i + k] as number
      if ((c & 0xc0) !== 0x80) throw new CorruptError('Cannot read the pickle: a string holds invalid UTF-8')
      cp = (cp << 6) | (c & 0x3f)
    }
    const min = n === 1 ? 0 : n === 2 ? 0x80 : n === 3 ? 0x800 : 0x10000
    if (cp < min || cp > 0x10ffff) throw new CorruptError('Cannot read the pickle: a string holds invalid UTF-8')
    if (cp >= 0x10000) {
      // A 4-byte sequence: two units, a surrogate pair.
      units[count++] = 0xd800 + ((cp - 0x10000) >> 10)
      units[count++] = 0xdc00 + ((cp - 0x10000) & 0x3ff)
    } else units[count++] = cp
    i += n
  }
  const parts: string[] = []
  for (let at = 0; at < count; at += CHARS_PER_CALL)
    parts.push(String.fromCharCode.apply(null, units.subarray(at, Math.min(count, at + CHARS_PER_CALL)) as never))
  return parts.join('')
}

/** A little-endian two's-complement integer of `bytes` (LONG1, LONG4): a number when safe, else a bigint. */
function decodeLong(bytes: Uint8Array): number | bigint {
  const n = bytes.byteLength
  if (n === 0) return 0
  // Buffer.from copies, so reverse() leaves the source alone.
  let value = BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`)
  if (((bytes[n - 1] as number) & 0x80) !== 0) value -= 1n << BigInt(8 * n)
  if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value)
  return value
}

/** `text` for an error message: at most 50 chars. */
function clip(text: string): string {
  return text.length > 50 ? `${text.slice(0, 50)}… (${text.length} chars)` : text
}

function refused(op: number, detail: string): DataCloneError {
  return new DataCloneError(
    `Cannot read the pickle: opcode ${OPCODE_NAMES.get(op) ?? op} ${detail}; only plain data (None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset) is accepted, nothing from the peer is executed`,
  )
}

/** The state of one `unpickle` call (a class, so a call allocates no closures). */
class Unpickler {
  readonly source: Uint8Array
  readonly view: DataView
  readonly start: number
  readonly end: number
  pos: number
  readonly stack: unknown[] = []
  /** Stack lengths at each MARK; the innermost is `fence`. */
  readonly marks: number[] = []
  fence = 0
  /**
   * Memo entries by index. An object without prototype, not a Map: V8 keys a
   * Map's numbers by an unseeded hash (indices a peer picks could all
   * collide), an object's integer keys by its seeded one.
   */
  readonly memo: Record<number, unknown> = Object.create(null)
  /** Entries in `memo`: the index MEMOIZE uses next. */
  memoSize = 0
  /** Numbers that may still go into Sets and Maps (see MAX_HASHED_NUMBERS). */
  hashable = MAX_HASHED_NUMBERS
  /** Builtins pushed (by GLOBAL, STACK_GLOBAL or a memo get) minus those REDUCE consumed: must be 0 at STOP. */
  loose = 0
  /**
   * Dicts start as plain objects; the first key that is not a str (or is a
   * str of more than MAX_HASHED_CHARS chars) moves the dict's items to a Map (recorded here), which then takes its SETITEMs. At
   * STOP every reference to a promoted object is replaced by its Map.
   */
  promoted: Map<object, Map<unknown, unknown>> | undefined
  /** Values or bytes the builtin calls may still copy (see COPY_BUDGET_PER_BYTE). */
  budget: number
  /** Heap bytes the value may take in all, and still (see HEAP_BUDGET_PER_BYTE). */
  readonly heapLimit: number
  heap: number
  /** Where the opcode being run starts (for error messages). */
  opAt = 0
  /** The str keys set on plain objects so far (@ipc/core's NewKeys). */
  readonly keys = new NewKeys((detail) => new DataCloneError(`Cannot read the pickle: ${detail}`))
  /** The memo's elements (see ElementStore). */
  readonly memoStore = new ElementStore()
  /** The elements of the dicts given an index key so far (see ElementStore); made at the first. */
  stores: Map<object, ElementStore> | undefined

  constructor(source: Uint8Array, start: number, end: number, heapLimit: number) {
    this.source = source
    this.view = new DataView(source.buffer, source.byteOffset, source.byteLength)
    this.start = start
    this.end = end
    this.pos = start
    this.budget = COPY_BUDGET_PER_BYTE * (end - start)
    this.heapLimit = heapLimit
    this.heap = heapLimit
  }

  /** Charges `bytes` of heap to the value (see HEAP_BUDGET_PER_BYTE); DataCloneError past the budget. */
  spend(op: number, bytes: number): void {
    this.heap -= bytes
    if (this.heap >= 0) return
    const size = this.end - this.start
    throw new DataCloneError(
      `Cannot read the pickle: the value would take more memory than its ${size} bytes allow (${this.heapLimit} bytes of heap, ${HEAP_BUDGET_PER_BYTE} per byte plus ${HEAP_BUDGET_FLOOR / 1024 / 1024} MiB), past it at opcode ${OPCODE_NAMES.get(op)} at offset ${this.opAt - this.start}`,
    )
  }

  /** A str of the pickle, charged: one byte per char when all are ASCII, else two, in words of 8. */
  text(op: number, n: number): string {
    const s = decodeText(this.bytes(n, OPCODE_NAMES.get(op) as string))
    this.spend(op, HEAP.string + 8 * Math.ceil((s.length === n ? n : 2 * s.length) / 8))
    return s
  }

  /** A copy of `n` bytes of the pickle, charged. */
  copy(op: number, n: number): Uint8Array {
    const bytes = this.bytes(n, OPCODE_NAMES.get(op) as string)
    this.spend(op, HEAP.bytes + n)
    return new Uint8Array(bytes)
  }

  corrupt(detail: string): CorruptError {
    return new CorruptError(`Cannot read the pickle: ${detail}`)
  }

  need(n: number, what: string): number {
    if (n > this.end - this.pos)
      throw this.corrupt(`${what} needs ${n} bytes at offset ${this.pos - this.start}, ${this.end - this.pos} are left`)
    const at = this.pos
    this.pos += n
    return at
  }

  u8(what: string): number {
    return this.source[this.need(1, what)] as number
  }

  u32(what: string): number {
    return this.view.getUint32(this.need(4, what), true)
  }

  u64(what: string): number {
    const at = this.need(8, what)
    const high = this.view.getUint32(at + 4, true)
    // Anything at or past 2^32 * 2^21 is past any frame: fail the length check that follows.
    return high >= 0x200000 ? Number.MAX_SAFE_INTEGER : high * 2 ** 32 + this.view.getUint32(at, true)
  }

  bytes(n: number, what: string): Uint8Array {
    const at = this.need(n, what)
    return this.source.subarray(at, at + n)
  }

  push(v: unknown): void {
    this.stack.push(v)
    if (v instanceof Builtin) this.loose++
  }

  pop(op: number): unknown {
    if (this.stack.length <= this.fence) throw this.corrupt(`${OPCODE_NAMES.get(op)} finds the stack empty`)
    return this.stack.pop()
  }

  top(op: number): unknown {
    if (this.stack.length <= this.fence) throw this.corrupt(`${OPCODE_NAMES.get(op)} finds the stack empty`)
    return this.stack[this.stack.length - 1]
  }

  popMark(op: number): unknown[] {
    const at = this.marks.pop()
    if (at === undefined) throw this.corrupt(`${OPCODE_NAMES.get(op)} finds no MARK`)
    this.fence = this.marks.length > 0 ? (this.marks[this.marks.length - 1] as number) : 0
    return this.stack.splice(at)
  }

  listAt(op: number, v: unknown): unknown[] {
    if (!Array.isArray(v)) throw this.corrupt(`${OPCODE_NAMES.get(op)} on something that is not a list`)
    return v
  }

  setAt(op: number, v: unknown): Set<unknown> {
    if (!(v instanceof Set)) throw this.corrupt(`${OPCODE_NAMES.get(op)} on something that is not a set`)
    return v
  }

  /** Counts a key or item about to go into a Set or Map (see MAX_HASHED_NUMBERS; a long string: the keys' rule). */
  hashing(op: number, key: unknown): void {
    // A long string collides too, by its length (@ipc/core's NewKeys#hashedString).
    if (typeof key === 'string') this.keys.hashedString(key.length)
    if (typeof key !== 'number' && typeof key !== 'bigint') return
    if (--this.hashable < 0)
      throw new DataCloneError(
        `Cannot read the pickle: opcode ${OPCODE_NAMES.get(op)} puts more than ${MAX_HASHED_NUMBERS} numbers into sets and non-str dict keys, the most one message may (numbers are hashed without a seed: a peer could choose colliding ones to stall this process)`,
      )
  }

  /** `new Set(items)`, counting its numbers first. */
  newSet(op: number, items: unknown[]): Set<unknown> {
    for (const v of items) this.hashing(op, v)
    this.spend(op, HEAP.set + HEAP.setEntry * items.length)
    return new Set(items)
  }

  /** `dict[k] = v` on a dict of this pickle: a plain object until a key is not a str, then its Map. */
  setItem(op: number, dict: unknown, k: unknown, v: unknown): void {
    if (dict instanceof Map) {
      this.hashing(op, k)
      this.spend(op, HEAP.mapEntry)
      dict.set(k, v)
      return
    }
    if (typeof dict !== 'object' || dict === null || Object.getPrototypeOf(dict) !== Object.prototype)
      throw this.corrupt(`${OPCODE_NAMES.get(op)} on something that is not a dict`)
    const map = this.promoted?.get(dict)
    if (map !== undefined) {
      this.hashing(op, k)
      this.spend(op, HEAP.mapEntry)
      map.set(k, v)
    } else if (typeof k !== 'string' || k.length > MAX_HASHED_CHARS) {
      // A str key too long for a property name (@ipc/core's NewKeys#propertyName) makes the dict a Map too.
      this.hashing(op, k)
      this.spend(op, HEAP.map + HEAP.mapEntry * (Object.keys(dict).length + 1))
      const moved = new Map<unknown, unknown>(Object.entries(dict))
      moved.set(k, v)
      this.promoted ??= new Map()
      this.promoted.set(dict, moved)
    } else if (k === '__proto__') {
      // '__proto__' would set the prototype: define it as an own property.
      this.property(op, k)
      Object.defineProperty(dict, k, { value: v, writable: true, enumerable: true, configurable: true })
    } else {
      const index = arrayIndex(k)
      if (index < 0) this.property(op, k)
      else if (!Object.hasOwn(dict, k)) {
        this.stores ??= new Map()
        let store = this.stores.get(dict)
        if (store === undefined) {
          this.spend(op, HEAP.elementStore)
          store = new ElementStore()
          this.stores.set(dict, store)
        }
        this.element(op, store, index)
      }
      ;(dict as Record<string, unknown>)[k] = v
    }
  }

  /** Charges the index `index` about to be added to an object whose elements are `store`, as V8 will store it (@ipc/core's element model). */
  element(op: number, store: ElementStore, index: number): void {
    this.spend(op, store.set(index))
  }

  /** Charges a property about to be set on a plain object, and its key the first time it is one. */
  property(op: number, key: string): void {
    this.spend(op, HEAP.property + this.keys.cost(key))
  }

  /** Spends `n` of the copy budget before a builtin call copies `n` values or bytes. */
  charge(name: string, n: number): void {
    if (n > this.budget) {
      const size = this.end - this.start
      throw new DataCloneError(
        `Cannot read the pickle: REDUCE of ${name} would copy ${n} values or bytes, past what is left of the ${COPY_BUDGET_PER_BYTE * size} allowed for its ${size} bytes (${COPY_BUDGET_PER_BYTE} per byte; CPython's pickles copy at most 2 per byte)`,
      )
    }
    this.budget -= n
  }

  long(op: number, n: number): number | bigint {
    const bytes = this.bytes(n, OPCODE_NAMES.get(op) as string)
    if (n > MAX_LONG_BYTES)
      throw refused(op, `holds an integer of ${n} bytes, more than the ${MAX_LONG_BYTES} accepted`)
    this.spend(op, HEAP.number + n)
    return decodeLong(bytes)
  }

  memoGet(op: number, index: number): void {
    if (!(index in this.memo)) throw this.corrupt(`${OPCODE_NAMES.get(op)} ${index} names no memo entry`)
    this.push(this.memo[index])
  }

  memoPut(op: number, index: number): void {
    const v = this.top(op)
    if (!(index in this.memo)) {
      // 2^32 - 1 is no array index: a property of the memo, which has no prototype (dictionary properties).
      if (index > 4294967294) this.spend(op, HEAP.dictionaryEntry)
      else this.element(op, this.memoStore, index)
      this.memoSize++
    }
    this.memo[index] = v
  }

  global(op: number, module: string, name: string): void {
    // Known names are short: a long one (a memoised str, maybe) is neither joined nor echoed whole.
    const builtin = module.length + name.length < 64 ? BUILTINS.get(`${module} ${name}`) : undefined
    if (builtin === undefined) throw refused(op, `names the global ${clip(module)}.${clip(name)}`)
    this.spend(op, HEAP.builtin)
    this.push(new Builtin(builtin))
  }

  line(op: number): string {
    const at = this.pos
    const nl = this.source.subarray(this.pos, this.end).indexOf(0x0a)
    if (nl < 0) throw this.corrupt(`${OPCODE_NAMES.get(op)} has no end of line`)
    this.pos += nl + 1
    return Buffer.from(this.source.buffer, this.source.byteOffset + at, nl).toString('latin1')
  }

  /** What CPython's protocols 2 and 3 write as calls: set, frozenset, bytes, bytearray, `_codecs.encode`. */
  call(name: string, args: unknown): unknown {
    if (!Array.isArray(args)) throw this.corrupt(`REDUCE of ${name} without an argument tuple`)
    if (args.length === 0) {
      if (name === 'set' || name === 'frozenset') {
        this.spend(0x52, HEAP.set)
        return new Set()
      }
      if (name === 'bytes' || name === 'bytearray') {
        this.spend(0x52, HEAP.bytes)
        return new Uint8Array(0)
      }
    }
    const [first, second] = args as [unknown, unknown]
    if (args.length === 1 && (name === 'set' || name === 'frozenset') && Array.isArray(first)) {
      this.charge(name, first.length)
      return this.newSet(0x52, first)
    }
    if (args.length === 1 && name === 'bytearray' && first instanceof Uint8Array) {
      this.charge(name, first.byteLength)
      this.spend(0x52, HEAP.bytes + first.byteLength)
      return first.slice()
    }
    if (
      args.length === 2 &&
      name === 'encode' &&
      typeof first === 'string' &&
      (second === 'latin1' || second === 'latin-1')
    ) {
      this.charge('_codecs.encode', first.length)
      this.spend(0x52, HEAP.bytes + first.length)
      const out = new Uint8Array(first.length)
      for (let i = 0; i < first.length; i++) {
        const c = first.charCodeAt(i)
        if (c > 0xff) throw this.corrupt('REDUCE of _codecs.encode with a char above latin1')
        out[i] = c
      }
      return out
    }
    throw new DataCloneError(
      `Cannot read the pickle: opcode REDUCE calls ${name} with arguments other than the ones CPython writes for plain data`,
    )
  }

  run(): unknown {
    for (;;) {
      this.opAt = this.pos
      const op = this.u8('an opcode')
      switch (op) {
        case 0x80: {
          // PROTO
          const protocol = this.u8('PROTO')
          if (protocol > HIGHEST_PROTOCOL)
            throw new DataCloneError(
              `Cannot read the pickle: protocol ${protocol} is newer than the highest this reader knows (${HIGHEST_PROTOCOL})`,
            )
          break
        }
        case 0x95: {
          // FRAME: a length to check, nothing to do (the frame is all in memory).
          const n = this.u64('FRAME')
          if (n > this.end - this.pos) throw this.corrupt(`FRAME announces ${n} bytes, ${this.end - this.pos} are left`)
          break
        }
        case 0x2e: {
          // STOP
          const value = this.pop(op)
          if (this.loose !== 0 || value instanceof Builtin)
            throw refused(0x63, 'leaves a class or function in the value (only data is accepted)')
          return this.promoted === undefined ? value : replacePromoted(value, this.promoted)
        }
        case 0x28: // MARK
          this.marks.push(this.stack.length)
          this.fence = this.stack.length
          break
        case 0x30: // POP: a value, or the MARK right above the values
          if (this.marks.length > 0 && this.stack.length === this.fence) this.popMark(op)
          else if (this.pop(op) instanceof Builtin) this.loose--
          break
        case 0x31: // POP_MARK
          for (const v of this.popMark(op)) if (v instanceof Builtin) this.loose--
          break
        case 0x32: // DUP
          this.push(this.top(op))
          break
        case 0x4e: // NONE
          this.push(null)
          break
        case 0x88: // NEWTRUE
          this.push(true)
          break
        case 0x89: // NEWFALSE
          this.push(false)
          break
        case 0x4a: // BININT
          this.push(this.view.getInt32(this.need(4, 'BININT'), true))
          break
        case 0x4b: // BININT1
          this.push(this.u8('BININT1'))
          break
        case 0x4d: // BININT2
          this.push(this.view.getUint16(this.need(2, 'BININT2'), true))
          break
        case 0x8a: // LONG1
          this.push(this.long(op, this.u8('LONG1')))
          break
        case 0x8b: {
          // LONG4
          const n = this.view.getInt32(this.need(4, 'LONG4'), true)
          if (n < 0) throw this.corrupt(`LONG4 has the negative length ${n}`)
          this.push(this.long(op, n))
          break
        }
        case 0x47: // BINFLOAT
          this.spend(op, HEAP.number)
          this.push(this.view.getFloat64(this.need(8, 'BINFLOAT'), false))
          break
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.text(op, this.u8('SHORT_BINUNICODE')))
          break
        case 0x58: // BINUNICODE
          this.push(this.text(op, this.u32('BINUNICODE')))
          break
        case 0x8d: // BINUNICODE8
          this.push(this.text(op, this.u64('BINUNICODE8')))
          break
        case 0x43: // SHORT_BINBYTES
          this.push(this.copy(op, this.u8('SHORT_BINBYTES')))
          break
        case 0x42: // BINBYTES
          this.push(this.copy(op, this.u32('BINBYTES')))
          break
        case 0x8e: // BINBYTES8
          this.push(this.copy(op, this.u64('BINBYTES8')))
          break
        case 0x96: // BYTEARRAY8
          this.push(this.copy(op, this.u64('BYTEARRAY8')))
          break
        case 0x5d: // EMPTY_LIST
        case 0x29: // EMPTY_TUPLE
          this.spend(op, HEAP.array)
          this.push([])
          break
        case 0x7d: // EMPTY_DICT
          this.spend(op, HEAP.object)
          this.push({})
          break
        case 0x8f: // EMPTY_SET
          this.spend(op, HEAP.set)
          this.push(new Set())
          break
        case 0x85: // TUPLE1
          this.spend(op, HEAP.array + HEAP.elements + HEAP.slot)
          this.push([this.pop(op)])
          break
        case 0x86: {
          // TUPLE2
          this.spend(op, HEAP.array + HEAP.elements + 2 * HEAP.slot)
          const b = this.pop(op)
          this.push([this.pop(op), b])
          break
        }
        case 0x87: {
          // TUPLE3
          this.spend(op, HEAP.array + HEAP.elements + 3 * HEAP.slot)
          const c = this.pop(op)
          const b = this.pop(op)
          this.push([this.pop(op), b, c])
          break
        }
        case 0x74: // TUPLE
        case 0x6c: {
          // LIST (and TUPLE): the array popMark's splice made is the value
          const items = this.popMark(op)
          this.spend(op, HEAP.array + (items.length === 0 ? 0 : HEAP.elements + HEAP.slot * items.length))
          this.push(items)
          break
        }
        case 0x91: // FROZENSET
          this.push(this.newSet(op, this.popMark(op)))
          break
        case 0x64: {
          // DICT
          const items = this.popMark(op)
          if (items.length % 2 !== 0) throw this.corrupt('DICT has an odd number of items')
          this.spend(op, HEAP.object)
          const d = {}
          for (let i = 0; i < items.length; i += 2) this.setItem(op, d, items[i], items[i + 1])
          this.push(this.promoted?.get(d) ?? d)
          break
        }
        case 0x61: {
          // APPEND
          const v = this.pop(op)
          const list = this.listAt(op, this.top(op))
          this.spend(op, list.length === 0 ? HEAP.elements + HEAP.slot : HEAP.pushedSlot)
          appendAll(list, [v])
          break
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark(op)
          const list = this.listAt(op, this.top(op))
          if (items.length > 0)
            this.spend(
              op,
              list.length === 0 ? HEAP.elements + HEAP.slot * items.length : HEAP.pushedSlot * items.length,
            )
          appendAll(list, items)
          break
        }
        case 0x73: {
          // SETITEM
          const v = this.pop(op)
          const k = this.pop(op)
          this.setItem(op, this.top(op), k, v)
          break
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark(op)
          if (items.length % 2 !== 0) throw this.corrupt('SETITEMS has an odd number of items')
          const d = this.top(op)
          for (let i = 0; i < items.length; i += 2) this.setItem(op, d, items[i], items[i + 1])
          break
        }
        case 0x90: {
          // ADDITEMS
          const items = this.popMark(op)
          const s = this.setAt(op, this.top(op))
          for (const v of items) {
            this.hashing(op, v)
            this.spend(op, HEAP.setEntry)
            s.add(v)
          }
          break
        }
        case 0x68: // BINGET
          this.memoGet(op, this.u8('BINGET'))
          break
        case 0x6a: // LONG_BINGET
          this.memoGet(op, this.u32('LONG_BINGET'))
          break
        case 0x71: // BINPUT
          this.memoPut(op, this.u8('BINPUT'))
          break
        case 0x72: // LONG_BINPUT
          this.memoPut(op, this.u32('LONG_BINPUT'))
          break
        case 0x94: // MEMOIZE
          this.memoPut(op, this.memoSize)
          break
        case 0x63: {
          // GLOBAL: module and name on two text lines
          const module = this.line(op)
          this.global(op, module, this.line(op))
          break
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop(op)
          const module = this.pop(op)
          if (typeof module !== 'string' || typeof name !== 'string')
            throw this.corrupt('STACK_GLOBAL needs a module and a name (two str)')
          this.global(op, module, name)
          break
        }
        case 0x52: {
          // REDUCE: only on the five builtins
          const args = this.pop(op)
          const callable = this.pop(op)
          if (!(callable instanceof Builtin)) throw refused(op, 'calls something that is not a known builtin')
          this.loose--
          this.push(this.call(callable.name, args))
          break
        }
        default: {
          const name = OPCODE_NAMES.get(op)
          if (name === undefined)
            throw this.corrupt(`unknown opcode 0x${op.toString(16)} at offset ${this.pos - 1 - this.start}`)
          throw refused(op, 'builds something that is not plain data (or is a protocol 0 or Python 2 form)')
        }
      }
    }
  }
}

/**
 * Revives the pickle in `source[start, end)`. Every failure is one of the two
 * typed errors: a limit of V8's own (a Set past 2^24 entries, a string past
 * 2^29 chars, an allocation that fails) becomes DataCloneError with the
 * original as `cause`.
 *
 * `heapLimit` (tests only) replaces the heap budget of the file comment.
 *
 * @throws {DataCloneError} when the pickle holds anything but plain data (the opcode is named), or
 * would build more than its budgets allow.
 * @throws {CorruptError} when it is not a well-formed pickle.
 */
export function unpickle(
  source: Uint8Array,
  start = 0,
  end = source.byteLength,
  heapLimit = HEAP_BUDGET_PER_BYTE * (end - start) + HEAP_BUDGET_FLOOR,
): unknown {
  if (!(start >= 0 && start <= end && end <= source.byteLength))
    throw new CorruptError(
      `Cannot read the pickle: bytes ${start} to ${end} are outside its ${source.byteLength}-byte source`,
    )
  try {
    return new Unpickler(source, start, end, heapLimit).run()
  } catch (error) {
    if (error instanceof IpcError) throw error
    throw new DataCloneError(
      `Cannot read the pickle: the value of its ${end - start} bytes cannot be built here (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    )
  }
}

/**
 * Replaces every reference to a promoted dict object (see Unpickler.promoted)
 * with its Map: in array slots, object values and Map values, keeping shared
 * and self references. Iterative: any depth. (A dict cannot be a set item or
 * a dict key in Python, so those are not searched.)
 */
function replacePromoted(root: unknown, promoted: Map<object, Map<unknown, unknown>>): unknown {
  const swap = (v: unknown): unknown => (typeof v === 'object' && v !== null ? (promoted.get(v) ?? v) : v)
  const seen = new Set<unknown>()
  const todo: unknown[] = [swap(root)]
  while (todo.length > 0) {
    const v = todo.pop()
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array || seen.has(v)) continue
    seen.add(v)
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        v[i] = swap(v[i])
        todo.push(v[i])
      }
    } else if (v instanceof Map) {
      for (const [k, value] of v) {
        const r = swap(value)
        if (r !== value) v.set(k, r)
        todo.push(k, r)
      }
    } else if (v instanceof Set) {
      for (const item of v) todo.push(item)
    } else {
      const o = v as Record<string, unknown>
      for (const k of Object.keys(o)) {
        const r = swap(o[k])
        if (r !== o[k]) Object.defineProperty(o, k, { value: r, writable: true, enumerable: true, configurable: true })
        todo.push(r)
      }
    }
  }
  return swap(root)
}
