/**
 * Client(): Python's `multiprocessing.connection.Client`.
 */
import { connect, type Socket } from 'node:net'
import { IpcError, NotFoundError, PermissionError } from '@ipc/core'
import {
  afterTimeout,
  checkOptionsObject,
  checkWaitOptions,
  deadlineOf,
  remaining,
  throwIfAborted,
} from '@ipc/core/internal'
import { formatTcp, parseAddress } from './address.js'
import { authkeyBytes, checkHandshakeTimeout, checkWire, handshake, pythonHandshake } from './auth.js'
import { Connection } from './connection.js'
import { TimeoutError } from './errors.js'
import { LOCAL_ACK } from './listener.js'
import { checkPrivateDir, localSocketDir, localSocketPath, statSocket } from './local-name.js'
import { CLIENT_OPTIONS, type ClientOptions, DEFAULT_PEER_MAX_MESSAGE_SIZE } from './options.js'
import { checkMaxMessageSize, PipeEnd } from './pipe-end.js'
import { SocketTransport } from './socket-transport.js'

/** The longest frame holding the handle of a local pipe, in bytes. */
const MAX_HANDLE_FRAME = 4096

/**
 * The socket path of a local name, after checking the user's private
 * directory and the socket file (nothing is connected before).
 */
function localPath(name: string, what: string): string {
  const dir = localSocketDir()
  checkPrivateDir(dir, what, false)
  const path = localSocketPath(name, dir)
  const st = statSocket(path, what)
  if (st === undefined || !st.isSocket())
    throw new NotFoundError(`${what}: no listener with that name exists (no socket ${path})`)
  return path
}

/** The pipe end a local listener handed over: `{ name, end }`, checked before use. */
function parseHandle(frame: Buffer, what: string): { name: string; end: 0 | 1 } {
  let handle: unknown
  try {
    handle = JSON.parse(frame.toString('utf8'))
  } catch (error) {
    throw new IpcError(`${what}: the listener sent a malformed pipe handle`, { cause: error })
  }
  const { kind, name, end } = (handle ?? {}) as { kind?: unknown; name?: unknown; end?: unknown }
  if (kind !== 'pipe' || typeof name !== 'string' || (end !== 0 && end !== 1))
    throw new IpcError(`${what}: the listener sent a malformed pipe handle`)
  return { name, end }
}

/** Connects to a local listener's socket `path`, or to `host:port`. */
function connectSocket(
  target: { path: string } | { host: string; port: number },
  display: string,
  deadline: number,
  signal: AbortSignal,
): Promise<Socket> {
  const local = 'path' in target
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect(target)
    const cancelTimer = afterTimeout(remaining(deadline), () =>
      fail(new TimeoutError(`Cannot connect to ${display}: no answer before the timeout`)),
    )
    const onAbort = () => fail(signal.reason)
    const cleanup = () => {
      cancelTimer()
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
            local
              ? `Cannot connect to ${display}: no listener with that name exists`
              : `Cannot connect to ${display}: nothing listens there (connection refused)`,
            { cause: error },
          ),
        )
      else if (code === 'EACCES' || code === 'EPERM')
        fail(new PermissionError(`Cannot connect to ${display}: permission denied`, { cause: error }))
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
 * Guarantees:
 * - A local name is looked up only in this user's private directory
 *   (`<tmpdir>/ipc-<uid>/`, see `Listener`), checked before connecting: no
 *   byte is sent to a socket another user could have placed.
 * - With an `authkey`, no message passes before both sides proved they know it.
 * - Until authenticated, only the handshake's small frames are read; then a
 *   frame over `maxMessageSize` is refused at its header.
 * - With `codec: 'pickle'` (or `protocol: 'python'`) on `tcp://`, a Python
 *   `multiprocessing.connection.Listener` is the other side: CPython's framing
 *   and challenge, pickles of plain data for `send`/`recv`.
 *
 * @throws {AuthenticationError} when the listener has another authkey, or only one side has one.
 * @throws {NotFoundError} when no listener is at the address.
 * @throws {PermissionError} when the directory of local names (or the socket in it) is not private to this user.
 * @throws {TypeError} for an address that is neither a local name nor `tcp://host:port`, or an empty `authkey`.
 * @throws {TimeoutError} when `timeout` passes before the connection is ready, or the listener does not complete the handshake within `handshakeTimeout`.
 * @example
 * ```ts
 * const conn = await Client('tcp://127.0.0.1:6000', { authkey: 'secret' })
 * await conn.send('hello')
 * ```
 */
export async function Client<T = unknown>(address: string, options: ClientOptions = {}): Promise<Connection<T>> {
  checkOptionsObject(options, CLIENT_OPTIONS)
  const parsed = parseAddress(address)
  const python = checkWire(options, parsed.kind)
  const key = authkeyBytes(options.authkey)
  const maxMessageSize = checkMaxMessageSize(options.maxMessageSize, DEFAULT_PEER_MAX_MESSAGE_SIZE)
  const handshakeTimeout = checkHandshakeTimeout(options.handshakeTimeout)
  const { timeout, signal: callerSignal } = checkWaitOptions(options, CLIENT_OPTIONS)
  throwIfAborted(callerSignal)
  const display = parsed.kind === 'local' ? JSON.stringify(parsed.name) : formatTcp(parsed.host, parsed.port)
  const what = `Cannot connect to ${display}`
  const target = parsed.kind === 'local' ? { path: localPath(parsed.name, what) } : parsed
  const deadline = deadlineOf(timeout)
  const stop = new AbortController()
  const cancelTimer = afterTimeout(timeout, () =>
    stop.abort(new TimeoutError(`${what}: the connection was not ready before the timeout`)),
  )
  const onAbort = () => stop.abort(callerSignal?.reason)
  callerSignal?.addEventListener('abort', onAbort, { once: true })
  let ch: SocketTransport | undefined
  let cancelHandshakeTimer = () => {}
  try {
    const socket = await connectSocket(target, display, deadline, stop.signal)
    ch = new SocketTransport(socket, display, maxMessageSize, python)
    cancelHandshakeTimer = afterTimeout(handshakeTimeout, () =>
      stop.abort(
        new TimeoutError(`${what}: the listener did not complete the handshake within ${handshakeTimeout} ms`),
      ),
    )
    if (python) await pythonHandshake(ch, 'client', key, what, stop.signal)
    else await handshake(ch, 'client', key, what, stop.signal)
    if (parsed.kind === 'tcp') {
      ch.beginMessages()
      return new Connection<T>(ch)
    }
    const handle = parseHandle(await ch.readFrame(MAX_HANDLE_FRAME, Number.POSITIVE_INFINITY, stop.signal, what), what)
    const end = PipeEnd.open(handle.name, handle.end, undefined, maxMessageSize)
    ch.writeFrame(Buffer.from(LOCAL_ACK, 'latin1'))
    ch.close()
    return new Connection<T>(end)
  } catch (error) {
    ch?.destroy()
    throw error
  } finally {
    cancelTimer()
    cancelHandshakeTimer()
    callerSignal?.removeEventListener('abort', onAbort)
  }
}
