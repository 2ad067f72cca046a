/**
 * Pipe(): Python's `multiprocessing.Pipe`, in shared memory.
 */
import { checkOptionsObject, invalidArgType } from '@ipc/core/internal'
import { Connection } from './connection.js'
import { PIPE_OPTIONS, type PipeOptions } from './options.js'
import { PipeEnd } from './pipe-end.js'

/**
 * Creates a pipe and returns its two ends. With `duplex: true` (the
 * default) each end sends and receives; with `duplex: false` the first end
 * only receives and the second only sends, as in Python.
 *
 * Pass an end to a child through `Process` (it stays open until the child
 * attaches), or pass `.handle` anywhere and call `Connection.from(handle)`.
 *
 * Each end sends and accepts messages up to `maxMessageSize` bytes (default
 * 128 MiB): a longer `send` throws `MessageTooLongError` and writes nothing,
 * and a receiver refuses a longer message before allocating anything.
 *
 * @throws {TypeError} when `options` is not an object (`Pipe(false)`: write `Pipe({ duplex: false })`).
 * @throws {ExistsError} when `name` is taken.
 * @throws {RangeError} when `capacity` is not an integer from 1 to 2^30, or
 * `maxMessageSize` not an integer from 1 to 2^32.
 * @example
 * ```ts
 * const [receiver, sender] = Pipe<number>({ duplex: false })
 * sender.sendSync(42)
 * receiver.recvSync() // => 42
 * ```
 */
export function Pipe<T = unknown>(options: PipeOptions = {}): [Connection<T>, Connection<T>] {
  // Python's `Pipe(False)` is `Pipe({ duplex: false })` here: a boolean is not taken for options.
  if ((options as unknown) === false)
    throw invalidArgType(
      `The options must be an object, received false (for a one-way pipe, as Python's Pipe(False), pass { duplex: false })`,
    )
  checkOptionsObject(options, PIPE_OPTIONS)
  const [first, second] = PipeEnd.create(options)
  return [new Connection<T>(first), new Connection<T>(second)]
}
