/**
 * RedisConnection: the connections of one process to one Redis server, shared
 * by every `/redis` primitive that names the same URL.
 *
 * Two sockets per server and process:
 * - `commands`: every FCALL, pipelined by @redis/client. Its offline queue is
 *   off, so a call made while the server is unreachable rejects at once
 *   (ConnectionError) instead of waiting for a reconnect nobody asked for.
 * - `wakeups`: a subscriber on this process's own channel
 *   (`ipc:wake:<clientId>`). Server-side functions PUBLISH there to wake a
 *   waiter (a queued acquire, a blocked get) instead of it polling. A message
 *   lost while the socket was down is made up for by `onReady` listeners,
 *   which re-ask the server after every reconnect.
 *
 * On a Redis Cluster (the URL names one of its nodes: HELLO says so once both
 * sockets connected), one cluster client does both instead (cluster-client.ts:
 * a socket per master for the calls, one more for the wake-ups).
 *
 * Both reconnect by themselves (50 ms doubling to 1 s between tries). A call
 * never waits past its deadline: `call()` races the reply against it and
 * hands a reply that comes later to `late` (a permit granted after the caller
 * gave up must be given back).
 *
 * The process is not kept alive by these sockets while no call is pending
 * (they are unref'd when idle; a background call, a renewal, is never
 * pending), so a script ends when its work does, the server answering or
 * not; leases lapse on the server as they would after a crash.
 */
import { randomBytes } from 'node:crypto'
import { ConnectionError, CorruptError, IpcError } from '../errors.js'
import { afterTimeout, within } from '../waiting/signal.js'
import { type ClusterClient, type ClusterModule, clusterClient } from './cluster-client.js'
import { isErrorReply, isFunctionMissing } from './error-replies.js'
import type { RedisLibrary } from './library.js'
import { redisLimits } from './limits.js'
import { LoadBatches, type Transaction, type TransactionClient } from './load-batch.js'
import { type TlsIdentity, tlsIdentity } from './tls-identity.js'

/** The prefix of a process's wake-up channel: `ipc:wake:<clientId>`. */
export const WAKE_CHANNEL_PREFIX = 'ipc:wake:'

/** The default server: `process.env.IPC_REDIS_URL`, else the local default port. */
export function defaultRedisUrl(): string {
  return process.env.IPC_REDIS_URL ?? 'redis://127.0.0.1:6379'
}

/** The part of @redis/client's client this module uses (a cluster's: cluster-client.ts). */
export interface Client {
  connect(): Promise<unknown>
  destroy(): void
  sendCommand<T = unknown>(args: readonly string[]): Promise<T>
  subscribe(channel: string, listener: (message: string) => void): Promise<void>
  on(event: string, listener: (...args: unknown[]) => void): unknown
  ref(): void
  unref(): void
  readonly isReady: boolean
  /** A transaction (MULTI … EXEC, written as one batch): the one-server client's; a cluster's has none here. */
  multi?(): Transaction
}

interface ClientModule extends ClusterModule {
  createClient(options: object): Client
}

/** Connections by URL, one per process (kept on globalThis: ESM and CJS copies share it). */
function registry(): Map<string, RedisConnection> {
  const key = Symbol.for('@ipc/core/redis-connections')
  const holder = globalThis as { [key]?: Map<string, RedisConnection> }
  holder[key] ??= new Map()
  return holder[key]
}

/** Retry delay after `retries` failed reconnects: 50 ms doubling, at most 1 s. */
function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** retries, 1000)
}

/**
 * The options of every client of a connection (a new object each time: a
 * client keeps and changes the `socket` object it is given). The first
 * connect fails fast (no retries) until `connected()`: a wrong URL or a
 * server that is down is reported to the call; reconnects after that are
 * patient.
 */
function clientOptions(connected: () => boolean, identity: TlsIdentity) {
  return {
    disableOfflineQueue: true,
    // No maintenance push notifications (CLIENT MAINT_NOTIFICATIONS ON, the default 'auto'):
    // the client acts on a server's MOVING push (reconnects elsewhere, pauses the socket,
    // and a malformed one throws where nothing catches it: the process exits).
    maintNotifications: 'disabled',
    socket: {
      connectTimeout: 5000,
      reconnectStrategy: (retries: number, cause: Error) => (connected() ? reconnectDelay(retries) : cause),
      ...identity,
    },
  }
}

/** How long loading @redis/client may take (normally a few hundred ms) before every waiting call fails. */
const CLIENT_LOAD_LIMIT_MS = 5000

let clientModule: Promise<ClientModule> | undefined

/**
 * Imports @redis/client, once per process. Loading it is local work, not
 * the server's answer, and slow the first time (about 150 ms on a 2-core
 * VM), so no call's deadline counts it (see `#withDeadline`, `#warmUp`).
 * The load has a bound of its own, CLIENT_LOAD_LIMIT_MS, whatever the
 * calls' deadlines (a loader hook that never settles must not hang them);
 * a later call tries again.
 */
function loadClientModule(): Promise<ClientModule> {
  clientModule ??= boundLoad(
    import('@redis/client').then(
      (module) => module as unknown as ClientModule,
      (error: unknown) => {
        clientModule = undefined
        throw new IpcError(
          'Cannot use the Redis classes: the package "@redis/client" is not installed. Install it next to @ipc (npm install @redis/client), it is an optional peer dependency',
          { cause: error },
        )
      },
    ),
  )
  return clientModule
}

/** `load`, or an IpcError once it has taken CLIENT_LOAD_LIMIT_MS (the next load starts afresh). */
function boundLoad(load: Promise<ClientModule>): Promise<ClientModule> {
  return within(load, CLIENT_LOAD_LIMIT_MS, () => {
    clientModule = undefined
    throw new IpcError(
      `Cannot use the Redis classes: loading the package "@redis/client" did not finish within ${CLIENT_LOAD_LIMIT_MS} ms (a module loader hook that never settles?)`,
    )
  })
}

/** A reply that came after its caller stopped waiting, handed over so nothing it granted is lost. */
export type LateReply = (reply: unknown) => void

/** Options of `RedisConnection.call`. */
export interface CallOptions {
  /** performance.now() time after which the call rejects (or resolves `onTimeout`); Infinity: none. */
  deadline: number
  /** Runs with the reply when it comes after the deadline. */
  late?: LateReply
  /**
   * A call nobody waits for (a renewal): not pending, so it neither refs the
   * sockets nor, unanswered, keeps the process alive until its deadline.
   */
  background?: boolean
}

/**
 * The FCALL of function `fn` (its short name) of `library` with `keys` and
 * `args` (numbers as decimal strings). A caller that makes the same call
 * often builds the part that does not change once and passes `send` a copy
 * with the rest pushed on.
 */
export function fcallCommand(
  library: RedisLibrary,
  fn: string,
  keys: readonly string[],
  args: readonly (string | number)[],
): string[] {
  const command = ['FCALL', library.functionName(fn), String(keys.length), ...keys]
  for (const arg of args) command.push(typeof arg === 'string' ? arg : String(arg))
  return command
}

/** Returned by `call()` when the deadline passed before the reply came (the server may still run it). */
export const NO_REPLY: unique symbol = Symbol('no reply') as never

/**
 * The connections of this process to one Redis server. Get one with
 * `RedisConnection.acquire(url)` and give it back with `release()`; the last
 * release closes the sockets.
 */
export class RedisConnection {
  /** This process's random id: the prefix of its waiter ids and the name of its wake-up channel. */
  readonly clientId: string = randomBytes(9).toString('base64url')
  readonly url: string
  #users = 0
  #pending = 0
  #commands: Client | undefined
  #wakeups: Client | undefined
  #opening: Promise<void> | undefined
  /** `#warmUp` under way or done; `#warm`: done (a call's deadline then runs from the call). */
  #warming: Promise<void> | undefined
  #warm = false
  /** Libraries loaded since the last (re)connect. */
  readonly #loaded = new Set<RedisLibrary>()
  /** One server: calls that need a library loaded go in one transaction per turn (load-batch.ts). */
  readonly #loadBatches = new LoadBatches((library) => this.#loaded.add(library))
  readonly #wakeListeners = new Map<string, (message: string) => void>()
  readonly #readyListeners = new Set<() => void>()
  /** Each listener with the key whose waits it ends (undefined: every loss). */
  readonly #lostListeners = new Map<(error: ConnectionError) => void, string | undefined>()
  #lastError: unknown
  #tlsIdentity: TlsIdentity | undefined

  private constructor(url: string) {
    this.url = url
  }

  /** The shared connection to `url` (counted: call `release()` once per acquire). */
  static acquire(url: string): RedisConnection {
    const connections = registry()
    let connection = connections.get(url)
    if (connection === undefined) {
      connection = new RedisConnection(url)
      connections.set(url, connection)
    }
    connection.#users++
    return connection
  }

  /** The channel this process's waiters are woken on. */
  get wakeChannel(): string {
    return WAKE_CHANNEL_PREFIX + this.clientId
  }

  /** Gives the connection back; the last user closes its sockets. */
  release(): void {
    if (--this.#users > 0) return
    registry().delete(this.url)
    this.#each(destroyClient)
    this.#commands = undefined
    this.#wakeups = undefined
    this.#opening = undefined
  }

  /** Runs `listener(message)` for messages to this process's channel that start with `prefix` + ' '. */
  onWake(prefix: string, listener: (message: string) => void): () => void {
    this.#wakeListeners.set(prefix, listener)
    return () => this.#wakeListeners.delete(prefix)
  }

  /** Runs `listener` after every reconnect (messages may have been lost meanwhile). */
  onReady(listener: () => void): () => void {
    this.#readyListeners.add(listener)
    return () => this.#readyListeners.delete(listener)
  }

  /**
   * Runs `listener` when a socket is lost (pending waits must reject with ConnectionError); with
   * `key`, on a cluster only when the lost node serves `key` or holds the wake-up socket.
   */
  onLost(listener: (error: ConnectionError) => void, key?: string): () => void {
    this.#lostListeners.set(listener, key)
    return () => this.#lostListeners.delete(listener)
  }

  /** Keeps the process alive (the sockets ref'd) until the returned function runs: for a waiter between calls. */
  keepAlive(): () => void {
    this.#pending++
    if (this.#pending === 1) this.#ref()
    let done = false
    return () => {
      if (done) return
      done = true
      this.#pending--
      if (this.#pending === 0) this.#unref()
    }
  }

  /**
   * Calls function `fn` of `library` (its short name: `put`) with `keys` and
   * `args` (FCALL), loading the library first when the server does not have
   * it (first use, or a server that restarted). Resolves with the reply, or
   * `NO_REPLY` when the deadline passed first (the reply, if any, then goes
   * to `options.late`). Calls made in the same tick go out together (the
   * client writes its queue once per tick), in the order they were made.
   * @throws {ConnectionError} The server cannot be reached, or the connection was lost before the reply.
   */
  call(
    library: RedisLibrary,
    fn: string,
    keys: readonly string[],
    args: readonly (string | number)[],
    options: CallOptions,
  ): Promise<unknown> {
    return this.send(library, fcallCommand(library, fn, keys, args), options)
  }

  /**
   * `call()` with the command built already (`fcallCommand`, a function of
   * `library`). The command is the call's from now on: do not change it or
   * send it again.
   * @throws {ConnectionError} The server cannot be reached, or the connection was lost before the reply.
   */
  send(library: RedisLibrary, command: string[], options: CallOptions): Promise<unknown> {
    if (options.background === true) return this.#withDeadline(this.#call(library, command), options)
    this.#pending++
    if (this.#pending === 1) this.#ref()
    const client = this.#commands
    // Connected, the library loaded, no deadline: the command goes straight to the client (no
    // await of ours first), and one reaction both counts the call done and maps a failure.
    if (
      options.deadline === Number.POSITIVE_INFINITY &&
      client !== undefined &&
      this.#opening === undefined &&
      client.isReady &&
      this.#loaded.has(library)
    )
      return client.sendCommand(command).then(this.#replied, (error: unknown) => {
        const retried = this.#retry(client, library, command, error)
        retried.then(this.#settled, this.#settled)
        return retried
      })
    const work = this.#call(library, command)
    const reply = options.deadline === Number.POSITIVE_INFINITY ? work : this.#withDeadline(work, options)
    reply.then(this.#settled, this.#settled)
    return reply
  }

  /** One call fewer pending: the last one lets the process exit. */
  readonly #settled = (): void => {
    this.#pending--
    if (this.#pending === 0) this.#unref()
  }

  /** `#settled`, passing the reply on. */
  readonly #replied = (reply: unknown): unknown => {
    this.#settled()
    return reply
  }

  #call(library: RedisLibrary, command: string[]): Promise<unknown> {
    const client = this.#commands
    // Connected, the library loaded: the command goes straight to the client (no await of ours first).
    if (client !== undefined && this.#opening === undefined && client.isReady && this.#loaded.has(library))
      return client.sendCommand(command).catch((error: unknown) => this.#retry(client, library, command, error))
    return this.#openAndCall(library, command)
  }

  async #openAndCall(library: RedisLibrary, command: string[]): Promise<unknown> {
    const client = await this.#open()
    // One server: the call goes in this turn's load transaction. A cluster's call goes first, and loads the
    // library only if its master answers "Function not found" (`#retry`): a load sent first could reach a
    // master the call would not (a slot map one MOVED out of date).
    const transactions = transactionClient(client)
    if (transactions !== undefined && !this.#loaded.has(library))
      return this.#sendWithLoad(transactions, library, command)
    try {
      const reply = await client.sendCommand(command)
      // It ran, so its master has the library (on a cluster `#loaded` is a hint: `#retry` loads it where missing).
      this.#loaded.add(library)
      return reply
    } catch (error) {
      return await this.#retry(client, library, command, error)
    }
  }

  /**
   * After a failed send: a server without our functions (restarted, failed over, or a co-tenant's
   * FUNCTION FLUSH) gets them, and the call runs once more. "Function not found" means the call did
   * not run. On one server the call goes in this turn's load transaction (`#sendWithLoad`), which a
   * flush cannot come into; on a cluster the owner of its slot loads the library and the call is
   * sent again, up to RELOAD_TRIES times (a flush may come between the load and the resend).
   * The resend goes after calls made meanwhile, so it may run after a cancel sent later: the
   * queue's library leaves a tombstone for a cancelled call, so such a resend does nothing; a
   * semaphore's acquire resent that way queues an entry nobody renews, which lapses within a
   * lease (a grant to it is given back by its object, which no longer knows the waiter).
   */
  async #retry(client: Client, library: RedisLibrary, command: string[], error: unknown): Promise<unknown> {
    const transactions = isFunctionMissing(error) ? transactionClient(client) : undefined
    if (transactions !== undefined) {
      this.#loaded.delete(library)
      return this.#sendWithLoad(transactions, library, command)
    }
    for (let tries = 0; isFunctionMissing(error) && tries < RELOAD_TRIES; tries++) {
      this.#loaded.delete(library)
      await this.#load(client, library, command, tries > 0)
      try {
        return await client.sendCommand(command)
      } catch (next) {
        error = next
      }
    }
    throw this.#mapError(error)
  }

  /** `command` in this turn's load transaction (load-batch.ts); a failure as an @ipc error. */
  async #sendWithLoad(client: TransactionClient, library: RedisLibrary, command: string[]): Promise<unknown> {
    try {
      return await this.#loadBatches.send(client, library, command)
    } catch (error) {
      throw this.#mapError(error)
    }
  }

  /**
   * Loads `library` on the server, or on the cluster master that owns `command`'s slot (its others
   * load it on their first "Function not found"), or with `everywhere` on every connected master.
   */
  async #load(client: Client, library: RedisLibrary, command: readonly string[], everywhere = false): Promise<void> {
    const load = ['FUNCTION', 'LOAD', 'REPLACE', library.code]
    try {
      await ('load' in client ? (client as ClusterClient).load(command, load, everywhere) : client.sendCommand(load))
    } catch (error) {
      throw this.#mapError(error)
    }
    this.#loaded.add(library)
  }

  /**
   * A failed command as an @ipc error (the original as `cause`). A server's
   * error reply is untrusted input like any reply:
   * - WRONGTYPE (a key of the object holds another type: written by someone
   *   else), or an error the Lua of a function raised (`ERR user_function:…`,
   *   `… on @user_function:N.`: it choked on the object's data): CorruptError.
   * - Any other error reply (NOPERM, OOM, BUSY, LOADING, READONLY, an unknown
   *   command, …): the server refuses to serve us now, a ConnectionError.
   * - Anything else (socket, offline, closed): ConnectionError.
   * IpcErrors (a ConnectionError already, the missing @redis/client) stay as they are.
   */
  #mapError(error: unknown): unknown {
    if (error instanceof IpcError) return error
    const message = error instanceof Error ? error.message : String(error)
    if (isErrorReply(error)) {
      if (/^WRONGTYPE\b/.test(message) || (/^ERR\b/.test(message) && LUA_ERROR.test(message)))
        return new CorruptError(
          `Redis at ${redactUrl(this.url)} failed a function on an object's data, which someone else wrote or garbled: ${message.slice(0, 300)}`,
          { cause: error },
        )
      return new ConnectionError(`Redis at ${redactUrl(this.url)} refused the call: ${message.slice(0, 300)}`, {
        cause: error,
      })
    }
    return this.#unreachable(error)
  }

  /** The ConnectionError for a server that could not be reached or used (its reason, cut to 300 characters, and `cause`). */
  #unreachable(error: unknown): ConnectionError {
    const message = error instanceof Error ? error.message : String(error)
    return new ConnectionError(`Cannot reach Redis at ${redactUrl(this.url)}: ${message.slice(0, 300)}`, {
      cause: error,
    })
  }

  #withDeadline(work: Promise<unknown>, options: CallOptions): Promise<unknown> {
    if (options.deadline === Number.POSITIVE_INFINITY) return work
    // A first call: its time starts once the client is loaded and its command table built (a
    // load that does not finish fails on its own bound, see loadClientModule).
    if (!this.#warm) {
      const budget = options.deadline - performance.now()
      return this.#warmUp().then(
        () => this.#withDeadline(work, { ...options, deadline: performance.now() + budget }),
        // `work` awaits the same load, so it rejects with the same error at once.
        () => work,
      )
    }
    return new Promise((resolve, reject) => {
      let settled = false
      const cancelTimer = afterTimeout(
        options.deadline - performance.now(),
        () => {
          settled = true
          resolve(NO_REPLY)
        },
        options.background === true,
      )
      work.then(
        (reply) => {
          if (!settled) {
            cancelTimer()
            resolve(reply)
          } else options.late?.(reply)
        },
        (error: unknown) => {
          if (!settled) {
            cancelTimer()
            reject(error)
          }
        },
      )
    })
  }

  /** Connects both sockets (once; reconnects are the client's). */
  #open(): Promise<Client> {
    const commands = this.#commands
    if (commands !== undefined && this.#opening === undefined) {
      if (commands.isReady) return Promise.resolve(commands)
      return Promise.reject(this.#mapError(this.#lastError ?? new Error('the connection is down, reconnecting')))
    }
    this.#opening ??= this.#connectWithin().then(
      () => {
        this.#opening = undefined
      },
      (error: unknown) => {
        this.#opening = undefined
        this.#each(destroyClient)
        this.#commands = undefined
        this.#wakeups = undefined
        // Whatever failed the connect (a refused socket, a handshake the server answered with an
        // error, NOPERM on SUBSCRIBE): the server cannot be used, a ConnectionError.
        if (error instanceof IpcError) throw error
        throw this.#unreachable(error)
      },
    )
    return this.#opening.then(() => this.#commands as Client)
  }

  /**
   * `#connect()`, failing with ConnectionError once redisLimits.connect passed
   * after @redis/client was loaded: the TCP connect, the handshake (HELLO,
   * CLIENT SETINFO) and the SUBSCRIBE each wait for the server's answer, and
   * a server that accepts the socket and then says nothing must not hold
   * them (nor the calls waiting for them) forever. The sockets are then
   * destroyed (by `#open`).
   */
  async #connectWithin(): Promise<void> {
    await loadClientModule()
    // A connect that settles after the limit (its sockets destroyed meanwhile) is ignored.
    const limit = redisLimits.connect
    await within(this.#connect(), limit, () => {
      throw new ConnectionError(
        `Cannot reach Redis at ${redactUrl(this.url)}: it did not complete the connection (connect, handshake, subscribe) within ${limit} ms`,
      )
    })
  }

  /**
   * Loads @redis/client and builds the command table of this URL's clients,
   * once per connection. @redis/client builds that table (about 120 ms the
   * first time on a 2-core VM) for every client whose options, URL included,
   * differ from the last client's, so a warm-up with other options does not
   * spare the real clients. The throwaway client built here with the real
   * options (no socket: it never connects) pays for it before any deadline
   * starts; the real ones then find it built.
   */
  #warmUp(): Promise<void> {
    this.#warming ??= loadClientModule().then((module) => {
      try {
        // Never connected; destroy() takes it out of the client's registries again.
        module.createClient({ url: this.url, ...clientOptions(() => false, this.#identity()) }).destroy()
      } catch {
        // Only a warm-up: a client that refuses to be built here is reported by the real call.
      }
      this.#warm = true
    })
    this.#warming.catch(() => {
      this.#warming = undefined
    })
    return this.#warming
  }

  /** The client certificate of this URL's sockets (read once; a failed read is tried again at the next connect). */
  #identity(): TlsIdentity {
    this.#tlsIdentity ??= tlsIdentity(this.url, redactUrl(this.url))
    return this.#tlsIdentity
  }

  async #connect(): Promise<void> {
    const module = await loadClientModule()
    const identity = this.#identity()
    let connected = false
    // Both sockets to the URL at once; if it names a node of a cluster, both become cluster clients.
    let commands = this.#track(module.createClient({ url: this.url, ...clientOptions(() => connected, identity) }))
    let wakeups = this.#track(module.createClient({ url: this.url, ...clientOptions(() => connected, identity) }))
    this.#commands = commands
    this.#wakeups = wakeups
    await Promise.all([commands.connect(), wakeups.connect()])
    if (await isClusterNode(commands)) {
      commands.destroy()
      wakeups.destroy()
      // One cluster client for both: it subscribes on a socket of its own (building one costs ~15 ms).
      commands = this.#track(
        clusterClient(
          module,
          this.url,
          clientOptions(() => connected, identity),
        ),
      )
      wakeups = commands
      this.#commands = commands
      this.#wakeups = wakeups
      await commands.connect()
    }
    await wakeups.subscribe(this.wakeChannel, (message) => this.#dispatch(message))
    connected = true
    // After a reconnect the subscriber has re-subscribed once it is ready; then ask again, once the
    // command socket is ready too (both reconnect on their own: a renewal sent while the command
    // socket is still down would fail, and nothing would ask again until the next heartbeat).
    const bothReady = () => {
      if (!commands.isReady || !wakeups.isReady) return
      for (const listener of this.#readyListeners) listener()
    }
    wakeups.on('ready', bothReady)
    if (commands !== wakeups) commands.on('ready', bothReady)
    if (this.#pending === 0) this.#unref()
  }

  /**
   * `client`, its errors kept for the next ConnectionError, and its reconnects
   * reported: a reconnect may have lost wake-ups (or, with the server, waiters
   * and loaded libraries), so pending waits reject and libraries load again.
   * On a cluster a reconnect names its node, and only the waits it `affects`
   * reject: those on that master's keys, or all when it holds the wake-up socket.
   */
  #track(client: Client): Client {
    client.on('error', (error) => {
      this.#lastError = error
    })
    client.on('reconnecting', (node?: unknown) => {
      this.#loaded.clear()
      const lost = new ConnectionError(
        `Lost the connection to Redis at ${redactUrl(this.url)}${typeof node === 'string' ? ` (node ${node})` : ''}; reconnecting`,
        { cause: this.#lastError },
      )
      const affects = typeof node === 'string' && 'affects' in client ? (client as ClusterClient).affects : undefined
      for (const [listener, key] of this.#lostListeners)
        if (affects === undefined || key === undefined || affects(node as string, key)) listener(lost)
    })
    return client
  }

  #dispatch(message: string): void {
    const space = message.indexOf(' ')
    const prefix = message.slice(0, space === -1 ? message.length : space)
    // Waiter ids are "<clientId>/<object>/<n>": the object part routes the message.
    const slash = prefix.lastIndexOf('/')
    const listener = this.#wakeListeners.get(slash === -1 ? prefix : prefix.slice(0, slash))
    listener?.(message)
  }

  /** Runs `act` on each client open now, once (on a cluster one client is both sockets); no allocation: `#ref` runs per call. */
  #each(act: (client: Client) => void): void {
    if (this.#commands !== undefined) act(this.#commands)
    if (this.#wakeups !== undefined && this.#wakeups !== this.#commands) act(this.#wakeups)
  }

  #ref(): void {
    this.#each(refClient)
  }

  #unref(): void {
    this.#each(unrefClient)
  }
}

const destroyClient = (client: Client): void => client.destroy()
const refClient = (client: Client): void => client.ref()
const unrefClient = (client: Client): void => client.unref()

/**
 * Whether the server behind `client` is a node of a Redis Cluster: HELLO
 * without a protocol version (Redis 6+, any ACL user) reports `mode`. A
 * server that refuses HELLO is taken as a single server.
 */
async function isClusterNode(client: Client): Promise<boolean> {
  let hello: unknown
  try {
    hello = await client.sendCommand(['HELLO'])
  } catch {
    return false
  }
  if (Array.isArray(hello)) {
    const at = hello.indexOf('mode')
    return at % 2 === 0 && hello[at + 1] === 'cluster'
  }
  if (hello instanceof Map) return hello.get('mode') === 'cluster'
  return typeof hello === 'object' && hello !== null && (hello as { mode?: unknown }).mode === 'cluster'
}

/** How many times a call that found the library missing loads it and runs again. */
const RELOAD_TRIES = 3

/** Where Redis 7 says a function's Lua raised an error (`… script: <fn>, on @user_function:12.`). */
const LUA_ERROR = /^ERR user_(function|script):\d+:| on @user_(function|script):\d+/

/** The client as one that sends transactions: the one-server client (a cluster's loads per call). */
function transactionClient(client: Client): TransactionClient | undefined {
  return client.multi === undefined || 'load' in client ? undefined : (client as TransactionClient)
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString().replace(/\/$/, '')
  } catch {
    return '(an invalid URL)'
  }
}
