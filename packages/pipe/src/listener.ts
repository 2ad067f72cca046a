/**
 * Listener: Python's `multiprocessing.connection.Listener`. A local name
 * meets clients on a Unix-domain socket, authenticates them, then hands each
 * a pipe in shared memory; `tcp://host:port` keeps the socket as the
 * connection.
 */

import { unlinkSync } from 'node:fs'
import { createServer, isIP, type Server, type Socket } from 'node:net'
import { ClosedError, ExistsError, IpcError } from '@ipc/core'
import { checkWaitOptions, onAbort, outOfRange, throwIfAborted } from '@ipc/core/internal'
import { type Address, formatTcp, localSocketPath, parseAddress } from './address.js'
import { authkeyBytes, handshake } from './auth.js'
import { Connection } from './connection.js'
import { AuthenticationError, TimeoutError } from './errors.js'
import type { AcceptOptions, ListenerOptions } from './options.js'
import { PipeEnd } from './pipe-end.js'
import { SocketTransport } from './socket-transport.js'

/** What the client of a local listener answers once it holds its end. */
export const LOCAL_ACK = '#OK#'

interface Acceptor {
  resolve(conn: Connection): void
  reject(error: unknown): void
}

/** Node's synchronous bind (the engine of `listen()` once an address is resolved). */
interface SyncListen {
  _listen2?: (address: string, port: number, addressType: number, backlog: number) => void
}

/**
 * Accepts connections from `Client(address)` in other processes: Python's
 * `multiprocessing.connection.Listener`.
 *
 * Guarantees:
 * - With an `authkey`, a client is accepted only after both sides proved they
 *   know the key (HMAC-SHA256 challenge both ways); otherwise `accept()`
 *   rejects with AuthenticationError and no message passed.
 * - A local name reaches only processes of the same user on this machine; the
 *   name is free again when the listener closes or its process dies.
 * - Clients complete their handshake as they connect (up to `backlog` of them
 *   wait for `accept()`), so a silent client never holds up the others.
 *
 * @throws {TypeError} for an address that is neither a local name nor `tcp://host:port`.
 * @throws {ExistsError} when another listener has the local name.
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
  readonly #queue: (Connection | Error)[] = []
  readonly #acceptors: Acceptor[] = []
  readonly #handshakes = new Set<SocketTransport>()
  readonly #closing = new AbortController()
  #bound: Promise<void>
  #display: string
  #closed = false
  #socketFile: string | undefined

  constructor(address?: string, options: ListenerOptions = {}) {
    this.#address = parseAddress(address ?? `anon-${process.pid}-${Math.random().toString(36).slice(2, 12)}`)
    this.#key = authkeyBytes(options.authkey)
    const backlog = options.backlog ?? 128
    if (typeof backlog !== 'number' || !Number.isInteger(backlog) || backlog < 1)
      throw outOfRange(`The "backlog" option must be a positive integer, received ${String(backlog)}`)
    this.#backlog = backlog
    const server = createServer({ pauseOnConnect: false }, (socket) => this.#onSocket(socket))
    this.#server = server
    let failure: Error | undefined
    server.on('error', (error) => {
      failure = error
      this.#fail(error)
    })
    const a = this.#address
    if (a.kind === 'local') {
      this.#display = a.name
      const path = localSocketPath(a.name)
      if (!path.startsWith('\0')) this.#socketFile = path
      server.listen({ path, backlog })
      if (!server.listening) {
        server.close()
        throw new ExistsError(`Cannot listen on "${a.name}": another listener has that name`)
      }
      this.#bound = Promise.resolve()
      return
    }
    this.#display = formatTcp(a.host, a.port)
    const family = isIP(a.host)
    const sync = (server as unknown as SyncListen)._listen2
    if (family !== 0 && typeof sync === 'function') {
      // An IP address needs no lookup: bind now, so `address` has the real port at once.
      sync.call(server, a.host, a.port, family, backlog)
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
      server.listen({ host: a.host, port: a.port, backlog }, () => {
        this.#display = this.#boundAddress()
        resolve()
      })
      server.once('error', () => reject(this.#bindError(failure)))
    })
    this.#bound.catch(() => {})
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

  #onSocket(socket: Socket): void {
    if (this.#closed || this.#queue.length + this.#handshakes.size >= this.#backlog) {
      socket.destroy()
      return
    }
    const peer =
      this.#address.kind === 'tcp' ? formatTcp(socket.remoteAddress ?? '?', socket.remotePort ?? 0) : this.#display
    const ch = new SocketTransport(socket, peer)
    this.#handshakes.add(ch)
    this.#serve(ch).then((result) => {
      this.#handshakes.delete(ch)
      if (result !== undefined) this.#deliver(result)
    })
  }

  async #serve(ch: SocketTransport): Promise<Connection | Error | undefined> {
    const what = `Cannot accept a connection on ${JSON.stringify(this.#display)}`
    const signal = this.#closing.signal
    try {
      await handshake(ch, 'listener', this.#key, what, Number.POSITIVE_INFINITY, signal)
      if (this.#address.kind === 'tcp') return new Connection(ch)
      const [mine, theirs] = PipeEnd.create({})
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
      // Python's accept() raises AuthenticationError; a client that just left is dropped.
      if (error instanceof AuthenticationError && !this.#closed) return error
      return undefined
    }
  }

  #deliver(result: Connection | Error): void {
    if (this.#closed) {
      if (result instanceof Connection) result.close()
      return
    }
    const acceptor = this.#acceptors.shift()
    if (acceptor === undefined) this.#queue.push(result)
    else if (result instanceof Connection) acceptor.resolve(result)
    else acceptor.reject(result)
  }

  /**
   * Resolves with the next client's connection, in the order they finished
   * their handshake.
   *
   * @throws {AuthenticationError} when the next client had another authkey (or none); the next call serves the next client.
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
    const { timeout, signal } = checkWaitOptions(options)
    throwIfAborted(signal)
    await this.#bound
    if (this.#closed) throw new ClosedError('Cannot accept: the listener was closed')
    const next = this.#queue.shift()
    if (next !== undefined) {
      if (next instanceof Connection) return next
      throw next
    }
    if (timeout === 0) throw new TimeoutError('Cannot accept: no client is waiting')
    return new Promise<Connection>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const done = () => {
        const i = this.#acceptors.indexOf(acceptor)
        if (i >= 0) this.#acceptors.splice(i, 1)
        if (timer !== undefined) clearTimeout(timer)
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
      if (timeout !== Number.POSITIVE_INFINITY)
        timer = setTimeout(
          () => acceptor.reject(new TimeoutError('Cannot accept: no client connected before the timeout')),
          timeout,
        )
      this.#acceptors.push(acceptor)
    })
  }

  /**
   * Stops listening: the address is free again, pending `accept()` calls
   * reject with ClosedError, and clients not yet accepted are disconnected.
   * Accepted connections stay open. Idempotent.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#closing.abort(new ClosedError('The listener was closed'))
    this.#server.close()
    if (this.#socketFile !== undefined) {
      try {
        unlinkSync(this.#socketFile)
      } catch {}
    }
    for (const ch of this.#handshakes) ch.destroy()
    for (const item of this.#queue.splice(0)) if (item instanceof Connection) item.close()
    for (const a of this.#acceptors.splice(0)) a.reject(new ClosedError('Cannot accept: the listener was closed'))
  }

  [Symbol.dispose](): void {
    this.close()
  }

  /** Accepts clients until the listener is closed. */
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
