/**
 * Key naming of the `/redis` primitives: `ipc:{<name>}:<part>`. The braces
 * make `<name>` the hash tag, so all keys of one primitive live in one hash
 * slot (one Redis Cluster node), as a function touching several of them needs.
 */
import { invalidArgType, invalidArgValue } from '../errors.js'

/** Longest name, in UTF-8 bytes (as for the shared-memory primitives). */
export const MAX_REDIS_NAME_BYTES = 200

/** Validates a primitive's name: 1 to 200 bytes of UTF-8 without `{`, `}` or NUL. */
export function checkRedisName(name: unknown): string {
  if (typeof name !== 'string') throw invalidArgType(`The "name" must be a string, received ${typeof name}`)
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes === 0 || bytes > MAX_REDIS_NAME_BYTES)
    throw invalidArgValue(
      `The "name" must be 1 to ${MAX_REDIS_NAME_BYTES} bytes long in UTF-8, received ${bytes} bytes`,
    )
  if (/[{}\0]/.test(name))
    throw invalidArgValue(`The "name" must not contain "{", "}" or NUL characters, received ${JSON.stringify(name)}`)
  return name
}

/** The key of one part of primitive `name`: `ipc:{name}:part`. */
export function redisKey(name: string, part: string): string {
  return `ipc:{${name}}:${part}`
}
