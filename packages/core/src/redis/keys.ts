/**
 * Key naming of the `/redis` primitives: `ipc:{<name>}:<part>`. The braces
 * make `<name>` the hash tag, so all keys of one primitive live in one hash
 * slot (one Redis Cluster node), as a function touching several of them needs.
 */
import { isWellFormed } from '../codec/codec.js'
import { invalidArgType, invalidArgValue } from '../errors.js'

/** Longest name, in UTF-8 bytes (as for the shared-memory primitives). */
export const MAX_REDIS_NAME_BYTES = 200

/** Validates a primitive's name: 1 to 200 bytes of UTF-8 without `{`, `}`, NUL or a lone surrogate. */
export function checkRedisName(name: unknown): string {
  if (typeof name !== 'string') throw invalidArgType(`The "name" must be a string, received ${typeof name}`)
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes === 0 || bytes > MAX_REDIS_NAME_BYTES)
    throw invalidArgValue(
      `The "name" must be 1 to ${MAX_REDIS_NAME_BYTES} bytes long in UTF-8, received ${bytes} bytes`,
    )
  if (/[{}\0]/.test(name))
    throw invalidArgValue(`The "name" must not contain "{", "}" or NUL characters, received ${JSON.stringify(name)}`)
  // UTF-8 turns every lone surrogate into U+FFFD: two such names would share their keys.
  if (!isWellFormed(name))
    throw invalidArgValue(
      `The "name" must be well-formed Unicode (no lone surrogate), received ${JSON.stringify(name)}`,
    )
  return name
}

/** The key of one part of primitive `name`: `ipc:{name}:part`. */
export function redisKey(name: string, part: string): string {
  return `ipc:{${name}}:${part}`
}

/** CRC16-XMODEM (polynomial 0x1021), the hash Redis Cluster maps keys to slots with. */
function crc16(bytes: Uint8Array): number {
  let crc = 0
  for (const byte of bytes) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc
}

/** The Redis Cluster hash slot (0 to 16383) of `key`: of its hash tag, the text in its first `{…}` if not empty. */
export function clusterSlot(key: string): number {
  const open = key.indexOf('{')
  const close = open === -1 ? -1 : key.indexOf('}', open + 1)
  const tagged = close > open + 1 ? key.slice(open + 1, close) : key
  return crc16(Buffer.from(tagged, 'utf8')) % 16384
}
