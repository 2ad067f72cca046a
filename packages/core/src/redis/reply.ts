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

/** `reply` as an array; anything else is an unexpected reply to `what`. */
export function replyArray(reply: unknown, what: string): unknown[] {
  if (!Array.isArray(reply)) unexpectedReply(what, reply)
  return reply
}
