/**
 * V8's element store of one object or array, as the readers of untrusted
 * values (v8-scan.ts, the packed form's untrusted mode, json-scan.ts, and
 * @ipc/pipe's pickle reader) model it to charge the heap it takes. Integer-
 * like keys ("0" to "4294967294", canonical) do not become properties: V8
 * keeps them in the object's elements, and the size of that store depends on
 * the keys, not on the bytes that carry them: one key 1023 makes 1,552 slots
 * (12 KB), 2574 next 3,878 (31 KB).
 *
 * The rules (JSObject::AddDataElement, ShouldConvertToSlowElements,
 * ShouldConvertToFastElements, JSArray::SetLength; x64, Node 20):
 *
 * - a fast store of `capacity` slots: an index below it costs nothing more;
 *   one less than MAX_GAP past it grows the store to
 *   `k + 1 + (k + 1) / 2 + 16` slots, unless the store would pass
 *   MAX_UNCHECKED_FAST_ELEMENTS slots while a dictionary of `used` entries is
 *   a third of its size or less; then, and for an index MAX_GAP or more
 *   past it, the elements move to a dictionary;
 * - a dictionary: each entry is a slot of the table, which V8 resizes to
 *   1.5 × its entries rounded up to a power of two; an index turns the
 *   elements fast again (a store of the array's length, or of the largest
 *   index + 1) when that store is at most twice the table's size (3 slots
 *   an entry);
 * - an array's `length` set to n: a fast store of n slots (16 at least) up
 *   to MAX_FAST_ARRAY_LENGTH, a dictionary past it.
 *
 * A store that grows is charged what it grows by: the one it replaces is
 * garbage the next GC takes, so the charge follows the live heap (what can
 * exhaust it), and V8 copies at most about twice what was charged. A store
 * replaced by one of the other kind is not refunded. `used` counts every
 * element stored, an upper bound of V8's count (a reader that cannot see
 * repeats counts them again), so a store the model keeps fast may be one V8
 * makes slow (more charged, never less), and never the other way. The one
 * choice V8 makes on what no reader can see, the heap generation of the
 * object, for a new store of 501 to 5,000 slots, is taken as fast (the
 * larger charge).
 *
 * Where the two earlier models (the v8 scan's and the pickle reader's)
 * differed, this keeps the v8 scan's, whose stores match `%DebugPrint` on
 * Node 20 (a FixedArray[84920] for 10,000 keys `7 × i`): the dictionary's
 * table tracked as V8 grows it (not bounded from the count), the move to a
 * dictionary of a large mostly empty store, and growth charged, not the
 * whole new store (the heap after a GC; a peer that picks gaps can make V8
 * copy at most about twice that before it).
 */

/** JSArray::kMaxFastArrayLength (x64): setting a longer length makes the elements a dictionary. */
export const MAX_FAST_ARRAY_LENGTH = 2 ** 25
/** JSObject::kMaxGap: an index this far past a fast store's capacity moves the elements to a dictionary. */
export const MAX_GAP = 1024
/** JSObject::kMaxUncheckedFastElementsLength: a larger fast store is checked against the dictionary it could be. */
const MAX_UNCHECKED_FAST_ELEMENTS = 5000
/** The highest array index: 2^32 − 2. */
export const MAX_INDEX = 2 ** 32 - 2
/** The largest small integer (x64, no pointer compression). */
const SMI_MAX = 2 ** 31 - 1

/**
 * A store's FixedArray header, and ELEMENT_SLOT a slot (8 bytes, charged 10:
 * a margin for what V8 keeps around a store it grows; with it, every shape
 * the v8 scan measured keeps less heap after a GC than it was charged). An
 * object's first store replaces none, and is charged 8 a slot.
 */
export const ELEMENTS = 16
export const ELEMENT_SLOT = 10
/** A HeapNumber: an index past SMI_MAX in a dictionary is stored boxed. */
const BOXED_INDEX = 16

/** JSObject::NewElementsCapacity: a fast store grown to hold `n` elements. */
export function newElementsCapacity(n: number): number {
  return n + Math.floor(n / 2) + 16
}

/** HashTable::ComputeCapacity: the table V8 makes for `n` entries. */
export function dictionaryCapacity(n: number): number {
  const wanted = n + Math.floor(n / 2)
  let capacity = 4
  while (capacity < wanted) capacity *= 2
  return capacity
}

/** A NumberDictionary of `capacity` entries: 3 slots each, and 6 of header and prefix. */
export function dictionaryBytes(capacity: number): number {
  return ELEMENTS + ELEMENT_SLOT * (3 * capacity + 4)
}

/**
 * `key` as an array index (0 to MAX_INDEX, canonical: digits, no sign, no
 * leading zero), or -1. V8 stores such keys in the elements.
 */
export function arrayIndex(key: string): number {
  const n = key.length
  if (n === 0 || n > 10) return -1
  let value = key.charCodeAt(0) - 48
  if (value < 0 || value > 9 || (value === 0 && n > 1)) return -1
  for (let i = 1; i < n; i++) {
    const digit = key.charCodeAt(i) - 48
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value <= MAX_INDEX ? value : -1
}

/**
 * `arrayIndex` of a key held as `count` chars in `bytes` from `start`, one
 * byte each (`step` 1: Latin-1, UTF-8) or two (`step` 2: UTF-16LE).
 */
export function arrayIndexOfBytes(bytes: Uint8Array, start: number, count: number, step: 1 | 2): number {
  if (count < 1 || count > 10) return -1
  let index = 0
  for (let i = 0, p = start; i < count; i++, p += step) {
    const c = bytes[p] as number
    if (c < 0x30 || c > 0x39 || (step === 2 && bytes[p + 1] !== 0)) return -1
    if (c === 0x30 && i === 0 && count > 1) return -1
    index = index * 10 + (c - 0x30)
  }
  return index <= MAX_INDEX ? index : -1
}

/** The fast store `array.length = n` makes on an empty array (JSArray::SetLength): its slots, or -1 for a dictionary. */
export function lengthCapacity(n: number): number {
  return n === 0 ? 0 : n <= MAX_FAST_ARRAY_LENGTH ? Math.max(n, 16) : -1
}

/** The heap of a store from `lengthCapacity`, JSArray not included. */
export function lengthStoreBytes(capacity: number): number {
  return capacity < 0 ? dictionaryBytes(dictionaryCapacity(0)) : ELEMENT_SLOT * capacity
}

/**
 * The elements V8's JSON parser gives an object of `count` index keys, the
 * largest `max`, all at once (JsonParser::BuildJsonObject, not one key at a
 * time): a fast store of `max + 1` slots while that is less than 9 × the
 * capacity of a dictionary of `count` entries (a third of its 3 slots an
 * entry), a dictionary otherwise; unlike growth by sets, no store of up to
 * 5,000 slots is exempt. Measured on Node 20 (objects of `count` keys 0 …
 * `count - 2`, then one more): the store turns into a dictionary at 36, 72,
 * 144, 288 and 576 slots for 3, 5, 9, 17 and 33 keys (dictionary
 * capacities 4 to 64); `{"23": 0}` takes a store of 24 slots, `{"1023": 0}`
 * a dictionary (208 bytes with the object). `count` may count a repeated
 * key twice (an upper bound). Returns the heap bytes.
 */
export function parsedElementsBytes(count: number, max: number): number {
  const table = dictionaryCapacity(count)
  if (max + 1 < 9 * table) return ELEMENTS + ELEMENT_SLOT * (max + 1)
  return dictionaryBytes(table) + (max > SMI_MAX ? BOXED_INDEX * count : 0)
}

/**
 * One object's or array's elements, as V8 grows them (see the file
 * comment). `set(index)` is called for each index key as it is stored, and
 * returns the heap bytes that costs.
 *
 * @example
 * ```ts
 * const store = new ElementStore()
 * store.set(1023) // 12,432: a fast store of 1,552 slots
 * store.set(2574) // 23,276: grown to 3,878
 * ```
 */
export class ElementStore {
  /** Slots of the fast store, or -1 when the elements are a dictionary. */
  private capacity: number
  /** The dictionary's capacity (entries), when there is one. */
  private table: number
  /** Elements stored (an upper bound). */
  private used: number
  /** An array's length, or an object's largest index + 1: the store a dictionary goes back to. */
  private length: number

  /**
   * @param capacity slots of its fast store to begin with, or -1 for a dictionary.
   * @param used elements it holds already.
   * @param length its length (an array), or largest index + 1.
   */
  constructor(capacity = 0, used = 0, length = 0) {
    this.capacity = capacity
    this.table = capacity < 0 ? dictionaryCapacity(0) : 0
    this.used = used
    this.length = length
  }

  /** Stores `index` (0 to MAX_INDEX); returns the heap bytes that takes. */
  set(index: number): number {
    if (index >= this.length) this.length = index + 1
    let bytes = 0
    if (this.capacity >= 0) {
      if (index < this.capacity) {
        this.used++
        return 0
      }
      if (index - this.capacity < MAX_GAP) {
        const grown = newElementsCapacity(index + 1)
        if (grown <= MAX_UNCHECKED_FAST_ELEMENTS || 9 * dictionaryCapacity(this.used) > grown) {
          // A first store replaces nothing: its slots are charged what they take.
          bytes = ELEMENTS + (this.capacity === 0 ? 8 * grown : ELEMENT_SLOT * (grown - this.capacity))
          this.capacity = grown
          this.used++
          return bytes
        }
      }
      // NormalizeElements: a dictionary of the elements stored so far.
      this.capacity = -1
      this.table = dictionaryCapacity(this.used)
      bytes = dictionaryBytes(this.table)
    } else {
      const fast = this.length
      if (fast <= SMI_MAX && 6 * this.table >= fast) {
        this.capacity = fast
        this.used++
        return ELEMENTS + ELEMENT_SLOT * fast
      }
    }
    this.used++
    if (!(this.used < this.table && this.used + (this.used >>> 1) <= this.table)) {
      const grown = dictionaryCapacity(this.used)
      bytes += dictionaryBytes(grown) - dictionaryBytes(this.table)
      this.table = grown
    }
    if (index > SMI_MAX) bytes += BOXED_INDEX
    return bytes
  }
}
