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

/** The refusal, in `form` ('v8', 'packed', 'JSON'), of a value one of the rules below refuses: CorruptError. */
export function refusedValue(form: string): (detail: string) => CorruptError {
  return (detail) => new CorruptError(`Cannot decode a message: its ${form} value is refused (${detail})`)
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
 * Keys longer than this are not remembered: each use pays NEW_KEY +
 * KEY_ENTRY. V8 hashes a string of more than MAX_HASHED_CHARS chars by its
 * length alone, so a Set of long keys that differ at the end would make each
 * lookup compare them all; their own string charge dwarfs NEW_KEY anyway.
 */
export const LONG_KEY = 1024

/**
 * V8 hashes a string of more chars than this by its length alone
 * (String::kMaxHashCalcLength): such strings of one length all collide.
 */
export const MAX_HASHED_CHARS = 16_383

/**
 * The chars V8 may compare, at most, to insert one value's long Map keys and
 * Set items (see NewKeys#hashedString): 256 Mi, about 40 ms here (6 GB/s
 * measured).
 */
export const LONG_KEY_COMPARES = 256 * 1024 * 1024

/**
 * The property names one value read so far: every reader of untrusted
 * values (v8-scan.ts, packed.ts, json-scan.ts, and @ipc/pipe's pickle
 * reader) charges a named property its slot, at its own sizes, plus `cost`
 * of its key: NEW_KEY once per name, so records that share their keys pay
 * it once per key, whatever came before them. One per read, dropped after
 * it.
 *
 * What this leaves under-charged: V8 keeps its transitions per map, so
 * objects whose names were all seen before can still make new maps (names
 * paired in new combinations) or dictionaries (a map with more than about
 * 1,536 transitions). The worst measured: 100,000 objects over 48,896
 * two-char names, the later ones repeated, 7 to 11 % more heap than charged
 * (v8-scan.test.ts); 200,000 distinct pairs of 1,000 names, about 9 % over
 * the budget. Charging on every use past a count of names refused ordinary
 * records that followed one wide object, so the estimate stays per name.
 */
export class NewKeys {
  #seen: Set<string> | undefined
  /** Map keys and Set items of more than MAX_HASHED_CHARS chars so far, by length, and the chars they may make V8 compare. */
  #long: Map<number, number> | undefined
  #compares = 0
  readonly #refuse: (detail: string) => Error

  /** `refuse` makes the reader's error (CorruptError, DataCloneError) from a detail. */
  constructor(refuse: (detail: string) => Error) {
    this.#refuse = refuse
  }

  /**
   * A Map key or Set item of `chars` chars (UTF-16 units, exact) about to be
   * hashed. V8 hashes a string of more than MAX_HASHED_CHARS chars by its
   * length alone, so a peer can send thousands of one length that differ at
   * the end, and inserting each compares it with all the others: 2,000 of
   * 16,384 chars (32 MB) blocked the event loop 5 to 11 s. Each such string
   * is charged its length times the strings of that length before it, and
   * the value is refused once the charges pass LONG_KEY_COMPARES in all
   * (about 180 of 16 Ki chars of one length; strings of other lengths do not
   * collide). A Map's or Set's table is its own, dropped with it. Throws the
   * reader's error.
   */
  hashedString(chars: number): void {
    if (chars <= MAX_HASHED_CHARS) return
    this.#long ??= new Map()
    const before = this.#long.get(chars) ?? 0
    this.#long.set(chars, before + 1)
    this.#compares += before * chars
    if (this.#compares > LONG_KEY_COMPARES)
      throw this.#refuse(
        `its Map keys and Set items of more than ${MAX_HASHED_CHARS} chars (${before + 1} of ${chars} chars so far) would make V8 compare more than ${LONG_KEY_COMPARES} chars, the most one message may: V8 hashes such strings by their length alone, so a peer could make each one be compared with all the others of its length to stall this process`,
      )
  }

  /**
   * A property name (object key, dict key) of the value, checked: more than
   * MAX_HASHED_CHARS chars is refused at once. V8 internalizes property
   * names into one table per process, where such names of one length all
   * collide, and entries stay while anything holds them: names under any
   * per-message limit still add up across messages (150 per message made
   * the 60th message take 3 s).
   */
  propertyName(key: string): void {
    if (key.length > MAX_HASHED_CHARS)
      throw this.#refuse(
        `a property name of ${key.length} chars, more than the ${MAX_HASHED_CHARS} V8 hashes by content: V8 hashes a longer one by its length alone in one table for the whole process, so a peer could send names that collide to stall it`,
      )
  }

  /** NEW_KEY + KEY_ENTRY the first time `key` names a property of the value (every time for a key over LONG_KEY chars); then 0. */
  cost(key: string): number {
    this.propertyName(key)
    if (key.length > LONG_KEY) return NEW_KEY + KEY_ENTRY
    this.#seen ??= new Set()
    if (this.#seen.has(key)) return 0
    this.#seen.add(key)
    return NEW_KEY + KEY_ENTRY
  }
}
