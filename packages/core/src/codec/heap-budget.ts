/**
 * The heap a value from an untrusted peer may cost, and what its parts are
 * charged against it. Every payload `decodeUntrusted` revives (v8, packed,
 * JSON) is held to one budget, HEAP_BYTES_PER_BYTE per payload byte plus
 * HEAP_FLOOR, charged by the reader of its form (v8-scan.ts, packed.ts,
 * json-scan.ts) with the sizes below, the element stores of
 * element-store.ts, and each key the first time the value names it
 * (NewKeys), before or as the value is built; past it, CorruptError.
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

/**
 * What a property name costs the first time a value uses it, beyond its
 * property slot and its string: V8 internalizes the string (a table entry)
 * and, on a small object, makes a map transition for it, or, once about
 * 1,536 transitions branch from one map, puts the object in dictionary mode
 * (a NameDictionary of its own). Measured (Node 20 x64, heap after a GC, the
 * value kept), 300,000 objects each `{<distinct 2- or 3-char key>: null}`:
 * 209 bytes an object from `v8.deserialize` and the packed reader, where
 * OBJECT + IN_OBJECT + STRING + the key's chars come to 107 to 115.
 */
export const NEW_KEY = 96
/** An entry of a Set NewKeys keeps while the value is read: 2 slots of 20 bytes at the table's fullest. */
export const KEY_ENTRY = 40
/**
 * The first WARM_KEYS names a value uses pay NEW_KEY once; later ones pay it
 * at every use. V8 keeps at most 1,536 transitions from one map, and an
 * object given a key its map has no transition for goes to dictionary mode,
 * NEW_KEY more, each time: 100,000 objects of 48,896 two-char keys, the
 * later ones repeated, take 24.2 bytes of heap per byte, and were charged
 * 22.6 with NEW_KEY only once a key. Fewer than 1,536, since other values
 * in the process may have made transitions from the same maps.
 */
export const WARM_KEYS = 1024

/**
 * The property names one value read so far: every reader of untrusted
 * values (v8-scan.ts, packed.ts, json-scan.ts, and @ipc/pipe's pickle
 * reader) charges a named property its slot, at its own sizes, plus `cost`
 * of its key. Objects that share their keys (records) pay NEW_KEY once per
 * key; objects that each bring new ones pay it each time. One per read,
 * dropped after it.
 */
export class NewKeys {
  /** The first WARM_KEYS names, then the others. */
  #warm: Set<string> | undefined
  #cold: Set<string> | undefined

  /** NEW_KEY + KEY_ENTRY the first time `key` names a property of the value; then 0, or NEW_KEY past WARM_KEYS names. */
  cost(key: string): number {
    this.#warm ??= new Set()
    if (this.#warm.has(key)) return 0
    if (this.#warm.size < WARM_KEYS) {
      this.#warm.add(key)
      return NEW_KEY + KEY_ENTRY
    }
    this.#cold ??= new Set()
    if (this.#cold.has(key)) return NEW_KEY
    this.#cold.add(key)
    return NEW_KEY + KEY_ENTRY
  }
}
