/**
 * One item on the wire to Redis: @ipc/core's codec (the same values the
 * shared-memory queue accepts), as a string the Redis client carries as is.
 *
 * | wire             | tag (codec)          | payload                  |
 * |------------------|----------------------|--------------------------|
 * | "1" + text       | 1 Latin-1, 2 UTF-8   | the string itself        |
 * | "6" + JSON text  | 6, 7 JSON            | the JSON text (read only)|
 * | "3" + base64     | 3 Uint8Array         | the bytes, base64        |
 * | "4" + base64     | 4 Buffer             | the bytes, base64        |
 * | "5" + base64     | 5 v8 serializer      | the bytes, base64        |
 * | "8" + base64     | 8 packed plain data  | the bytes, base64        |
 *
 * Text goes as text (UTF-8 on the wire, no copy into a Buffer); bytes go as
 * base64, since @redis/client hands replies back as UTF-8 strings and would
 * mangle raw bytes.
 *
 * Size cap: an item's codec payload may be at most MAX_ITEM_BYTES (8 MiB), a
 * string's counted as UTF-8 (as the server stores it); `put` throws
 * RangeError above it (nothing is put), and the server refuses
 * a wire string longer than MAX_WIRE_CHARS. A string coming back from the
 * server is checked against the same bound and its tag before it is decoded:
 * anything else is CorruptError (the item is dropped, the queue goes on).
 * Anyone who can write the queue's keys can push an item, so every item is
 * revived by `decodeUntrusted`, the one path for bytes from a peer: a v8,
 * packed or JSON payload that would grow the consumer's heap more than 16
 * bytes per payload byte (plus 1 MiB), or a v8 one that would stall it with
 * colliding hash keys, is CorruptError. JSON text is charged as its UTF-8
 * bytes (the server sends UTF-8).
 */
import { CorruptError } from '@ipc/core'
import {
  decodeUntrusted,
  encode,
  outOfRange,
  TAG_BUFFER,
  TAG_BYTES,
  TAG_JSON_LATIN1,
  TAG_JSON_UTF8,
  TAG_LATIN1,
  TAG_PACKED,
  TAG_V8,
} from '@ipc/core/internal'

/** Largest codec payload of one item, bytes (8 MiB). */
export const MAX_ITEM_BYTES = 8 * 1024 * 1024

/** Longest wire string of one item: a tag char and the base64 of MAX_ITEM_BYTES. */
export const MAX_WIRE_CHARS = 1 + 4 * Math.ceil(MAX_ITEM_BYTES / 3)

/** Encodes `value` for the server. @throws {DataCloneError} @throws {RangeError} larger than MAX_ITEM_BYTES. */
export function toWire(value: unknown): string {
  const encoded = encode(value)
  const size = wireTextBytes(encoded.text, encoded.tag) ?? encoded.size
  if (size > MAX_ITEM_BYTES)
    throw outOfRange(
      `Cannot put an item of ${size} bytes to a Redis queue: an item may have at most ${MAX_ITEM_BYTES} bytes (8 MiB) once encoded (a string as UTF-8)`,
    )
  // Text (tags 1, 2: a string) goes as it is; the codec writes no other text (JSON text, "6", is only read).
  if (encoded.text !== undefined) return `1${encoded.text}`
  const bytes = encoded.bytes as Uint8Array
  return `${encoded.tag}${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`
}

/**
 * A Latin-1 string's size on the wire, UTF-8 (chars 0x80 to 0xFF take 2 bytes there, 1 in the
 * codec): the server bounds what it stores in bytes, so a string is charged as UTF-8 whatever its
 * codec tag. Undefined for bytes, and for text that is UTF-8 already or too short to matter.
 */
function wireTextBytes(text: string | undefined, tag: number): number | undefined {
  if (text === undefined || tag !== TAG_LATIN1 || text.length <= MAX_ITEM_BYTES / 2) return undefined
  return Buffer.byteLength(text, 'utf8')
}

/** Decodes a wire string from the server. @throws {CorruptError} not a wire item, or a payload the codec refuses. */
export function fromWire(wire: unknown, what: string): unknown {
  if (typeof wire !== 'string' || wire.length < 1 || wire.length > MAX_WIRE_CHARS)
    throw new CorruptError(
      `Cannot decode an item of ${what}: the server sent ${typeof wire === 'string' ? `a string of ${wire.length} chars` : `a ${typeof wire}`}, not an item`,
    )
  const tag = wire.charCodeAt(0) - 48
  try {
    switch (tag) {
      case TAG_LATIN1:
        return wire.slice(1)
      case TAG_JSON_LATIN1: {
        // The codec's JSON path, budget included: the text as the server sent it, UTF-8, after the tag char.
        // The item cap holds for JSON text too (its chars alone allow about 4 times as many bytes).
        const size = Buffer.byteLength(wire, 'utf8') - 1
        if (size > MAX_ITEM_BYTES)
          throw new Error(`its JSON text has ${size} bytes, more than an item may have (${MAX_ITEM_BYTES})`)
        const bytes = Buffer.from(wire, 'utf8')
        return decodeUntrusted(TAG_JSON_UTF8, bytes, 1, bytes.length)
      }
      case TAG_BYTES:
      case TAG_BUFFER:
      case TAG_V8:
      case TAG_PACKED: {
        const payload = wire.slice(1)
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload) || payload.length % 4 !== 0)
          throw new Error('its payload is not base64')
        const bytes = Buffer.from(payload, 'base64')
        return decodeUntrusted(tag, bytes, 0, bytes.length)
      }
      default:
        throw new Error(`its tag ${JSON.stringify(wire[0])} is not one the queue writes`)
    }
  } catch (error) {
    throw new CorruptError(
      `Cannot decode an item of ${what}: ${error instanceof Error ? error.message : String(error)}; it was dropped`,
      { cause: error },
    )
  }
}

/**
 * Parses what the queue's Functions hand a call, a JSON array (`["i", wire…]`, `["p", n]`,
 * `["s"(, n)]`, `["j"]`): a wake-up message, or an entry of the `handed` hash. Anyone who can
 * publish on the client's channel or write the queue's keys can send one, so it takes the
 * codec's budgeted JSON path, as a JSON item does.
 * @throws {CorruptError} not JSON, over the budget, or not an array.
 */
export function handedFromServer(text: string, what: string): unknown[] {
  const bytes = Buffer.from(text, 'utf8')
  const value = decodeUntrusted(TAG_JSON_UTF8, bytes, 0, bytes.length)
  if (!Array.isArray(value)) throw new CorruptError(`Redis sent ${what} that is not a JSON array`)
  return value
}
