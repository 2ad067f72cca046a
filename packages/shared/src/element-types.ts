/**
 * The element types of SharedValue and SharedArray: their names, Python's
 * typecodes as aliases, sizes, typed arrays, and how one element is read or
 * written whole (never torn) and validated.
 *
 * Whole reads and writes: integer types use Atomics.load/store on their own
 * typed array; float32 uses Atomics on its 32-bit pattern and float64 on its
 * 64-bit pattern (a BigInt64Array over the same bytes), so a reader never
 * sees half of a write, on any platform, as the ECMAScript memory model
 * promises only for Atomics and integer typed arrays.
 */
import { invalidArgType, invalidArgValue, outOfRange } from '@ipc/core/internal'

/** The element types by name. */
export type TypeName =
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float32'
  | 'float64'
  | 'bool'

/**
 * Python's typecodes (array module / ctypes), accepted as aliases. `'l'`/`'L'`
 * (C long) are 64-bit, as in CPython on Linux and macOS x86-64/arm64; `'?'` is
 * ctypes' bool.
 */
export type TypeCode = 'b' | 'B' | 'h' | 'H' | 'i' | 'I' | 'l' | 'L' | 'q' | 'Q' | 'f' | 'd' | '?'

/** A type name or a Python typecode. */
export type ValueType = TypeName | TypeCode

/** The name a typecode stands for. */
export type CanonicalType<T extends ValueType> = T extends 'b'
  ? 'int8'
  : T extends 'B'
    ? 'uint8'
    : T extends 'h'
      ? 'int16'
      : T extends 'H'
        ? 'uint16'
        : T extends 'i'
          ? 'int32'
          : T extends 'I'
            ? 'uint32'
            : T extends 'l' | 'q'
              ? 'int64'
              : T extends 'L' | 'Q'
                ? 'uint64'
                : T extends 'f'
                  ? 'float32'
                  : T extends 'd'
                    ? 'float64'
                    : T extends '?'
                      ? 'bool'
                      : T

/** The JavaScript type of one element: bigint for 64-bit integers, boolean for bool, else number. */
export type ElementOf<T extends ValueType> = T extends unknown
  ? CanonicalType<T> extends 'int64' | 'uint64'
    ? bigint
    : CanonicalType<T> extends 'bool'
      ? boolean
      : number
  : never

/** The typed array that views elements of type T (a Uint8Array of 0/1 for bool). */
export type TypedArrayOf<T extends ValueType> = {
  int8: Int8Array
  uint8: Uint8Array
  int16: Int16Array
  uint16: Uint16Array
  int32: Int32Array
  uint32: Uint32Array
  int64: BigInt64Array
  uint64: BigUint64Array
  float32: Float32Array
  float64: Float64Array
  bool: Uint8Array
}[CanonicalType<T>]

/** The types with atomic add/sub/exchange/compareExchange. */
export type IntegerType = Exclude<ValueType, 'float32' | 'float64' | 'bool' | 'f' | 'd' | '?'>

/** Any typed array an element type views its elements with. */
export type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array

type TypedArrayConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => AnyTypedArray

/** What a type is made of. `id` is stored in the segment header: never renumber. */
export interface ElementType {
  readonly id: number
  readonly name: TypeName
  readonly bytes: number
  /** 'int' (number), 'bigint', 'float' or 'bool'. */
  readonly family: 'int' | 'bigint' | 'float' | 'bool'
  readonly min: number | bigint
  readonly max: number | bigint
  /** The public view (`SharedArray.array`). */
  readonly View: TypedArrayConstructor
  /** The view that Atomics work on (the bit pattern for floats, the same as View otherwise). */
  readonly AtomicView: TypedArrayConstructor
}

const TABLE: readonly ElementType[] = [
  { id: 1, name: 'int8', bytes: 1, family: 'int', min: -128, max: 127, View: Int8Array, AtomicView: Int8Array },
  { id: 2, name: 'uint8', bytes: 1, family: 'int', min: 0, max: 255, View: Uint8Array, AtomicView: Uint8Array },
  { id: 3, name: 'int16', bytes: 2, family: 'int', min: -32768, max: 32767, View: Int16Array, AtomicView: Int16Array },
  { id: 4, name: 'uint16', bytes: 2, family: 'int', min: 0, max: 65535, View: Uint16Array, AtomicView: Uint16Array },
  {
    id: 5,
    name: 'int32',
    bytes: 4,
    family: 'int',
    min: -2147483648,
    max: 2147483647,
    View: Int32Array,
    AtomicView: Int32Array,
  },
  {
    id: 6,
    name: 'uint32',
    bytes: 4,
    family: 'int',
    min: 0,
    max: 4294967295,
    View: Uint32Array,
    AtomicView: Uint32Array,
  },
  {
    id: 7,
    name: 'int64',
    bytes: 8,
    family: 'bigint',
    min: -(2n ** 63n),
    max: 2n ** 63n - 1n,
    View: BigInt64Array,
    AtomicView: BigInt64Array,
  },
  {
    id: 8,
    name: 'uint64',
    bytes: 8,
    family: 'bigint',
    min: 0n,
    max: 2n ** 64n - 1n,
    View: BigUint64Array,
    AtomicView: BigUint64Array,
  },
  {
    id: 9,
    name: 'float32',
    bytes: 4,
    family: 'float',
    min: Number.NEGATIVE_INFINITY,
    max: Number.POSITIVE_INFINITY,
    View: Float32Array,
    AtomicView: Int32Array,
  },
  {
    id: 10,
    name: 'float64',
    bytes: 8,
    family: 'float',
    min: Number.NEGATIVE_INFINITY,
    max: Number.POSITIVE_INFINITY,
    View: Float64Array,
    AtomicView: BigInt64Array,
  },
  { id: 11, name: 'bool', bytes: 1, family: 'bool', min: 0, max: 1, View: Uint8Array, AtomicView: Uint8Array },
]

const ALIASES: Readonly<Record<TypeCode, TypeName>> = {
  b: 'int8',
  B: 'uint8',
  h: 'int16',
  H: 'uint16',
  i: 'int32',
  I: 'uint32',
  l: 'int64',
  L: 'uint64',
  q: 'int64',
  Q: 'uint64',
  f: 'float32',
  d: 'float64',
  '?': 'bool',
}

const BY_NAME = new Map<string, ElementType>()
for (const t of TABLE) BY_NAME.set(t.name, t)
for (const [code, name] of Object.entries(ALIASES)) BY_NAME.set(code, BY_NAME.get(name) as ElementType)

const VALID = `${TABLE.map((t) => `'${t.name}'`).join(', ')} or a Python typecode (${Object.keys(ALIASES)
  .map((c) => `'${c}'`)
  .join(', ')})`

/** Resolves a type name or typecode. Throws a TypeError listing the valid ones. */
export function elementType(type: unknown): ElementType {
  const found = typeof type === 'string' ? BY_NAME.get(type) : undefined
  if (found === undefined) {
    const shown = typeof type === 'string' ? JSON.stringify(type) : String(type)
    throw invalidArgValue(`The "type" must be one of ${VALID}, received ${shown}`)
  }
  return found
}

/** The type stored under `id` in a header, or undefined. */
export function elementTypeById(id: number): ElementType | undefined {
  return TABLE.find((t) => t.id === id)
}

function show(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' && Object.is(value, -0)) return '-0'
  return String(value)
}

/**
 * Validates `value` for `type` and returns what to store: a number, a bigint,
 * or 0/1 for bool. Wrong kinds (a bigint for float64, a number for int64, a
 * non-integer for an integer type, a non-boolean for bool) throw TypeError;
 * integers outside the type's range throw RangeError. Nothing is ever wrapped.
 */
export function checkElement(type: ElementType, value: unknown, what: string): number | bigint {
  switch (type.family) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value))
        throw invalidArgType(`${what} must be an integer for type ${type.name}, received ${show(value)}`)
      if (value < (type.min as number) || value > (type.max as number))
        throw outOfRange(`${what} must be in [${type.min}, ${type.max}] for type ${type.name}, received ${show(value)}`)
      return value
    case 'bigint':
      if (typeof value !== 'bigint')
        throw invalidArgType(`${what} must be a bigint for type ${type.name}, received ${typeof value} ${show(value)}`)
      if (value < (type.min as bigint) || value > (type.max as bigint))
        throw outOfRange(`${what} must be in [${type.min}, ${type.max}] for type ${type.name}, received ${show(value)}`)
      return value
    case 'float':
      if (typeof value !== 'number')
        throw invalidArgType(`${what} must be a number for type ${type.name}, received ${typeof value} ${show(value)}`)
      return value
    default:
      if (typeof value !== 'boolean')
        throw invalidArgType(`${what} must be a boolean for type bool, received ${typeof value} ${show(value)}`)
      return value ? 1 : 0
  }
}

// Scratch space to move float bit patterns between views; used synchronously only.
const scratch = new ArrayBuffer(8)
const scratchF32 = new Float32Array(scratch, 0, 1)
const scratchI32 = new Int32Array(scratch, 0, 1)
const scratchF64 = new Float64Array(scratch)
const scratchB64 = new BigInt64Array(scratch)

/** Reads element `index` of `atomic` (the AtomicView of `type`) whole. */
export function loadElement(type: ElementType, atomic: AnyTypedArray, index: number): number | bigint | boolean {
  switch (type.id) {
    case 9:
      scratchI32[0] = Atomics.load(atomic as Int32Array, index)
      return scratchF32[0] as number
    case 10:
      scratchB64[0] = Atomics.load(atomic as BigInt64Array, index)
      return scratchF64[0] as number
    case 11:
      return Atomics.load(atomic as Uint8Array, index) !== 0
    default:
      return Atomics.load(atomic as Int32Array, index)
  }
}

/** Writes an already validated value (from checkElement) into element `index` whole. */
export function storeElement(type: ElementType, atomic: AnyTypedArray, index: number, value: number | bigint): void {
  switch (type.id) {
    case 9:
      scratchF32[0] = value as number
      Atomics.store(atomic as Int32Array, index, scratchI32[0] as number)
      return
    case 10:
      scratchF64[0] = value as number
      Atomics.store(atomic as BigInt64Array, index, scratchB64[0] as bigint)
      return
    default:
      Atomics.store(atomic as Int32Array, index, value as number)
  }
}
