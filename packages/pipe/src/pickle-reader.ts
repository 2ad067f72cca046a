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
 * entries as the frame has bytes. The reader loops, never recurses.
 */
import { CorruptError, DataCloneError } from '@ipc/core'

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

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** UTF-8 with lone surrogates encoded as 3-byte sequences (Python's 'surrogatepass'); CorruptError for anything else invalid. */
function decodeText(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    let out = ''
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
      out += String.fromCodePoint(cp)
      i += n
    }
    return out
  }
}

/** A little-endian two's-complement integer of `bytes` (LONG1, LONG4): a number when safe, else a bigint. */
function decodeLong(bytes: Uint8Array): number | bigint {
  const n = bytes.byteLength
  if (n === 0) return 0
  let hex = ''
  for (let i = n - 1; i >= 0; i--) hex += (bytes[i] as number).toString(16).padStart(2, '0')
  let value = BigInt(`0x${hex}`)
  if (((bytes[n - 1] as number) & 0x80) !== 0) value -= 1n << BigInt(8 * n)
  if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value)
  return value
}

function refused(op: number, detail: string): DataCloneError {
  return new DataCloneError(
    `Cannot read the pickle: opcode ${OPCODE_NAMES.get(op) ?? op} ${detail}; only plain data (None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset) is accepted, nothing from the peer is executed`,
  )
}

/**
 * Revives the pickle in `source[start, end)`.
 *
 * @throws {DataCloneError} when the pickle holds anything but plain data (the opcode is named).
 * @throws {CorruptError} when it is not a well-formed pickle.
 */
export function unpickle(source: Uint8Array, start = 0, end = source.byteLength): unknown {
  if (!(start >= 0 && start <= end && end <= source.byteLength))
    throw new CorruptError(
      `Cannot read the pickle: bytes ${start} to ${end} are outside its ${source.byteLength}-byte source`,
    )
  const view = new DataView(source.buffer, source.byteOffset, source.byteLength)
  const stack: unknown[] = []
  /** Stack lengths at each MARK; the innermost is `fence`. */
  const marks: number[] = []
  let fence = 0
  const memo = new Map<number, unknown>()
  /** Builtins pushed (by GLOBAL, STACK_GLOBAL or a memo get) minus those REDUCE consumed: must be 0 at STOP. */
  let loose = 0
  let maps = 0
  let pos = start

  const corrupt = (detail: string) => new CorruptError(`Cannot read the pickle: ${detail}`)
  const need = (n: number, what: string): number => {
    if (n > end - pos) throw corrupt(`${what} needs ${n} bytes at offset ${pos - start}, ${end - pos} are left`)
    const at = pos
    pos += n
    return at
  }
  const u8 = (what: string) => source[need(1, what)] as number
  const u32 = (what: string) => view.getUint32(need(4, what), true)
  const u64 = (what: string): number => {
    const at = need(8, what)
    const high = view.getUint32(at + 4, true)
    // Anything at or past 2^32 * 2^21 is past any frame: fail the length check below.
    return high >= 0x200000 ? Number.MAX_SAFE_INTEGER : high * 2 ** 32 + view.getUint32(at, true)
  }
  const bytes = (n: number, what: string) => {
    const at = need(n, what)
    return source.subarray(at, at + n)
  }
  const push = (v: unknown) => {
    stack.push(v)
    if (v instanceof Builtin) loose++
  }
  const pop = (op: number): unknown => {
    if (stack.length <= fence) throw corrupt(`${OPCODE_NAMES.get(op)} finds the stack empty`)
    return stack.pop()
  }
  const top = (op: number): unknown => {
    if (stack.length <= fence) throw corrupt(`${OPCODE_NAMES.get(op)} finds the stack empty`)
    return stack[stack.length - 1]
  }
  const popMark = (op: number): unknown[] => {
    const at = marks.pop()
    if (at === undefined) throw corrupt(`${OPCODE_NAMES.get(op)} finds no MARK`)
    fence = marks.length > 0 ? (marks[marks.length - 1] as number) : 0
    return stack.splice(at)
  }
  const listAt = (op: number, v: unknown): unknown[] => {
    if (!Array.isArray(v)) throw corrupt(`${OPCODE_NAMES.get(op)} on something that is not a list`)
    return v
  }
  const dictAt = (op: number, v: unknown): Map<unknown, unknown> => {
    if (!(v instanceof Map)) throw corrupt(`${OPCODE_NAMES.get(op)} on something that is not a dict`)
    return v
  }
  const setAt = (op: number, v: unknown): Set<unknown> => {
    if (!(v instanceof Set)) throw corrupt(`${OPCODE_NAMES.get(op)} on something that is not a set`)
    return v
  }
  const newDict = () => {
    maps++
    return new Map<unknown, unknown>()
  }
  const memoGet = (op: number, index: number) => {
    if (!memo.has(index)) throw corrupt(`${OPCODE_NAMES.get(op)} ${index} names no memo entry`)
    push(memo.get(index))
  }
  const memoPut = (op: number, index: number) => {
    memo.set(index, top(op))
  }
  const global = (op: number, module: string, name: string) => {
    const builtin = BUILTINS.get(`${module} ${name}`)
    if (builtin === undefined) throw refused(op, `names the global ${module}.${name}`)
    push(new Builtin(builtin))
  }
  const line = (op: number): string => {
    const at = pos
    const nl = source.subarray(pos, end).indexOf(0x0a)
    if (nl < 0) throw corrupt(`${OPCODE_NAMES.get(op)} has no end of line`)
    pos += nl + 1
    return Buffer.from(source.buffer, source.byteOffset + at, nl).toString('latin1')
  }

  for (;;) {
    const op = u8('an opcode')
    switch (op) {
      case 0x80: {
        // PROTO
        const protocol = u8('PROTO')
        if (protocol > HIGHEST_PROTOCOL)
          throw new DataCloneError(
            `Cannot read the pickle: protocol ${protocol} is newer than the highest this reader knows (${HIGHEST_PROTOCOL})`,
          )
        break
      }
      case 0x95: {
        // FRAME: a length to check, nothing to do (the frame is all in memory).
        const n = u64('FRAME')
        if (n > end - pos) throw corrupt(`FRAME announces ${n} bytes, ${end - pos} are left`)
        break
      }
      case 0x2e: {
        // STOP
        const value = pop(op)
        if (loose !== 0 || value instanceof Builtin)
          throw refused(0x63, 'leaves a class or function in the value (only data is accepted)')
        return maps === 0 ? value : dictsToObjects(value)
      }
      case 0x28: // MARK
        marks.push(stack.length)
        fence = stack.length
        break
      case 0x30: // POP: a value, or the MARK right above the values
        if (marks.length > 0 && stack.length === fence) popMark(op)
        else if (pop(op) instanceof Builtin) loose--
        break
      case 0x31: // POP_MARK
        for (const v of popMark(op)) if (v instanceof Builtin) loose--
        break
      case 0x32: // DUP
        push(top(op))
        break
      case 0x4e: // NONE
        push(null)
        break
      case 0x88: // NEWTRUE
        push(true)
        break
      case 0x89: // NEWFALSE
        push(false)
        break
      case 0x4a: // BININT
        push(view.getInt32(need(4, 'BININT'), true))
        break
      case 0x4b: // BININT1
        push(u8('BININT1'))
        break
      case 0x4d: // BININT2
        push(view.getUint16(need(2, 'BININT2'), true))
        break
      case 0x8a: // LONG1
        push(decodeLong(bytes(u8('LONG1'), 'LONG1')))
        break
      case 0x8b: {
        // LONG4
        const n = view.getInt32(need(4, 'LONG4'), true)
        if (n < 0) throw corrupt(`LONG4 has the negative length ${n}`)
        push(decodeLong(bytes(n, 'LONG4')))
        break
      }
      case 0x47: // BINFLOAT
        push(view.getFloat64(need(8, 'BINFLOAT'), false))
        break
      case 0x8c: // SHORT_BINUNICODE
        push(decodeText(bytes(u8('SHORT_BINUNICODE'), 'SHORT_BINUNICODE')))
        break
      case 0x58: // BINUNICODE
        push(decodeText(bytes(u32('BINUNICODE'), 'BINUNICODE')))
        break
      case 0x8d: // BINUNICODE8
        push(decodeText(bytes(u64('BINUNICODE8'), 'BINUNICODE8')))
        break
      case 0x43: // SHORT_BINBYTES
        push(new Uint8Array(bytes(u8('SHORT_BINBYTES'), 'SHORT_BINBYTES')))
        break
      case 0x42: // BINBYTES
        push(new Uint8Array(bytes(u32('BINBYTES'), 'BINBYTES')))
        break
      case 0x8e: // BINBYTES8
        push(new Uint8Array(bytes(u64('BINBYTES8'), 'BINBYTES8')))
        break
      case 0x96: // BYTEARRAY8
        push(new Uint8Array(bytes(u64('BYTEARRAY8'), 'BYTEARRAY8')))
        break
      case 0x5d: // EMPTY_LIST
        push([])
        break
      case 0x29: // EMPTY_TUPLE
        push([])
        break
      case 0x7d: // EMPTY_DICT
        push(newDict())
        break
      case 0x8f: // EMPTY_SET
        push(new Set())
        break
      case 0x85: // TUPLE1
        push([pop(op)])
        break
      case 0x86: {
        // TUPLE2
        const b = pop(op)
        push([pop(op), b])
        break
      }
      case 0x87: {
        // TUPLE3
        const c = pop(op)
        const b = pop(op)
        push([pop(op), b, c])
        break
      }
      case 0x74: // TUPLE
      case 0x6c: // LIST
        push(popMark(op))
        break
      case 0x91: // FROZENSET
        push(new Set(popMark(op)))
        break
      case 0x64: {
        // DICT
        const items = popMark(op)
        if (items.length % 2 !== 0) throw corrupt('DICT has an odd number of items')
        const d = newDict()
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1])
        push(d)
        break
      }
      case 0x61: {
        // APPEND
        const v = pop(op)
        listAt(op, top(op)).push(v)
        break
      }
      case 0x65: {
        // APPENDS
        const items = popMark(op)
        const list = listAt(op, top(op))
        for (const v of items) list.push(v)
        break
      }
      case 0x73: {
        // SETITEM
        const v = pop(op)
        const k = pop(op)
        dictAt(op, top(op)).set(k, v)
        break
      }
      case 0x75: {
        // SETITEMS
        const items = popMark(op)
        if (items.length % 2 !== 0) throw corrupt('SETITEMS has an odd number of items')
        const d = dictAt(op, top(op))
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1])
        break
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark(op)
        const s = setAt(op, top(op))
        for (const v of items) s.add(v)
        break
      }
      case 0x68: // BINGET
        memoGet(op, u8('BINGET'))
        break
      case 0x6a: // LONG_BINGET
        memoGet(op, u32('LONG_BINGET'))
        break
      case 0x71: // BINPUT
        memoPut(op, u8('BINPUT'))
        break
      case 0x72: // LONG_BINPUT
        memoPut(op, u32('LONG_BINPUT'))
        break
      case 0x94: // MEMOIZE
        memoPut(op, memo.size)
        break
      case 0x63: {
        // GLOBAL: module and name on two text lines
        const module = line(op)
        global(op, module, line(op))
        break
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop(op)
        const module = pop(op)
        if (typeof module !== 'string' || typeof name !== 'string')
          throw corrupt('STACK_GLOBAL needs a module and a name (two str)')
        global(op, module, name)
        break
      }
      case 0x52: {
        // REDUCE: only on the five builtins
        const args = pop(op)
        const callable = pop(op)
        if (!(callable instanceof Builtin)) throw refused(op, 'calls something that is not a known builtin')
        loose--
        push(callBuiltin(callable.name, args, corrupt))
        break
      }
      default: {
        const name = OPCODE_NAMES.get(op)
        if (name === undefined) throw corrupt(`unknown opcode 0x${op.toString(16)} at offset ${pos - 1 - start}`)
        throw refused(op, 'builds something that is not plain data (or is a protocol 0 or Python 2 form)')
      }
    }
  }
}

/** What CPython's protocols 2 and 3 write as calls: set, frozenset, bytes, bytearray, `_codecs.encode`. */
function callBuiltin(name: string, args: unknown, corrupt: (detail: string) => CorruptError): unknown {
  if (!Array.isArray(args)) throw corrupt(`REDUCE of ${name} without an argument tuple`)
  if (args.length === 0) {
    if (name === 'set' || name === 'frozenset') return new Set()
    if (name === 'bytes' || name === 'bytearray') return new Uint8Array(0)
  }
  const [first, second] = args as [unknown, unknown]
  if (args.length === 1 && (name === 'set' || name === 'frozenset') && Array.isArray(first)) return new Set(first)
  if (args.length === 1 && name === 'bytearray' && first instanceof Uint8Array) return first.slice()
  if (
    args.length === 2 &&
    name === 'encode' &&
    typeof first === 'string' &&
    (second === 'latin1' || second === 'latin-1')
  ) {
    const out = new Uint8Array(first.length)
    for (let i = 0; i < first.length; i++) {
      const c = first.charCodeAt(i)
      if (c > 0xff) throw corrupt('REDUCE of _codecs.encode with a char above latin1')
      out[i] = c
    }
    return out
  }
  throw new DataCloneError(
    `Cannot read the pickle: opcode REDUCE calls ${name} with arguments other than the ones CPython writes for plain data`,
  )
}

/**
 * Replaces every dict whose keys are all strings with a plain object, in
 * place (array slots, dict values, object values), keeping shared and self
 * references. Iterative: any depth.
 */
function dictsToObjects(root: unknown): unknown {
  const objects = new Map<Map<unknown, unknown>, Record<string, unknown>>()
  const plain = (m: Map<unknown, unknown>): boolean => {
    for (const k of m.keys()) if (typeof k !== 'string') return false
    return true
  }
  /** The value to store in place of `v`: its object when it is a dict of str keys. */
  const replace = (v: unknown): unknown => {
    if (!(v instanceof Map) || !plain(v)) return v
    let o = objects.get(v)
    if (o === undefined) {
      o = {}
      objects.set(v, o)
    }
    return o
  }
  const seen = new Set<unknown>()
  const todo: unknown[] = [root]
  while (todo.length > 0) {
    const v = todo.pop()
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array || seen.has(v)) continue
    seen.add(v)
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        todo.push(v[i])
        v[i] = replace(v[i])
      }
    } else if (v instanceof Map) {
      const r = replace(v)
      const o = r === v ? undefined : (r as Record<string, unknown>)
      for (const [k, value] of v) {
        todo.push(k, value)
        const r = replace(value)
        if (o === undefined) v.set(k, r)
        else Object.defineProperty(o, k as string, { value: r, writable: true, enumerable: true, configurable: true })
      }
    } else if (v instanceof Set) {
      for (const item of v) todo.push(item)
    }
  }
  return replace(root)
}
