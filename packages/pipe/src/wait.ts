/**
 * wait(): Python's `multiprocessing.connection.wait`, for Connections.
 */
import { checkWaitOptions, invalidArgType, throwIfAborted, WAIT_OPTIONS } from '@ipc/core/internal'
import { Connection, READY_NOW, WAIT_READABLE } from './connection.js'
import type { ConnectionWaitOptions } from './options.js'

/**
 * Waits until at least one of `connections` has something to receive (a
 * message, or the end of the stream) and resolves with all that do, in the
 * order given. Resolves with `[]` when `timeout` passes first.
 *
 * @throws {ClosedError} when one of the connections was closed in this process.
 * @example
 * ```ts
 * for (const conn of await wait([a, b], { timeout: 1000 })) console.log(await conn.recv())
 * ```
 */
export async function wait<C extends Connection<unknown>>(
  connections: Iterable<C>,
  options?: ConnectionWaitOptions,
): Promise<C[]> {
  if (connections === null || typeof (connections as Partial<Iterable<C>>)?.[Symbol.iterator] !== 'function')
    throw invalidArgType('The "connections" argument must be an iterable of Connection objects')
  const list = [...connections]
  for (const c of list)
    if (!(c instanceof Connection)) throw invalidArgType('The "connections" argument must hold only Connection objects')
  const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
  throwIfAborted(signal)
  const ready = () => list.filter((c) => c[READY_NOW]())
  const now = ready()
  if (now.length > 0 || timeout === 0 || list.length === 0) return now
  const stop = new AbortController()
  const onAbort = () => stop.abort(signal?.reason)
  signal?.addEventListener('abort', onAbort, { once: true })
  const waits = list.map((c) => c[WAIT_READABLE](timeout, stop.signal))
  try {
    // Settles at the first ready connection, or when every wait timed out.
    await new Promise<void>((resolve, reject) => {
      let left = waits.length
      for (const w of waits)
        w.then((isReady) => {
          if (isReady || --left === 0) resolve()
        }, reject)
    })
  } finally {
    signal?.removeEventListener('abort', onAbort)
    stop.abort()
    await Promise.allSettled(waits)
  }
  return ready()
}
