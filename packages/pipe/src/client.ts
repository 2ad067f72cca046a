/**
 * Client(): Python's `multiprocessing.connection.Client`.
 */
import { connect, type Socket } from 'node:net'
import { IpcError, NotFoundError } from '@ipc/core'
import { checkWaitOptions, deadlineOf, remaining, throwIfAborted } from '@ipc/core/internal'
import { type Address, formatTcp, localSocketPath, parseAddress } from './address.js'
import { authkeyBytes, handshake } from './auth.js'
import { Connection } from './connection.js'
import { TimeoutError } from './errors.js'
import { LOCAL_ACK } from './listener.js'
import type { ClientOptions } from './options.js'
import { PipeEnd } from './pipe-end.js'
import { SocketTransport } from './socket-transport.js'
import type { PipeHandle } from './transport.js'

function connectSocket(address: Address, display: string, deadline: number, signal: AbortSignal): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket =
      address.kind === 'local'
        ? connect({ path: localSocketPath(address.name) })
        : connect({ host: address.host, port: address.port })
    const timer =
      deadline === Number.POSITIVE_INFINITY
        ? undefined
        : setTimeout(
            () => fail(new TimeoutError(`Cannot connect to ${display}: no answer before the timeout`)),
            remaining(deadline),
          )
    const onAbort = () => fail(signal.reason)
    const cleanup = () => {
      if (timer !== undefined) clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      socket.off('error', onError)
    }
    const fail = (error: unknown) => {
      cleanup()
      socket.destroy()
      reject(error)
    }
    const onError = (error: NodeJS.ErrnoException) => {
      const code = error.code
      if (code === 'ECONNREFUSED' || code === 'ENOENT')
        fail(
          new NotFoundError(
            address.kind === 'local'
              ? `Cannot connect to ${display}: no listener with that name exists`
              : `Cannot connect to ${display}: nothing listens there (connection refused)`,
            { cause: error },
          ),
        )
      else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
        fail(new NotFoundError(`Cannot connect to ${display}: the host name was not found`, { cause: error }))
      else fail(new IpcError(`Cannot connect to ${display}: ${error.message}`, { cause: error }))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.on('error', onError)
    socket.once('connect', () => {
      cleanup()
      resolve(socket)
    })
  })
}

/**
 * Connects to a `Listener` at `address` (a local name, or `tcp://host:port`)
 * and resolves with the connection once both sides are authenticated.
 *
 * @throws {AuthenticationError} when the listener has another authkey, or only one side has one.
 * @throws {NotFoundError} when no listener is at the address.
 * @throws {TypeError} for an address that is neither a local name nor `tcp://host:port`.
 * @throws {TimeoutError} when `timeout` passes before the connection is ready.
 * @example
 * ```ts
 * const conn = await Client('tcp://127.0.0.1:6000', { authkey: 'secret' })
 * await conn.send('hello')
 * ```
 */
export async function Client<T = unknown>(address: string, options: ClientOptions = {}): Promise<Connection<T>> {
  const parsed = parseAddress(address)
  const key = authkeyBytes(options.authkey)
  const { timeout, signal: callerSignal } = checkWaitOptions(options)
  throwIfAborted(callerSignal)
  const display = parsed.kind === 'local' ? JSON.stringify(parsed.name) : formatTcp(parsed.host, parsed.port)
  const what = `Cannot connect to ${display}`
  const deadline = deadlineOf(timeout)
  const stop = new AbortController()
  const timer =
    timeout === Number.POSITIVE_INFINITY
      ? undefined
      : setTimeout(
          () => stop.abort(new TimeoutError(`${what}: the connection was not ready before the timeout`)),
          timeout,
        )
  const onAbort = () => stop.abort(callerSignal?.reason)
  callerSignal?.addEventListener('abort', onAbort, { once: true })
  let ch: SocketTransport | undefined
  try {
    const socket = await connectSocket(parsed, display, deadline, stop.signal)
    ch = new SocketTransport(socket, display)
    await handshake(ch, 'client', key, what, Number.POSITIVE_INFINITY, stop.signal)
    if (parsed.kind === 'tcp') return new Connection<T>(ch)
    const frame = await ch.readFrame(4096, Number.POSITIVE_INFINITY, stop.signal, what)
    const handle = JSON.parse(frame.toString('utf8')) as PipeHandle
    const end = PipeEnd.open(handle.name, handle.end)
    ch.writeFrame(Buffer.from(LOCAL_ACK, 'latin1'))
    ch.close()
    return new Connection<T>(end)
  } catch (error) {
    ch?.destroy()
    throw error
  } finally {
    if (timer !== undefined) clearTimeout(timer)
    callerSignal?.removeEventListener('abort', onAbort)
  }
}
