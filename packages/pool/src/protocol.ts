/**
 * The messages between a Pool and its workers. Each worker has its own
 * request queue (only the parent puts, only that worker gets) and its own
 * reply queue (only that worker puts, only the parent gets). Both are
 * @ipc/queue `Queue`s in shared memory, so a message is copied once into the
 * ring and once out, with no pipe or serialization thread in between. No
 * queue is shared by two workers, so a worker killed inside a queue's lock
 * can delay no other worker's messages.
 *
 * | message | shape                                        | written by | meaning                                            |
 * | ------- | -------------------------------------------- | ---------- | -------------------------------------------------- |
 * | request | `[id, exportName, RUN, args, transfers?]`    | parent     | call `module[exportName](...args)`                 |
 * | request | `[id, exportName, MAP, items, transfers?]`   | parent     | call `module[exportName](item)` for each item      |
 * | stop    | `null` (request queue)                       | parent     | close both queues, `process.exit(0)`               |
 * | ready   | `[-workerNumber, OK, null]`                  | worker     | the module was imported; the loop starts           |
 * | reply   | `[id, OK, result]`                           | worker     | the result (for MAP, the array of results)         |
 * | reply   | `[id, FAILED, { name, message, stack, code }]` | worker   | the function threw or rejected                     |
 * | reply   | `[id, NO_EXPORT, typeofFound]`               | worker     | `module[exportName]` is not a function             |
 * | reply   | `[id, PART, results]`                        | worker     | first MAP results; the final OK holds the rest (an empty PART comes first) |
 * | reply   | `[id, TOO_LARGE, null]`                      | worker     | one result does not fit in the reply ring          |
 * | reply   | `[id, UNCLONABLE, { name, message, stack, code }]` | worker | the result cannot be cloned (the codec's error) |
 * | reply   | `[0, UNREADABLE, { name, message, stack, code }]` | worker | the request it took cannot be revived there (nested too deep for its stack; the queue dropped it) |
 *
 * Order: a worker takes its requests in order and replies to each before it
 * takes the next. So a reply's task is the oldest the worker holds, or,
 * between a task's opening empty PART and its final reply, that task (its
 * first part may have failed it already): that is how UNREADABLE (whose id
 * could not be read) names its task, and how the parent fails the task of a
 * reply it cannot revive itself. When a worker dies, the requests still in its request queue
 * never started (the parent reads them out); of the unanswered ones, the one
 * it took is the one it was running. A worker killed mid-`put` leaves no
 * partial reply (the queue's guarantee); a reply that was put before the
 * worker died is read before the parent decides what the death means (it
 * drains the worker's reply queue, then closes it, which also ends its
 * pending `get()`).
 *
 * Size: a chunk too large for the request ring is halved by the parent until
 * each part fits; a chunk's results too large for the reply ring come back in
 * PART replies. One task whose arguments or result alone do not fit fails.
 *
 * Packed numbers: a MAP's `items`, or its `results` in an OK or PART reply,
 * of at least PACK_MIN values that are all numbers travel as one
 * `Float64Array` (the codec copies it as raw bytes) instead of an array (the
 * codec's packed form, which writes and reads each number in JS: about 1.7
 * times the cost per number). Float64 keeps every number
 * exactly, NaN, -0 and the infinities included. Readers only index and
 * iterate them, so a packed array never needs unpacking.
 */
import type { ProcessPayload } from '@ipc/core/internal'

export const RUN = 0
export const MAP = 1
export type RequestKind = typeof RUN | typeof MAP

export const OK = 0
export const FAILED = 1
export const NO_EXPORT = 2
export const PART = 3
export const TOO_LARGE = 4
export const UNCLONABLE = 5
export const UNREADABLE = 6
export type ReplyStatus =
  | typeof OK
  | typeof FAILED
  | typeof NO_EXPORT
  | typeof PART
  | typeof TOO_LARGE
  | typeof UNCLONABLE
  | typeof UNREADABLE

export type Transfers = ProcessPayload['transfers']

/** A MAP's items or results as sent: an array, or packed numbers. */
export type Values = unknown[] | Float64Array

/** Whether a value read from a reply has the shape of `Values`. */
export function isValues(value: unknown): value is Values {
  return Array.isArray(value) || value instanceof Float64Array
}

export type Request =
  | [id: number, exportName: string, kind: RequestKind, payload: Values]
  | [id: number, exportName: string, kind: RequestKind, payload: Values, transfers: Transfers]

export type ErrorFields = { name: string | undefined; message: string; stack: string | undefined; code: unknown }

export type Reply =
  | [id: number, status: typeof OK, result: unknown]
  | [id: number, status: typeof FAILED, error: ErrorFields]
  | [id: number, status: typeof NO_EXPORT, found: string]
  | [id: number, status: typeof PART, results: Values]
  | [id: number, status: typeof TOO_LARGE, nothing: null]
  | [id: number, status: typeof UNCLONABLE, error: ErrorFields]
  | [id: 0, status: typeof UNREADABLE, error: ErrorFields]

/** Bytes of each worker's request ring and of its reply ring (4 MiB; pages are touched only as used). */
export const RING_BYTES = 4 * 1024 * 1024

/** Fewer values than this stay an array: below it JSON costs less than the v8 serializer's fixed cost. */
export const PACK_MIN = 32

/** `values` as a Float64Array when there are PACK_MIN or more and every one is a number; else `values`. */
export function packNumbers(values: unknown[]): Values {
  const length = values.length
  if (length < PACK_MIN) return values
  for (let i = 0; i < length; i++) if (typeof values[i] !== 'number') return values
  const packed = new Float64Array(length)
  for (let i = 0; i < length; i++) packed[i] = values[i] as number
  return packed
}
