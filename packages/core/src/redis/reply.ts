/**
 * Replies of the `/redis` libraries as the client reads them: a reply is
 * never trusted, so anything a library never sends is a CorruptError that
 * quotes it (cut to 200 characters).
 */
import { inspect } from 'node:util'
import { CorruptError } from '../errors.js'

/** Throws the CorruptError of a reply (or a field of one) that the library never sends to `what`. */
export function unexpectedReply(what: string, reply: unknown): never {
  throw new CorruptError(`Redis sent an unexpected reply to ${what}: ${inspect(reply, { depth: 2 }).slice(0, 200)}`)
}

/** Field `index` of `reply`, a 0/1 flag, as a boolean; anything else is an unexpected reply to `what`. */
export function replyFlag(reply: unknown[], index: number, what: string): boolean {
  const flag = reply[index]
  if (flag !== 0 && flag !== 1) unexpectedReply(what, reply)
  return flag === 1
}

/** `reply` as an array; anything else is an unexpected reply to `what`. */
export function replyArray(reply: unknown, what: string): unknown[] {
  if (!Array.isArray(reply)) unexpectedReply(what, reply)
  return reply
}
