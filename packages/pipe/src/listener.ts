/**
 * Listener: Python's `multiprocessing.connection.Listener`. A local name
 * meets clients on a Unix-domain socket in the user's private directory
 * (local-name.ts), authenticates them, then hands each a pipe in shared
 * memory; `tcp://host:port` keeps the socket as the connection.
 *
 * Strangers: every connection runs its handshake at once and concurrently
 * (at most `maxPendingHandshakes`; a new one drops the oldest), with
 * `handshakeTimeout` to finish it and 256-byte frames until it is
 * authenticated. A failed handshake drops the stranger and is reported to
 * `onHandshakeError` only: `accept()` sees authenticated clients alone, and
 * `backlog` counts only them.
 */

import { createServer, isIP, type Server, type Socket } from 'node:net'
import { ClosedError, ExistsError, IpcError } from '@ipc/core'
import {
  afterTimeout,
  checkOptionsObject,
  checkWaitOptions,
  invalidArgType,
  invalidArgValue,
  onAbort,
  outOfRange,
  shown,
  throwIfAborted,
  WAIT_OPTIONS,
} from '@ipc/core/internal'
import { type Address, floodGroup, formatTcp, isLoopback, parseAddress } from './address.js'
import { authkeyBytes, checkHandshakeTimeout, checkWire, handshake, pythonHandshake } from './auth.js'
import { Connection } from './connection.js'
import { TimeoutError } from './errors.js'
import {
  checkPrivateDir,
  localSocketDir,
  localSocketPath,
  probeSocket,
  removeSocketFile,
  type SocketFile,
  statSocket,
  trackSocketFile,
} from './local-name.js'
import { type AcceptOptions, DEFAULT_PEER_MAX_MESSAGE_SIZE, LISTENER_OPTIONS, type ListenerOptions } from './options.js'
import { checkMaxMessageSize, PipeEnd } from './pipe-end.js'
import { SocketTransport } from './socket-transport.js'

/** What the client of a local listener answers once it holds its end. */
export const LOCAL_ACK = '#OK#'

/** The kernel's queue of connections not yet taken by Node (which takes them at once). */
const KERNEL_BACKLOG = 511

/** A client past its handshake; `transport` (tcp://) reads no message before `accept()` hands it out. */
interface Authenticated {
  conn: Connection
  transport: SocketTransport | undefined
}

/** A handshake in flight: aborting `controller` drops the client. */
interface Handshake {
  controller: AbortController
  /** The remote address's flood group (tcp://, `floodGroup`; '' for a local name). */
  from: string
  /** The client answered the authkey challenge: never dropped for a newcomer. */
  proved: boolean
}

interface Acceptor {
  resolve(conn: Connection): void
  reject(error: unknown): void
}

/** Node's synchronous bind (the engine of `listen()` once an address is resolved). */
interface SyncListen {
  _listen2?: (address: string, port: number, addressType: number, backlog: number) => void
}

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw outOfRange(`The "${name}" option must be a positive integer, received ${shown(value)}`)
  return value
}

/**
 * Accepts connections from `Client(address)` in other processes: Python's
 * `multiprocessing.connection.Listener`.
 *
 * Guarantees:
 * - With an `authkey`, a client is accepted only after both sides proved they
 *   know the key (HMAC-SHA256 challenge both ways; with `protocol: 'python'`,
 *   CPython's challenge, HMAC-MD5 or a negotiated digest); no message passes
 *   before.
 * - With `codec: 'pickle'` (or `protocol: 'python'`) on `tcp://`, Python's
 *   `multiprocessing.connection.Client` is the client: CPython's framing and
 *   handshake exactly, pickles of plain data for `send`/`recv`.
 * - A failed handshake (wrong or missing key, garbage, a frame over 256 bytes,
 *   `handshakeTimeout`) never rejects `accept()` nor ends
 *   `for await (… of listener)`: the stranger is dropped and reported to
 *   `onHandshakeError`, and the listener goes on.
 * - Before authentication nothing but the handshake's small frames is read;
 *   after it, a frame over `maxMessageSize` is refused at its header.
 * - A local name reaches only processes of the same user on this machine: its
 *   socket lives in `<tmpdir>/ipc-<uid>/` (mode 0700), refused with
 *   PermissionError when another user owns that directory or may write it.
 *   The name is free again when the listener closes or its process dies.
 *
 * @throws {TypeError} for an address that is neither a local name nor `tcp://host:port`, an empty `authkey`, or a keyless `tcp://` listener on an address that is not loopback (unless `insecure`).
 * @throws {ExistsError} when a live listener has the local name.
 * @throws {PermissionError} when the directory of local names is not private to this user.
 * @example
 * ```ts
 * const listener = new Listener('tcp://127.0.0.1:0', { authkey: 'secret' })
 * console.log(listener.address) // e.g. 'tcp://127.0.0.1:41237'
 * ```
 */
export class Listener implements AsyncIterable<Connection>, Disposable {
  readonly #address: Address
  readonly #server: Server
  readonly #key: Buffer | undefined
  readonly #backlog: number
  readonly #maxMessageSize: number
  readonly #handshakeTimeout: number
  readonly #maxPendingHandshakes: number
  readonly #onHandshakeError: ((error: Error) => void) | undefined
  /** CPython's wire (`protocol: 'python'`). */
  readonly #python: boolean
  /** Authenticated connections waiting for `accept()` (see `#handOut`). */
  readonly #queue: Authenticated[] = []
  readonly #acceptors: Acceptor[] = []
  /** Handshakes in flight, oldest first; aborting the controller drops the client. */
  readonly #handshakes = new Map<SocketTransport, Handshake>()
  /** 'error' events still to come from failed synchronous binds (Node emits them on the next tick). */
  #staleBindErrors = 0
  #bound: Promise<void>
  #display: string
  #closed = false
  #socketFile: SocketFile | undefined

  constructor(address?: string, options: ListenerOptions = {}) {
    checkOptionsObject(options, LISTENER_OPTIONS)
    this.#address = parseAddress(address ?? `anon-${process.pid}-${Math.random().toString(36).slice(2, 12)}`)
    this.#python = checkWire(options, this.#address.kind)
    this.#key = authkeyBytes(options.authkey)
    this.#backlog = positiveInteger('backlog', options.backlog, 128)
    this.#maxMessageSize = checkMaxMessageSize(options.maxMessageSize, DEFAULT_PEER_MAX_MESSAGE_SIZE)
    this.#handshakeTimeout = checkHandshakeTimeout(options.handshakeTimeout)
    this.#maxPendingHandshakes = positiveInteger('maxPendingHandshakes', options.maxPendingHandshakes, 64)
    const onHandshakeError = options.onHandshakeError
    if (onHandshakeError !== undefined && typeof onHandshakeError !== 'function')
      throw invalidArgType(`The "onHandshakeError" option must be a function, received ${typeof onHandshakeError}`)
    this.#onHandshakeError = onHandshakeError
    const insecure = options.insecure ?? false
    if (typeof insecure !== 'boolean')
      throw invalidArgType(`The "insecure" option must be a boolean, received ${typeof insecure}`)
    const a = this.#address
    if (a.kind === 'tcp' && this.#key === undefined && !insecure && !isLoopback(a.host))
      throw invalidArgValue(
        `Cannot listen on ${formatTcp(a.host, a.port)} without an authkey: it is not a loopback address, so anyone who reaches the port could send values this process deserializes. Pass { authkey }, listen on 127.0.0.1, or pass { insecure: true }`,
      )
    const server = createServer({ pauseOnConnect: false }, (socket) => this.#onSocket(socket))
    this.#server = server
    let failure: Error | undefined
    server.on('error', (error) => {
      if (this.#staleBindErrors > 0) {
        this.#staleBindErrors--
        return
      }
      failure = error
      this.#fail(error)
    })
    if (a.kind === 'local') {
      this.#display = a.name
      this.#socketFile = this.#bindLocal(a.name)
      this.#bound = Promise.resolve()
      return
    }
    this.#display = formatTcp(a.host, a.port)
    const family = isIP(a.host)
    const sync = (server as unknown as SyncListen)._listen2
    if (family !== 0 && typeof sync === 'function') {
      // An IP address needs no lookup: bind now, so `address` has the real port at once.
      sync.call(server, a.host, a.port, family, KERNEL_BACKLOG)
      if (!server.listening) {
        server.close()
        throw new IpcError(
          `Cannot listen on ${this.#display}: the address is in use, not an address of this machine, or not allowed`,
        )
      }
      this.#display = this.#boundAddress()
      this.#bound = Promise.resolve()
      return
    }
    this.#bound = new Promise<void>((resolve, reject) => {
      server.listen({ host: a.host, port: a.port, backlog: KERNEL_BACKLOG }, () => {
        this.#display = this.#boundAddress()
        resolve()
      })
      server.once('error', () => reject(this.#bindError(failure)))
    })
    this.#bound.catch(() => {})
  }

  /**
   * Binds the socket of a local name in the private directory. A socket file
   * left by a listener that died (connecting is refused) is removed and the
   * bind retried; a live one throws ExistsError.
   */
  #bindLocal(name: string): SocketFile {
    const what = `Cannot listen on ${JSON.stringify(name)}`
    const dir = localSocketDir()
    checkPrivateDir(dir, what, true)
    const path = localSocketPath(name, dir)
    for (let attempt = 1; ; attempt++) {
      this.#server.listen({ path, backlog: KERNEL_BACKLOG })
      if (this.#server.listening) return trackSocketFile(path)
      this.#staleBindErrors++
      const st = statSocket(path, what)
      if (attempt >= 3) {
        if (st === undefined) throw new IpcError(`${what}: cannot bind the socket ${path}`)
        break
      }
      if (st === undefined) continue // the file went away in between: bind again
      if (!st.isSocket()) throw new ExistsError(`${what}: ${path} exists and is not a socket; remove it`)
      const verdict = probeSocket(path)
      if (verdict === 'live' || verdict === 'unknown') throw new ExistsError(`${what}: another listener has that name`)
      // 'dead' or 'gone': remove the stale file, unless another listener replaced it meanwhile.
      removeSocketFile({ path, dev: st.dev, ino: st.ino })
    }
    throw new ExistsError(`${what}: the name stayed taken while this listener tried to bind ${path}`)
  }

  #boundAddress(): string {
    const info = this.#server.address()
    if (info === null || typeof info === 'string') return this.#display
    return formatTcp(info.address, info.port)
  }

  #bindError(error: Error | undefined): Error {
    const code = (error as { code?: string } | undefined)?.code
    if (code === 'EADDRINUSE')
      return new ExistsError(`Cannot listen on ${this.#display}: the address is in use`, { cause: error })
    return new IpcError(`Cannot listen on ${this.#display}: ${error?.message ?? 'unknown error'}`, { cause: error })
  }

  #fail(error: Error): void {
    const e = this.#bindError(error)
    for (const a of this.#acceptors.splice(0)) a.reject(e)
  }

  /**
   * The address clients pass to `Client`: the local name, or
   * `tcp://host:port` with the real port when port 0 was asked (known at once
   * for an IP address; for a host name, after the first `accept()` began).
   */
  get address(): string {
    return this.#display
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed
  }

  /** Hands a dropped client's reason to `onHandshakeError`; an exception it throws is rethrown on the next tick. */
  #report(error: Error): void {
    const callback = this.#onHandshakeError
    if (callback === undefined) return
    try {
      callback(error)
    } catch (thrown) {
      process.nextTick(() => {
        throw thrown
      })
    }
  }

  #onSocket(socket: Socket): void {
    if (this.#closed) {
      socket.destroy()
      return
    }
    const tcp = this.#address.kind === 'tcp'
    const peer = tcp ? formatTcp(socket.remoteAddress ?? '?', socket.remotePort ?? 0) : this.#display
    const what = `Cannot accept a connection ${tcp ? `from ${peer} ` : ''}on ${JSON.stringify(this.#display)}`
    if (this.#queue.length >= this.#backlog) {
      socket.destroy()
      this.#report(new IpcError(`${what}: ${this.#backlog} clients already wait for accept() (backlog)`))
      return
    }
    const from = tcp ? floodGroup(socket.remoteAddress ?? '?') : ''
    if (this.#handshakes.size >= this.#maxPendingHandshakes && !this.#dropAStranger(from)) {
      socket.destroy()
      this.#report(
        new IpcError(
          `${what}: ${this.#maxPendingHandshakes} handshakes are pending and each client proved its authkey already (maxPendingHandshakes)`,
        ),
      )
      return
    }
    const ch = new SocketTransport(socket, peer, this.#maxMessageSize, this.#python)
    const controller = new AbortController()
    const pending: Handshake = { controller, from, proved: false }
    this.#handshakes.set(ch, pending)
    const ms = this.#handshakeTimeout
    const cancelTimer = afterTimeout(
      ms,
      () => controller.abort(new TimeoutError(`${what}: the client did not complete the handshake within ${ms} ms`)),
      true,
    )
    this.#serve(ch, what, controller.signal, () => {
      pending.proved = true
    }).then((result) => {
      cancelTimer()
      this.#handshakes.delete(ch)
      if (result instanceof Connection) this.#deliver({ conn: result, transport: tcp ? ch : undefined }, what)
      else if (result !== undefined) this.#report(result)
    })
  }

  /** The handshake of one client: its Connection, the reason it was dropped, or undefined when the listener closed. */
  /**
   * Makes room for a newcomer from `from` when `maxPendingHandshakes` are
   * pending: drops the oldest handshake of the remote address (an IPv6 /64:
   * `floodGroup`) with the most pending (a flood from one host drops its
   * own), never one whose client proved the authkey. False when every
   * pending client proved it.
   */
  #dropAStranger(from: string): boolean {
    // The newcomer counts for its address: a flood's newest connection drops the flood's oldest.
    const counts = new Map<string, number>([[from, 1]])
    for (const h of this.#handshakes.values()) if (!h.proved) counts.set(h.from, (counts.get(h.from) ?? 0) + 1)
    let most = from
    for (const [address, n] of counts) if (n > (counts.get(most) as number)) most = address
    let victim: [SocketTransport, Handshake] | undefined
    for (const entry of this.#handshakes) {
      if (entry[1].proved) continue
      victim ??= entry
      if (entry[1].from === most) {
        victim = entry
        break
      }
    }
    if (victim === undefined) return false
    const [ch, { controller }] = victim
    this.#handshakes.delete(ch)
    controller.abort(
      new IpcError(
        `Cannot accept a connection from ${ch.name}: dropped unauthenticated for a newer client, ${this.#maxPendingHandshakes} handshakes were pending (maxPendingHandshakes)`,
      ),
    )
    return true
  }

  async #serve(
    ch: SocketTransport,
    what: string,
    signal: AbortSignal,
    proved: () => void,
  ): Promise<Connection | Error | undefined> {
    try {
      if (this.#python) await pythonHandshake(ch, 'listener', this.#key, what, signal, proved)
      else await handshake(ch, 'listener', this.#key, what, signal, proved)
      // tcp://: messages are read from `accept()` on (`#handOut`).
      if (this.#address.kind === 'tcp') return new Connection(ch)
      const [mine, theirs] = PipeEnd.create({ maxMessageSize: this.#maxMessageSize })
      try {
        ch.writeFrame(Buffer.from(JSON.stringify(theirs.handle())))
        const ack = await ch.readFrame(64, Number.POSITIVE_INFINITY, signal, what)
        if (ack.toString('latin1') !== LOCAL_ACK) throw new IpcError(`${what}: the client did not take its end`)
      } catch (error) {
        mine.close()
        theirs.close()
        throw error
      }
      // The client holds its end now.
      theirs.close()
      ch.close()
      return new Connection(mine)
    } catch (error) {
      ch.destroy()
      if (this.#closed) return undefined
      return error instanceof Error ? error : new IpcError(`${what}: ${String(error)}`)
    }
  }

  #deliver(client: Authenticated, what: string): void {
    if (this.#closed) {
      client.conn.close()
      return
    }
    const acceptor = this.#acceptors.shift()
    if (acceptor !== undefined) acceptor.resolve(this.#handOut(client))
    else if (this.#queue.length < this.#backlog) this.#queue.push(client)
    else {
      client.conn.close()
      this.#report(new IpcError(`${what}: ${this.#backlog} clients already wait for accept() (backlog)`))
    }
  }

  /**
   * The client's connection, reading messages from now on. Until then a
   * tcp:// socket stays in handshake mode: it parses nothing, so Node stops
   * reading it once its stream buffer is full, and the clients waiting in the
   * backlog hold that much each, not HIGH_WATER (socket-transport.ts).
   */
  #handOut(client: Authenticated): Connection {
    client.transport?.beginMessages()
    return client.conn
  }

  /**
   * Resolves with the next authenticated client's connection, in the order
   * they finished their handshake. Clients that fail their handshake never
   * reach it (see `onHandshakeError`).
   *
   * @throws {ClosedError} when the listener is (or gets) closed.
   * @throws {TimeoutError} when `timeout` passes first.
   * @example
   * ```ts
   * const conn = await listener.accept()
   * await conn.send('welcome')
   * ```
   */
  async accept(options?: AcceptOptions): Promise<Connection> {
    if (this.#closed) throw new ClosedError('Cannot accept: the listener was closed')
    const { timeout, signal } = checkWaitOptions(options, WAIT_OPTIONS)
    throwIfAborted(signal)
    await this.#bound
    if (this.#closed) throw new ClosedError('Cannot accept: the listener was closed')
    const next = this.#queue.shift()
    if (next !== undefined) return this.#handOut(next)
    if (timeout === 0) throw new TimeoutError('Cannot accept: no client is waiting')
    return new Promise<Connection>((resolve, reject) => {
      let cancelTimer = () => {}
      const done = () => {
        const i = this.#acceptors.indexOf(acceptor)
        if (i >= 0) this.#acceptors.splice(i, 1)
        cancelTimer()
        removeAbort()
      }
      const acceptor: Acceptor = {
        resolve(conn) {
          done()
          resolve(conn)
        },
        reject(error) {
          done()
          reject(error)
        },
      }
      const removeAbort = onAbort(signal, () => acceptor.reject(signal?.reason))
      cancelTimer = afterTimeout(timeout, () =>
        acceptor.reject(new TimeoutError('Cannot accept: no client connected before the timeout')),
      )
      this.#acceptors.push(acceptor)
    })
  }

  /**
   * Stops listening: the address is free again (a local name's socket file is
   * removed), pending `accept()` calls reject with ClosedError, and clients
   * not yet accepted are disconnected. Accepted connections stay open.
   * Idempotent.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#server.close()
    if (this.#socketFile !== undefined) removeSocketFile(this.#socketFile)
    const closed = new ClosedError('The listener was closed')
    for (const [ch, { controller }] of this.#handshakes) {
      controller.abort(closed)
      ch.destroy()
    }
    this.#handshakes.clear()
    for (const client of this.#queue.splice(0)) client.conn.close()
    for (const a of this.#acceptors.splice(0)) a.reject(new ClosedError('Cannot accept: the listener was closed'))
  }

  [Symbol.dispose](): void {
    this.close()
  }

  /** Accepts clients until the listener is closed; a failed handshake does not end it. */
  async *[Symbol.asyncIterator](): AsyncIterator<Connection> {
    for (;;) {
      try {
        yield await this.accept()
      } catch (error) {
        if (error instanceof ClosedError && this.#closed) return
        throw error
      }
    }
  }
}
