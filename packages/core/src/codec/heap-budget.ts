/**
 * The heap a value from an untrusted peer may cost, and what its parts are
 * charged against it. Every payload `decodeUntrusted` revives (v8, packed,
 * JSON) is held to one budget, HEAP_BYTES_PER_BYTE per payload byte plus
 * HEAP_FLOOR, charged by the reader of its form (v8-scan.ts, packed.ts,
 * json-scan.ts) with the sizes below, and the element stores of
 * element-store.ts, before or as the value is built; past it, CorruptError.
 */
import { CorruptError } from '../errors.js'

/** Heap a payload may cost, in bytes per payload byte, on top of HEAP_FLOOR. */
export const HEAP_BYTES_PER_BYTE = 16

/** Heap any payload may cost, however short: 1 MiB. */
export const HEAP_FLOOR = 1024 * 1024

/** The budget of a payload of `bytes` bytes. */
export function heapBudget(bytes: number): number {
  return HEAP_BYTES_PER_BYTE * bytes + HEAP_FLOOR
}

/** The refusal of a payload of `bytes` bytes, in `form` ('v8', 'packed', 'JSON'), whose value passes `budget`. */
export function overBudget(form: string, budget: number, bytes: number): CorruptError {
  return new CorruptError(
    `Cannot decode a message: its ${form} value is refused (it would take more than ${HEAP_BYTES_PER_BYTE} bytes of heap per byte plus ${HEAP_FLOOR}: ${budget} for its ${bytes} bytes)`,
  )
}

// Estimated V8 heap sizes (x64, no pointer compression, Node 20), bytes.
/** A JSObject with its 4 in-object slots; the first 4 properties add IN_OBJECT each, the others PROPERTY (a dictionary entry). */
export const OBJECT = 64
export const IN_OBJECT_SLOTS = 4
export const IN_OBJECT = 16
export const PROPERTY = 80
/** A JSArray and its elements header; each element adds ARRAY_SLOT. */
export const ARRAY = 48
export const ARRAY_SLOT = 8
/** A string's header (its chars are added: bytes, or 2 per UTF-8 byte at worst). */
export const STRING = 24
/** A HeapNumber (a uint32 or double that is not a small integer) or a bigint's header. */
export const NUMBER = 16
