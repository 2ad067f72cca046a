/**
 * A linear check of JSON text (codec tags 6 and 7) from a peer that may be
 * hostile (a socket, a Redis item), run before `JSON.parse`. It tokenizes
 * the bytes once, without recursion and building nothing, validates the
 * grammar (RFC 8259), and charges each value the heap `JSON.parse` gives it
 * (heap-budget.ts: objects, array slots, named properties and their keys,
 * each key's first use,
 * strings, numbers that need a box; an object's index keys as the parser
 * builds its elements, element-store.ts `parsedElementsBytes`) against the
 * budget of every untrusted payload: CorruptError past it, or for text that
 * is not one JSON value.
 *
 * Why: JSON text is linear, but not by the 16 bytes per byte the other
 * forms are held to. Measured (Node 20 x64, heap after a GC with the value
 * kept), per payload byte: `[{},{},…]` 21.3 (64 MB for 3 MB),
 * `[[[]],[[]],…]` 19.2, `[{"1023":0},…]` 18.9 (a dictionary each),
 * objects of index keys 0 … 31 then 574 about 20 (a fast store of 575
 * slots); `[[],[],…]` 13.3, objects of distinct keys 13.2, a list of
 * `{"a":1}` 5.0, `{"1":0,"2":0}` 7.4. Objects of 8 of 26 one-letter keys in
 * shuffled orders take 2 (the parser does not keep a hidden class for each
 * order).
 */
import { CorruptError } from '../errors.js'
import { arrayIndex, arrayIndexOfBytes, parsedElementsBytes } from './element-store.js'
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
import { decodeLatin1 } from './latin1.js'

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const MINUS = 0x2d

/** The escapes after a backslash: " \ / b f n r t u. */
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74, 0x75])

let src: Uint8Array = new Uint8Array(0)
let origin = 0
let at = 0
let end = 0
let left = 0
let limit = 0
/** True for UTF-8 text (tag 7): a string with a byte past 0x7f may be two bytes a char; Latin-1 (tag 6) is one. */
let utf8 = false
/** Set by `string()`: the token's content starts at `from`, spans `bytes` bytes, holds a backslash, may be two bytes a char. */
let from = 0
let bytes = 0
let escaped = false
let wide = false

function malformed(detail: string): CorruptError {
  return new CorruptError(`Cannot decode a message: its JSON value is malformed (${detail} at offset ${at - origin})`)
}

function charge(n: number): void {
  left -= n
  if (left < 0) throw overBudget('JSON', limit, end - origin)
}

function space(): void {
  while (at < end) {
    const c = src[at] as number
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return
    at++
  }
}

/** A string token at `at` (its opening quote); sets `from`, `bytes`, `escaped`, `wide`. */
function string(): void {
  at++
  from = at
  escaped = false
  wide = false
  for (;;) {
    if (at >= end) throw malformed('a string that does not end')
    const c = src[at] as number
    if (c === QUOTE) break
    if (c < 0x20) throw malformed(`control char ${c} in a string`)
    if (c === BACKSLASH) {
      const e = at + 1 < end ? (src[at + 1] as number) : -1
      if (!ESCAPES.has(e)) throw malformed('a bad escape')
      escaped = true
      if (e === 0x75) {
        for (let i = at + 2; i < at + 6; i++) {
          const h = i < end ? (src[i] as number) | 0x20 : -1
          if (!((h >= 0x30 && h <= 0x39) || (h >= 0x61 && h <= 0x66))) throw malformed('a bad \\u escape')
        }
        wide = true // a char past 0xff makes the whole string two bytes a char
        at += 6
      } else at += 2
      continue
    }
    if (c > 0x7f && utf8) wide = true
    at++
  }
  bytes = at - from
  at++
}

/** A number token at `at`: charged a box unless it is a small integer. */
function number(): void {
  const start = at
  if (src[at] === MINUS) at++
  const first = at
  if (src[at] === 0x30) at++
  else if (digits() === 0) throw malformed('a bad number')
  let boxed = at - first > 9 || (src[start] === MINUS && at - first === 1 && src[first] === 0x30)
  if (at < end && src[at] === 0x2e) {
    at++
    if (digits() === 0) throw malformed('a bad fraction')
    boxed = true
  }
  if (at < end && (src[at] === 0x65 || src[at] === 0x45)) {
    at++
    if (at < end && (src[at] === 0x2b || src[at] === MINUS)) at++
    if (digits() === 0) throw malformed('a bad exponent')
    boxed = true
  }
  if (boxed) charge(NUMBER)
}

function digits(): number {
  const start = at
  while (at < end && (src[at] as number) >= 0x30 && (src[at] as number) <= 0x39) at++
  return at - start
}

function literal(word: string): void {
  for (let i = 0; i < word.length; i++)
    if (src[at + i] !== word.charCodeAt(i) || at + i >= end) throw malformed(`a bad literal`)
  at += word.length
}

/**
 * Checks the JSON text `source[start, stop)` (in bounds: the caller checked;
 * in `encoding`) before `JSON.parse` reads it. Linear in
 * the text; allocates only its stack of open containers. Returns the heap
 * the value is estimated to take. `allowed` is the heap budget.
 *
 * @throws {CorruptError} when the text is not one JSON value, or its value would pass the budget.
 */
export function scanJson(
  source: Uint8Array,
  start: number,
  stop: number,
  encoding: 'latin1' | 'utf8',
  allowed = heapBudget(stop - start),
): number {
  src = source
  origin = start
  at = start
  end = stop
  utf8 = encoding === 'utf8'
  left = allowed
  limit = allowed
  // Per open container: 0 for an array, else 1 + an object's named keys; an object's index keys, and the largest.
  const kinds: number[] = []
  const indices: number[] = []
  const maxima: number[] = []
  const names = new NewKeys(refusedValue('JSON'))
  try {
    for (;;) {
      // A value.
      space()
      if (at >= end) throw malformed('a value missing')
      let c = src[at] as number
      if (c === OPEN_OBJECT) {
        charge(OBJECT)
        at++
        kinds.push(1)
        indices.push(0)
        maxima.push(-1)
        space()
        if (at < end && src[at] === CLOSE_OBJECT) {
          at++
          kinds.pop()
          indices.pop()
          maxima.pop()
        } else {
          key()
          continue
        }
      } else if (c === OPEN_ARRAY) {
        charge(ARRAY)
        at++
        kinds.push(0)
        indices.push(0)
        maxima.push(-1)
        space()
        if (at < end && src[at] === CLOSE_ARRAY) {
          at++
          kinds.pop()
          indices.pop()
          maxima.pop()
        } else {
          charge(ARRAY_SLOT)
          continue
        }
      } else if (c === QUOTE) {
        string()
        charge(STRING + (wide ? 2 * bytes : bytes))
      } else if (c === MINUS || (c >= 0x30 && c <= 0x39)) number()
      else if (c === 0x74) literal('true')
      else if (c === 0x66) literal('false')
      else if (c === 0x6e) literal('null')
      else throw malformed(`byte ${c} where a value was expected`)
      // After a value: a comma, the end of containers, or the end of the text.
      for (;;) {
        space()
        const depth = kinds.length
        if (depth === 0) {
          if (at !== end) throw malformed(`${end - at} bytes after the value`)
          return allowed - left
        }
        if (at >= end) throw malformed('the text ends inside a container')
        c = src[at++] as number
        const kind = kinds[depth - 1] as number
        if (c === COMMA) {
          if (kind === 0) charge(ARRAY_SLOT)
          else {
            space()
            key()
          }
          break
        }
        if (kind === 0 && c === CLOSE_ARRAY) {
          kinds.pop()
          indices.pop()
          maxima.pop()
          continue
        }
        if (kind !== 0 && c === CLOSE_OBJECT) {
          const count = indices.pop() as number
          const max = maxima.pop() as number
          kinds.pop()
          if (count > 0) charge(parsedElementsBytes(count, max))
          continue
        }
        at--
        throw malformed(`byte ${c} after a value`)
      }
    }
  } finally {
    src = new Uint8Array(0)
  }

  /** An object's key at `at`, and its colon: a named key is charged with its string, an index key counted. */
  function key(): void {
    if (at >= end || src[at] !== QUOTE) throw malformed('a key missing')
    string()
    const depth = kinds.length
    // A key with escapes ("\u0031") is read as JSON.parse will: rare, so it may allocate.
    const name = escaped ? (JSON.parse(text(from - 1, from + bytes + 1)) as string) : undefined
    const index = name !== undefined ? arrayIndex(name) : arrayIndexOfBytes(src, from, bytes, 1)
    if (index < 0) {
      const named = (kinds[depth - 1] as number) - 1
      kinds[depth - 1] = named + 2
      // Keys are internalized: a second copy of each new one; and a name's first use (NewKeys).
      charge(
        (named < IN_OBJECT_SLOTS ? IN_OBJECT : PROPERTY) +
          STRING +
          (wide ? 2 * bytes : bytes) +
          names.cost(
            name ?? (wide || !Buffer.isBuffer(src) ? text(from, from + bytes) : decodeLatin1(src, from, bytes)),
          ),
      )
    } else {
      indices[depth - 1] = (indices[depth - 1] as number) + 1
      if (index > (maxima[depth - 1] as number)) maxima[depth - 1] = index
    }
    space()
    if (at >= end || src[at] !== COLON) throw malformed('a colon missing')
    at++
  }
}

/** The text of `src[a, b)`. */
function text(a: number, b: number): string {
  return Buffer.from(src.buffer, src.byteOffset + a, b - a).toString(utf8 ? 'utf8' : 'latin1')
}
