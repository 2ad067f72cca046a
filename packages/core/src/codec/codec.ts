/**
 * Values to bytes and back, with structured-clone semantics (the v8
 * serializer) and fast paths for the common cases.
 *
 * Wire format of one value: a tag byte, then the payload.
 *
 * | tag | payload                               | revived as      |
 * |-----|---------------------------------------|-----------------|
 * | 1   | Latin-1 bytes (every char < 256)      | string          |
 * | 2   | UTF-8 bytes                           | string          |
 * | 3   | raw bytes                             | Uint8Array      |
 * | 4   | raw bytes                             | Buffer          |
 * | 5   | v8.serialize() output                 | anything else   |
 * | 6   | JSON text, Latin-1                    | JSON value      |
 * | 7   | JSON text, UTF-8                      | JSON value      |
 * | 8   | the packed form (packed.ts)           | plain data      |
 *
 * Plain data (tag 8: numbers, booleans, null, undefined, strings, arrays
 * without holes and plain objects of those, nested at most 64 deep) is
 * written and read in JS, several times faster than the v8 serializer and
 * than JSON; anything else (Date, Map, class instances, bigint, cycles, a
 * large value that reaches one array or object twice, …) goes through v8,
 * which keeps identity and writes a shared object once. Tags 6 and 7 are read, not written (a Redis queue keeps
 * JSON text).
 *
 * Untrusted bytes (a socket peer, a Redis item) are read with
 * `decodeUntrusted`, which holds every value to one heap budget, 16 bytes
 * per payload byte plus 1 MiB (heap-budget.ts): a v8 payload is scanned
 * before `v8.deserialize` (v8-scan.ts, which also refuses more than
 * MAX_HASHED_NUMBERS numbers in Maps and Sets), JSON text before
 * `JSON.parse` (json-scan.ts), and the packed form is charged as it is read
 * (packed.ts `unpackUntrusted`); past the budget, CorruptError.
 *
 * Encoding never writes anything before it knows the value can be cloned, so
 * a `DataCloneError` leaves the destination unchanged.
 */
import { deserialize as v8Deserialize, serialize as v8Serialize } from 'node:v8'
import { CorruptError, DataCloneError, invalidArgType } from '../errors.js'
import { scanJson } from './json-scan.js'
import { decodeLatin1, type FastText, isLatin1, writeLatin1 } from './latin1.js'
import { pack, unpack, unpackUntrusted } from './packed.js'
import { scanV8 } from './v8-scan.js'

export const TAG_LATIN1 = 1
export const TAG_UTF8 = 2
export const TAG_BYTES = 3
export const TAG_BUFFER = 4
export const TAG_V8 = 5
export const TAG_JSON_LATIN1 = 6
export const TAG_JSON_UTF8 = 7
export const TAG_PACKED = 8
/** The highest tag; a reader rejects anything above it. */
export const TAG_MAX = TAG_PACKED

/** A value ready to be written: its tag, its payload size, and what to copy. */
export interface Encoded {
  tag: number
  /** Payload size in bytes (without the tag byte). */
  size: number
  /** The payload when it is bytes (tags 3, 4, 5). */
  bytes: Uint8Array | undefined
  /** The payload when it is text (tags 1, 2, 6, 7). */
  text: string | undefined
}

/** String#isWellFormed (Node 20+; missing from the ES2022 types): false when the string has a lone surrogate. */
interface WellFormed {
  isWellFormed(): boolean
}

/** False when `text` has a lone surrogate, which UTF-8 cannot carry (it becomes U+FFFD). */
export function isWellFormed(text: string): boolean {
  return (text as unknown as WellFormed).isWellFormed()
}

/** Strings up to this length take a ring's fast path: `writeLatin1` straight into the ring, no `encode`. */
export const SHORT_STRING = 256

function textTags(text: string, latin1: number, utf8: number): Encoded {
  if (isLatin1(text)) return { tag: latin1, size: text.length, bytes: undefined, text }
  return { tag: utf8, size: Buffer.byteLength(text, 'utf8'), bytes: undefined, text }
}

/** Prepares `value` for writing. Throws DataCloneError (and nothing is written) if it cannot be cloned. */
export function encode(value: unknown): Encoded {
  if (typeof value === 'string') {
    const text = textTags(value, TAG_LATIN1, TAG_UTF8)
    // UTF-8 cannot carry a lone surrogate (it would arrive as U+FFFD): such a string is packed (UTF-16, exact).
    if (text.tag === TAG_LATIN1 || isWellFormed(value)) return text
  }
  if (value instanceof Uint8Array && value.constructor !== Uint8Array && Buffer.isBuffer(value))
    return { tag: TAG_BUFFER, size: value.byteLength, bytes: value, text: undefined }
  if (value instanceof Uint8Array && value.constructor === Uint8Array)
    return { tag: TAG_BYTES, size: value.byteLength, bytes: value, text: undefined }
  if (typeof value !== 'object' || !ArrayBuffer.isView(value)) {
    const packed = pack(value)
    if (packed !== undefined) return { tag: TAG_PACKED, size: packed.byteLength, bytes: packed, text: undefined }
  }
  let bytes: Uint8Array
  try {
    bytes = v8Serialize(value)
  } catch (error) {
    // V8's message ends with a period; the house wording has none.
    const where = uncloneablePart(value, 'the value', new Set(), 0)
    const why = (error as Error).message.replace(/\.$/, '')
    throw new DataCloneError(`Cannot send the value: ${where === undefined ? why : `${where} (${why})`}`, {
      cause: error,
    })
  }
  return { tag: TAG_V8, size: bytes.byteLength, bytes, text: undefined }
}

/** True for the tags whose text payload is written as Latin-1 (one byte per char). */
export function isLatin1Tag(tag: number): boolean {
  return tag === TAG_LATIN1 || tag === TAG_JSON_LATIN1
}

/**
 * Writes the payload of `encoded` at `offset` of `target`; returns the bytes
 * written (= encoded.size). Short Latin-1 text is copied in JS (no native
 * call), other text by Buffer's own writers without Buffer#write's argument
 * parsing. The caller checked that it fits.
 */
export function writePayload(encoded: Encoded, target: Buffer, offset: number): number {
  const text = encoded.text
  if (text === undefined) {
    target.set(encoded.bytes as Uint8Array, offset)
    return encoded.size
  }
  if (!isLatin1Tag(encoded.tag)) return (target as unknown as FastText).utf8Write(text, offset, encoded.size)
  writeLatin1(text, target, offset)
  return encoded.size
}

/**
 * Revives a value from its tag and payload `source[start, end)`. The payload is copied, never aliased.
 *
 * @throws {CorruptError} when `[start, end)` is not inside `source` (bounds read from shared memory).
 * @throws {RangeError} for an unknown tag; the codec's own errors for a payload it cannot revive.
 * @throws {DataCloneError} for a v8 payload nested too deep to revive on this thread's stack (`reviveV8`).
 */
export function decodePayload(tag: number, source: Buffer, start: number, end: number): unknown {
  if (!(start >= 0 && start <= end && end <= source.length))
    throw new CorruptError(
      `Cannot decode a message: bytes ${start} to ${end} are outside its ${source.length}-byte source`,
    )
  switch (tag) {
    case TAG_LATIN1:
      return decodeLatin1(source, start, end - start)
    case TAG_UTF8:
      return (source as unknown as FastText).utf8Slice(start, end)
    case TAG_BYTES:
      return new Uint8Array(source.subarray(start, end))
    case TAG_BUFFER:
      return Buffer.from(source.subarray(start, end))
    case TAG_V8:
      // Typed arrays inside the value alias the buffer given to v8.deserialize:
      // give it a private copy, never shared memory or a pooled slab.
      return reviveV8(Buffer.from(source.buffer.slice(source.byteOffset + start, source.byteOffset + end)))
    case TAG_JSON_LATIN1:
      return JSON.parse((source as unknown as FastText).latin1Slice(start, end))
    case TAG_JSON_UTF8:
      return JSON.parse((source as unknown as FastText).utf8Slice(start, end))
    case TAG_PACKED:
      return unpack(source, start, end)
    default:
      throw new RangeError(`Cannot decode a message: unknown tag ${tag}`)
  }
}

/**
 * `v8.deserialize`, with a value nested too deep for this thread's stack as
 * DataCloneError. The v8 serializer writes values nested deeper than its
 * deserializer reads back (plain objects: about 3,000 levels written and
 * 1,900 read on a main thread's default stack, fewer when the call is deep
 * in one): such bytes are sound,
 * the value is not one this thread can hold, so a reader drops the message
 * and goes on instead of judging its source corrupt.
 */
/** Why a value cannot be revived on this thread's stack (`reviveV8`'s DataCloneError says it; a ring's names its queue). */
export const NESTED_TOO_DEEP = 'it is nested deeper than the stack of the thread reading it allows'

function reviveV8(bytes: Buffer): unknown {
  try {
    return v8Deserialize(bytes)
  } catch (error) {
    if (!(error instanceof RangeError && error.message === 'Maximum call stack size exceeded')) throw error
    throw new DataCloneError(`Cannot revive the value: ${NESTED_TOO_DEEP}`, { cause: error })
  }
}

/**
 * `decodePayload` of a payload stored in two pieces of `source`, `[start,
 * end)` then `[start2, end2)` (a ring's payload that runs past the end of
 * its data area). Bytes (tags 3, 4) are copied piece by piece straight into
 * the new value: one copy, as `decodePayload` makes of a payload in one
 * piece. Other tags are first joined in `scratch(size)` (a buffer of at least
 * `size` bytes that the caller reuses), then decoded from it, which copies
 * again.
 *
 * @throws {CorruptError} when a piece is not inside `source` (bounds read from shared memory).
 * @throws {RangeError} for an unknown tag; the codec's own errors for a payload it cannot revive.
 */
export function decodeSplit(
  tag: number,
  source: Buffer,
  start: number,
  end: number,
  start2: number,
  end2: number,
  scratch: (size: number) => Buffer,
): unknown {
  if (!(start >= 0 && start <= end && end <= source.length && start2 >= 0 && start2 <= end2 && end2 <= source.length))
    throw new CorruptError(
      `Cannot decode a message: bytes ${start} to ${end} and ${start2} to ${end2} are outside its ${source.length}-byte source`,
    )
  const first = end - start
  const size = first + end2 - start2
  if (tag === TAG_BUFFER || tag === TAG_BYTES) {
    // allocUnsafe: what Buffer.from allocates (the pool below 4 KiB); allocUnsafeSlow: an
    // ArrayBuffer of its own, as new Uint8Array(bytes) has. Both pieces overwrite it whole.
    const out = tag === TAG_BUFFER ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(size)
    source.copy(out, 0, start, end)
    source.copy(out, first, start2, end2)
    return tag === TAG_BUFFER ? out : new Uint8Array(out.buffer, 0, size)
  }
  const joined = scratch(size)
  source.copy(joined, 0, start, end)
  source.copy(joined, first, start2, end2)
  return decodePayload(tag, joined, 0, size)
}

/**
 * `decodePayload` for bytes from a peer that may be hostile (a socket, a
 * Redis item): no value it revives makes the heap grow more than 16 bytes
 * per payload byte (plus 1 MiB). A v8 payload (tag 5) is scanned first
 * (v8-scan.ts; nor can it stall the process with colliding hash keys),
 * JSON text (tags 6, 7) too (json-scan.ts), and a packed value (tag 8) is
 * charged as it is read (`unpackUntrusted`). Strings and bytes (tags 1 to
 * 4) take what their payload takes. Shared memory, written by the same
 * user, uses `decodePayload`.
 *
 * @throws {CorruptError} for every payload it cannot revive: a check refused it, or the
 * decoder itself did (an unknown tag, a v8 RegExp V8 will not compile, bad JSON), with
 * that error as `cause`.
 */
export function decodeUntrusted(tag: number, source: Buffer, start: number, end: number): unknown {
  try {
    if (start >= 0 && start <= end && end <= source.length) {
      if (tag === TAG_V8) scanV8(source, start, end)
      else if (tag === TAG_PACKED) return unpackUntrusted(source, start, end)
      else if (tag === TAG_JSON_LATIN1 || tag === TAG_JSON_UTF8)
        scanJson(source, start, end, tag === TAG_JSON_UTF8 ? 'utf8' : 'latin1')
    }
    return decodePayload(tag, source, start, end)
  } catch (error) {
    if (error instanceof CorruptError) throw error
    const why = (error as Error).message
    throw new CorruptError(why.startsWith('Cannot decode a message') ? why : `Cannot decode a message: ${why}`, {
      cause: error,
    })
  }
}

/**
 * Serializes `value` with structured-clone semantics: what `postMessage`
 * accepts, this accepts. Strings and byte arrays take a fast path.
 *
 * @throws {DataCloneError} when the value cannot be cloned (a function, a symbol…).
 * @example
 * ```ts
 * const bytes = serialize({ id: 1, tags: new Set(['a']) })
 * deserialize(bytes) // => { id: 1, tags: Set { 'a' } }
 * ```
 */
export function serialize(value: unknown): Uint8Array {
  const encoded = encode(value)
  const out = Buffer.allocUnsafe(1 + encoded.size)
  out[0] = encoded.tag
  writePayload(encoded, out, 1)
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

/**
 * Revives a value made by `serialize`.
 *
 * @throws {TypeError} when `bytes` is not a Uint8Array.
 * @throws {RangeError} when `bytes` is not the output of `serialize`.
 * @throws {DataCloneError} when the value is nested too deep to revive on this thread's stack.
 */
export function deserialize<T = unknown>(bytes: Uint8Array): T {
  if (!(bytes instanceof Uint8Array)) throw invalidArgType('The "bytes" argument must be a Uint8Array')
  if (bytes.byteLength === 0) throw new RangeError('Cannot deserialize: the input is empty')
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  try {
    return decodePayload(buf[0] as number, buf, 1, buf.byteLength) as T
  } catch (error) {
    if (error instanceof RangeError || error instanceof DataCloneError) throw error
    throw new RangeError(`Cannot deserialize: the input is not a serialized value (${(error as Error).message})`)
  }
}

/**
 * Where in `value` the first part that cannot be cloned is, as a path
 * ('the value.jobs[2].onDone is a function'), for the DataCloneError's
 * message. Runs only after serializing failed; undefined when not found.
 */
function uncloneablePart(value: unknown, path: string, seen: Set<object>, depth: number): string | undefined {
  if (typeof value === 'function') return `${path} is a function, which cannot be cloned`
  if (typeof value === 'symbol') return `${path} is a symbol, which cannot be cloned`
  if (typeof value !== 'object' || value === null || seen.has(value) || depth > 64) return undefined
  seen.add(value)
  if (value instanceof WeakMap || value instanceof WeakSet || value instanceof Promise || value instanceof WeakRef)
    return `${path} is a ${value.constructor.name}, which cannot be cloned`
  if (value instanceof Map) {
    for (const [key, entry] of value) {
      const found = uncloneablePart(entry, `${path}.get(${String(key)})`, seen, depth + 1)
      if (found !== undefined) return found
    }
    return undefined
  }
  const entries = Array.isArray(value) || value instanceof Set ? [...value].entries() : Object.entries(value)
  for (const [key, entry] of entries) {
    const part = typeof key === 'number' ? `${path}[${key}]` : `${path}.${key}`
    const found = uncloneablePart(entry, part, seen, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}
