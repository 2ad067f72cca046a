/**
 * RedisObject: the shell every `/redis` class (Queue, Semaphore, Lock,
 * SharedValue, …) is built on, written once: attaching by name (create,
 * open, create-or-open, or from a handle), the getters and `handle`,
 * `ready()`, the lease heartbeat, the object's fault, the call path with
 * the arguments every library function takes first, close (which awaits
 * the attach), unlink, `[TRANSFER]` for `Process` and `[inspect.custom]`.
 * A kind adds its own calls and its own local state through a few
 * protected hooks (`readAttach`, `onAttached`, `renew`, `beginClose`,
 * `onUnlinked`, and for kinds that wait, `onWake` and `failWaiters`).
 *
 * Who writes what:
 * - The server state of an object lives under `ipc:{name}:*` (`redisKey`)
 *   and only its kind's library functions write it, each call atomic.
 * - This object is one attacher, `<clientId>/<prefix><n>`, sent with every
 *   call. The heartbeat renews it every lease/3 ms; the server drops an
 *   attacher 3 leases after its last renewal, and with it what it held. So
 *   a process that crashes (or is cut off) keeps its permits, handed items
 *   and registration for at most that long, and loses them no sooner.
 * - Local state (this object only): `closed`; `fault`, the first error that
 *   made the object unusable (a failed attach, or a renew or call that found
 *   the object removed, replaced or garbled): every later call rejects with
 *   it, and close() still works.
 * - Every call has a reply limit (`#replyLimit`): a server that takes the
 *   call and never answers (stopped, overloaded, a broken proxy) rejects it
 *   with ConnectionError then, so no call (attach, try, read, release,
 *   renew, close, unlink) hangs, nor holds the process open past its limit.
 *   A call that waits on the server for a condition (a blocked get or
 *   acquire) keeps its own timeout and outcome: its limit counts from that
 *   timeout.
 * - Renewals are background calls (`RedisCallOptions.background`): they
 *   exist only while the object is open, and an object left open (no
 *   close()) must not hold the process, whether the server answers or not.
 *   A silent server would otherwise keep one renewal always in flight (a
 *   heartbeat lands while each waits out its limit).
 *
 * A subclass constructor passes everything the attach needs to `super()`:
 * the attach starts there, before the subclass's own fields exist, so the
 * hooks it calls run only after the attach's first reply (an await later).
 */
import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { ClosedError, ConnectionError, CorruptError, IncompatibleError, NotFoundError } from '../errors.js'
import { TRANSFER, type TransferDescriptor } from '../primitive/handle.js'
import { afterTimeout, onAbort } from '../waiting/signal.js'
import { attachFailure, attachReply } from './attach.js'
import { fcallCommand, NO_REPLY, RedisConnection, redactUrl } from './connection.js'
import { redisKey } from './keys.js'
import type { RedisLibrary } from './library.js'
import { redisLimits } from './limits.js'
import { replyArray, unexpectedReply } from './reply.js'

/** What a kind of `/redis` object declares once. */
export interface RedisObjectKind {
  /** The kind on the server and in the handle ('queue', 'rlock', 'shared-value'): every function's first argument. */
  readonly kind: string
  /** The kind in messages ('joinable queue'). */
  readonly label: string
  /** The class's export name: inspect prints it, `Process` revives with it. */
  readonly className: string
  /** File URL of the module that exports the class (`import.meta.url` of its file). */
  readonly module: string
  /** The library whose functions the object calls. */
  readonly library: RedisLibrary
  /** The parts of the object's keys (`redisKey(name, part)`), in the order its functions take them. */
  readonly keyParts: readonly string[]
  /** Put before the object's number in its id (`q` makes `<clientId>/q7`). */
  readonly idPrefix: string
  /**
   * The functions of `library`, by short name (`create`; the server's name
   * carries the library's version), that attach (args: the kind's create
   * arguments; reply `[status, …]`), detach (args: `beginClose()`'s) and
   * remove (args: the kind; reply: `onUnlinked`'s) an object.
   */
  readonly functions: { readonly create: string; readonly close: string; readonly unlink: string }
  /**
   * True: a call the server does not answer within `lease` ms rejects with
   * ConnectionError (it may still take effect). False (kinds whose calls
   * wait on the server): within `lease` ms, at least redisLimits.reply (a
   * first call may also load the library), counted for a call that waits
   * from its own timeout (`RedisCallOptions.waits`).
   */
  readonly replyWithinLease: boolean
  /**
   * True: objects of the kind wait on the server. Wake-up messages to the
   * object's id go to `onWake`, every reconnect renews (a wake-up lost
   * meanwhile is learnt from the renew's reply), and a lost socket runs
   * `failWaiters`.
   */
  readonly waits: boolean
}

/** How an object attaches: the fields every kind's attach spec has. */
export interface RedisAttachSpec {
  /** `new X()`: create (ExistsError when taken); `open`: attach only; `create`: create or attach, atomically. */
  mode: 'new' | 'open' | 'create'
  name: string
  url: string
  lease: number
  /** `from()` a handle taken while its creator was still creating: a missing name is waited for (CREATOR_WAIT_MS). */
  awaitCreator?: boolean
}

/** The `.handle` of a `/redis` object: plain JSON; `X.from(handle)` attaches anywhere. */
export interface RedisHandle {
  kind: string
  name: string
  /** The server's URL (as given, credentials included: treat the handle as a secret when it has any). */
  url: string
  /** The lease of the object that made the handle, ms. */
  lease: number
  /**
   * Present (true) when the handle was taken before its creator's create
   * reached the server: `from()` then waits up to 5 s for the name to appear
   * instead of reporting it missing at once.
   */
  creating?: boolean
  [field: string]: unknown
}

/** Options of `RedisObject.call`. */
export interface RedisCallOptions {
  /**
   * A call that waits on the server for a condition (a blocked get, put,
   * join or acquire): its own timeout, ms (Infinity: none, so no limit
   * either). Its reply limit counts from then, so the call ends by its own
   * timer with its own outcome (Empty, false, …), never by the limit.
   */
  waits?: number
  /**
   * Runs with a reply that came after the limit (the call had rejected with
   * ConnectionError), so what it granted can be given back. A throw there is
   * dropped.
   */
  late?: (reply: unknown) => void
  /**
   * A call no caller awaits (a renewal: `renew()` passes it): it neither
   * keeps the process alive nor, unanswered, holds it until its limit.
   */
  background?: boolean
}

/** A promise handler that drops what it is given. */
const ignoreOutcome = (): void => {}

/** ConnectionErrors of calls the server did not answer within their limit (not of a lost or refused connection). */
const unanswered = new WeakSet<Error>()

/** Objects made by this copy of @ipc/core: the number in their ids. */
let objectCount = 0

/**
 * The base class of every `/redis` class. Not exported to users; use the classes.
 */
export abstract class RedisObject implements AsyncDisposable {
  readonly #kind: RedisObjectKind
  readonly #name: string
  readonly #url: string
  readonly #lease: number
  /** How long a call waits for its reply, ms: see `RedisObjectKind.replyWithinLease`. */
  readonly #replyLimit: number
  readonly #keys: string[]
  readonly #connection: RedisConnection
  readonly #ready: Promise<void>
  /** Made by `new` or `{ create }`: its handle says `creating` until the attach lands. */
  readonly #creating: boolean
  readonly #unsubscribe: (() => void)[] = []
  /** This object's id on the server (the prefix of its waiter ids, the route of its wake-ups). */
  protected readonly objectId: string
  #attached = false
  #created = false
  #persistent = false
  #closed = false
  #fault: Error | undefined
  #waiterCount = 0
  #heartbeat: NodeJS.Timeout | undefined
  #renewTimer: NodeJS.Timeout | undefined
  /** A renewal is on its way; `#renewAgain`: another was asked for meanwhile. */
  #renewing = false
  #renewAgain = false
  #connectionHeld = true
  /** The FCALL of each function up to this object's own arguments (kind, id, idle), built on first use. */
  readonly #commands = new Map<string, readonly string[]>()
  /** Calls made after close() began, until they settle (close() waits for them). */
  readonly #afterClose = new Set<Promise<void>>()

  /**
   * Starts attaching (in the background: a constructor cannot await). The
   * create function gets `createArgs` after the arguments every call takes.
   */
  protected constructor(kind: RedisObjectKind, spec: RedisAttachSpec, createArgs: readonly (string | number)[]) {
    this.#kind = kind
    this.#name = spec.name
    this.#url = spec.url
    this.#lease = spec.lease
    this.#replyLimit = kind.replyWithinLease ? spec.lease : Math.max(spec.lease, redisLimits.reply)
    this.#keys = kind.keyParts.map((part) => redisKey(spec.name, part))
    this.#creating = spec.mode !== 'open'
    this.#connection = RedisConnection.acquire(spec.url)
    // "<clientId>/<prefix><n>.<random>": the random part (72 bits) makes the ids of this object's
    // calls ("<objectId>/<m>") unguessable, so a client that may PUBLISH but not read our keys
    // or channels cannot forge a wake-up for one. Only base64url characters and '.': the
    // libraries split ids at '/' and '|'.
    this.objectId = `${this.#connection.clientId}/${kind.idPrefix}${++objectCount}.${randomBytes(9).toString('base64url')}`
    if (kind.waits) {
      const connection = this.#connection
      this.#unsubscribe.push(
        connection.onWake(this.objectId, (message) => this.onWake(message)),
        connection.onReady(() => void this.#renew()),
        // On a cluster: a loss of this object's master, or of the node holding the wake-up socket.
        connection.onLost((error) => this.failWaiters(error), this.#keys[0]),
      )
    }
    this.#ready = this.#attach(spec, createArgs)
    // A constructor cannot await: the first call rejects with the attach error.
    this.#ready.catch(() => {})
  }

  /**
   * A new id for one waiting call of this object: "<objectId>/<n>", so
   * "<clientId>/<object>/<n>", the form the libraries check
   * (`ipc_waiter_ok` in LUA_PRELUDE) and route wake-ups by.
   */
  protected newWaiterId(): string {
    return `${this.objectId}/${++this.#waiterCount}`
  }

  /** The name any process opens it by (`X.open(name)`). */
  get name(): string {
    return this.#name
  }

  /** The server's URL, without its password. */
  get url(): string {
    return redactUrl(this.#url)
  }

  /** This object's lease, ms: how long what it holds on the server outlives its last renewal. */
  get lease(): number {
    return this.#lease
  }

  /** A small plain JSON object; `X.from(handle)` attaches to the same object in any process, on any machine. */
  get handle(): RedisHandle {
    const handle: RedisHandle = {
      kind: this.#kind.kind,
      name: this.#name,
      ...this.handleFields(),
      url: this.#url,
      lease: this.#lease,
    }
    if (this.#creating && !this.#attached) handle.creating = true
    return handle
  }

  /** True when this object created it on the server (known once `ready()` resolved). */
  get created(): boolean {
    return this.#created
  }

  /** True when it stays on the server until `unlink()` (known once `ready()` resolved). */
  get persistent(): boolean {
    return this.#persistent
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Resolves once the object is attached on the server (created, or
   * opened). Every call waits for it; call it to see an attach error early.
   * @throws {ExistsError} `new X({ name })` found the name taken.
   * @throws {NotFoundError} `X.open(name)` found no object with that name.
   * @throws {IncompatibleError} The name holds another kind.
   * @throws {ConnectionError} The server cannot be reached.
   */
  async ready(): Promise<this> {
    await this.#ready
    return this
  }

  /** The kind ('queue', 'rlock', …). */
  protected get kind(): string {
    return this.#kind.kind
  }

  /** The kind in messages ('joinable queue'). */
  protected get label(): string {
    return this.#kind.label
  }

  /** `queue "jobs"`: the object in messages. */
  protected get what(): string {
    return `${this.#kind.label} "${this.#name}"`
  }

  /** The server's URL as given (credentials included): for opening other objects on the same server. */
  protected get serverUrl(): string {
    return this.#url
  }

  /** True once the attach landed (and `onAttached` finished). */
  protected get attached(): boolean {
    return this.#attached
  }

  async #attach(spec: RedisAttachSpec, createArgs: readonly (string | number)[]): Promise<void> {
    try {
      // A handle taken before its creator's create landed: the name may appear within CREATOR_WAIT_MS.
      const reply = await attachReply(
        async () => replyArray(await this.#attachCall(createArgs), 'create'),
        (answer) => answer[0] === 'missing',
        spec.awaitCreator === true,
      )
      const failure = this.attachError(reply)
      if (failure !== undefined) throw failure
      if (reply[0] !== 'created' && reply[0] !== 'opened') unexpectedReply('create', reply)
      this.#persistent = this.readAttach(reply)
      this.#created = reply[0] === 'created'
      this.#heartbeat = setInterval(() => void this.#renew(), Math.max(10, Math.floor(this.#lease / 3)))
      this.#heartbeat.unref()
      await this.onAttached()
      this.#attached = true
    } catch (error) {
      // Every later call rejects with this error; close() still works.
      this.#fault = error as Error
      this.#releaseConnection()
      throw error
    }
  }

  /** The error a create reply's failed status stands for ('missing', 'exists', …), or undefined. */
  protected attachError(reply: unknown[]): Error | undefined {
    return attachFailure(reply[0], reply[1], this.#kind.label, this.#name)
  }

  /**
   * Reads the kind's fields of a create reply whose status is 'created' or
   * 'opened' (throwing CorruptError on one the library never sends) and
   * returns whether the object is persistent.
   */
  protected abstract readAttach(reply: unknown[]): boolean

  /** Runs after the attach landed and the heartbeat started, before `ready()` resolves; a throw fails the attach. */
  protected async onAttached(): Promise<void> {}

  /** The kind's fields of the handle, between `name` and `url`. */
  protected handleFields(): Record<string, unknown> {
    return {}
  }

  /** The kind's fields of `inspect()`, after `name` and `url` (`closed: true` follows when closed). */
  protected inspectFields(): Record<string, unknown> {
    return {}
  }

  /**
   * Calls library function `fn` (its short name) with this object's keys and, before `args`,
   * the arguments every function takes: kind, object id, and how long the
   * server keeps this object's entries after a renewal (3 leases).
   * @throws {ConnectionError} The server cannot be reached, or did not answer within the
   * object's reply limit (counted from `options.waits`, the call's own timeout, for a call that waits).
   */
  protected call(fn: string, args: readonly (string | number)[], options?: RedisCallOptions): Promise<unknown> {
    const sent = this.#send(this.#connection, this.#command(fn, args), undefined, options)
    if (this.#closed && fn !== this.#kind.functions.close) {
      // Made after close() began (a give-back of a grant that came with the close's reply, a
      // cancel): close() waits for it before it lets the connection go (see #settleAfterClose).
      const settled = sent.then(ignoreOutcome, ignoreOutcome)
      this.#afterClose.add(settled)
      void settled.then(() => this.#afterClose.delete(settled))
    }
    return sent
  }

  /**
   * Waits until no call made after close() began is in flight. Such calls
   * start from replies that came with the close's (each bounded by its reply
   * limit), so a turn of the event loop first lets those replies' handlers
   * run; a call's reply may start another (a cancel answered 'granted', then
   * its give-back). Without this the connection's last user would destroy
   * it with the give-back unsent, and the grant would stay held for a lease.
   */
  async #settleAfterClose(): Promise<void> {
    do {
      await new Promise((resolve) => setImmediate(resolve))
      await Promise.all(this.#afterClose)
    } while (this.#afterClose.size > 0)
  }

  /** The FCALL of `fn` with this object's keys, the arguments every function takes, then `args`. */
  #command(fn: string, args: readonly (string | number)[]): string[] {
    let prefix = this.#commands.get(fn)
    if (prefix === undefined) {
      prefix = fcallCommand(this.#kind.library, fn, this.#keys, [this.#kind.kind, this.objectId, this.#lease * 3])
      this.#commands.set(fn, prefix)
    }
    const command = prefix.slice()
    for (const arg of args) command.push(typeof arg === 'string' ? arg : String(arg))
    return command
  }

  /**
   * The create call of the attach, bounded as every call is: a server that
   * accepts it and never answers fails the attach with ConnectionError
   * instead of holding it, and every call waiting for it, forever.
   */
  #attachCall(createArgs: readonly (string | number)[]): Promise<unknown> {
    const command = this.#command(this.#kind.functions.create, createArgs)
    return this.#send(this.#connection, command, `the attach of ${this.what}`)
  }

  /**
   * One FCALL (`fcallCommand` with this object's keys) on `connection`, given
   * the reply limit to answer (after `options.waits` ms for a call that
   * waits), then ConnectionError; `what` names the call in that message
   * (undefined: any call).
   */
  #send(
    connection: RedisConnection,
    command: string[],
    what: string | undefined,
    options?: RedisCallOptions,
  ): Promise<unknown> {
    const limit = this.#replyLimit
    const waits = options?.waits ?? 0
    // A wait without a timeout (get(), acquire()): the client's own reply needs no limit either.
    if (waits === Number.POSITIVE_INFINITY)
      return connection.send(this.#kind.library, command, { deadline: Number.POSITIVE_INFINITY })
    const late = options?.late
    const deadline = performance.now() + waits + limit
    return connection
      .send(this.#kind.library, command, {
        deadline,
        background: options?.background === true,
        // The connection runs it in a reaction nothing awaits: a throw would be an unhandled rejection.
        late:
          late &&
          ((reply) => {
            try {
              late(reply)
            } catch {}
          }),
      })
      .then((reply) => {
        if (reply !== NO_REPLY) return reply
        const within = `${limit} ms${limit === this.#lease ? ' (the lease)' : ''}${waits > 0 ? ` after its ${Math.round(waits)} ms wait` : ''}`
        const error = new ConnectionError(
          what === undefined
            ? `Redis at ${this.url} did not answer within ${within}; the call may still take effect`
            : `Redis at ${this.url} did not answer ${what} within ${within}; it may still take effect`,
        )
        unanswered.add(error)
        throw error
      })
  }

  /**
   * The error a reply of 'missing', 'corrupt' or 'incompatible' stands for
   * (the keys were removed, garbled or replaced), naming the call by `what`
   * (a verb: 'acquire', 'read'); undefined for any other reply.
   */
  protected replyError(reply: unknown[], what: string): Error | undefined {
    switch (reply[0]) {
      case 'missing':
        return new NotFoundError(
          `Cannot ${what} ${this.what}: it no longer exists on the server (unlinked, or every object was gone for longer than 3 leases)`,
        )
      case 'corrupt':
        return new CorruptError(
          `Cannot ${what} ${this.what}: its state on the server breaks its layout's rules (${String(reply[1])})`,
        )
      case 'incompatible':
        return new IncompatibleError(`Cannot ${what} ${this.what}: its name now holds a ${String(reply[1])}`)
      default:
        return undefined
    }
  }

  /** Throws the error `replyError` finds, kept as this object's fault. */
  protected checkGone(reply: unknown[], what: string): void {
    const error = this.replyError(reply, what)
    if (error !== undefined) throw this.setFault(error)
  }

  /** Makes `error` this object's fault unless it has one: every later call rejects with the fault. Returns the fault. */
  protected setFault(error: Error): Error {
    this.#fault ??= error
    return this.#fault
  }

  /** Throws ClosedError after `close()`, and the fault once there is one. */
  protected assertOpen(what: string): void {
    if (this.#closed) throw new ClosedError(`Cannot ${what} ${this.what}: it was closed`)
    if (this.#fault !== undefined) throw this.#fault
  }

  /**
   * Checks the object (and `signal`) before and after waiting for the attach;
   * throws as the call must. Returns undefined when the object is attached
   * already (nothing to wait for: the call goes on in the same tick), else a
   * promise of the attach and the checks after it.
   *
   * `timeout` (ms, the call's own) bounds that wait: the promise resolves
   * with the ms of it left once attached (at least 1), or false when it
   * passed first; the call then ends as its timeout says, nothing sent for
   * it. With 0 (a call that tries once: the attach is part of its one
   * round trip) or Infinity it resolves with `timeout` once attached (the
   * attach has a bound of its own: `#attachCall`). An abort of `signal`
   * meanwhile rejects with its reason at once.
   */
  protected enter(what: string, signal?: AbortSignal, timeout = 0): Promise<number | false> | undefined {
    this.assertOpen(what)
    if (signal?.aborted) throw signal.reason
    if (this.#attached) return undefined
    const bounded = timeout > 0 && timeout !== Number.POSITIVE_INFINITY
    const deadline = performance.now() + timeout
    const after = (): number => {
      this.assertOpen(what)
      if (signal?.aborted) throw signal.reason
      return bounded ? Math.max(1, deadline - performance.now()) : timeout
    }
    if (!bounded && signal === undefined) return this.#ready.then(after)
    return new Promise<number | false>((resolve, reject) => {
      let cancelTimer = () => {}
      let removeAbort = () => {}
      const done = () => {
        cancelTimer()
        removeAbort()
      }
      if (bounded)
        cancelTimer = afterTimeout(timeout, () => {
          done()
          resolve(false)
        })
      removeAbort = onAbort(signal, () => {
        done()
        reject(signal?.reason)
      })
      this.#ready.then(after).then(
        (left) => {
          done()
          resolve(left)
        },
        (error: unknown) => {
          done()
          reject(error)
        },
      )
    })
  }

  /**
   * Renews this object's entries on the server (the heartbeat, every
   * lease/3 ms; for kinds that wait, also after every reconnect). A throw of
   * NotFoundError, IncompatibleError or CorruptError makes the object
   * unusable; any other error is a passing one (the next renewal tries again).
   * Its calls pass `{ background: true }`: a renewal must not keep the process alive.
   */
  protected abstract renew(): Promise<void>

  /** Keeps the process alive (the connection's sockets ref'd) until the returned function runs: for a call between its request and its wake-up. */
  protected keepAlive(): () => void {
    return this.#connection.keepAlive()
  }

  /** Renews once more after `ms` (as well as on the heartbeat). */
  protected renewIn(ms: number): void {
    if (this.#renewTimer !== undefined) clearTimeout(this.#renewTimer)
    this.#renewTimer = setTimeout(() => {
      this.#renewTimer = undefined
      void this.#renew()
    }, ms)
    this.#renewTimer.unref()
  }

  async #renew(): Promise<void> {
    // Nothing to renew before the create reply (the heartbeat starts with it): a from() that waits for
    // its creator would find the name missing and be marked gone for good (a reconnect's 'ready', or a
    // cluster node's first connect, asks every object to renew).
    if (this.#closed || this.#fault !== undefined || this.#heartbeat === undefined) return
    // One renewal in flight at most (a silent server must not collect one per heartbeat); one asked
    // for meanwhile (a heartbeat, a reconnect's ready, renewIn) runs once after it, since a wake-up
    // lost meanwhile may have come after the server ran the one in flight.
    if (this.#renewing) {
      this.#renewAgain = true
      return
    }
    this.#renewing = true
    try {
      await this.renew()
    } catch (error) {
      // Unreachable, or a passing server error (LOADING after a restart, OOM): the next renewal tries
      // again. Pending waits reject as on a lost socket: a wake-up may not reach them either, and no
      // reconnect may name this object (on a cluster, a node its calls are ASKed to while its slot
      // migrates); their callers may call again. Not for a renewal the server did not answer (stopped,
      // overloaded): the socket is there and a wake-up may still come, so each wait ends by its own
      // timeout with its own outcome (Empty, false, …); a lost socket ends them all (onLost).
      if (error instanceof ConnectionError && !unanswered.has(error)) this.failWaiters(error)
      if (!(error instanceof NotFoundError || error instanceof IncompatibleError || error instanceof CorruptError))
        return
      // Gone, replaced or garbled: this object is unusable from now on (close() still works).
      this.setFault(error)
      this.failWaiters(error)
    } finally {
      this.#renewing = false
      if (this.#renewAgain) {
        this.#renewAgain = false
        void this.#renew()
      }
    }
  }

  /** A wake-up message to this object's id (kinds that wait). */
  protected onWake(_message: string): void {}

  /** Rejects this object's pending waits with `error` (a lost socket, or the object became unusable). */
  protected failWaiters(_error: Error): void {}

  /**
   * Runs as `close()` begins (`closed` is already true): settles the kind's
   * local state (rejects pending calls, drops what it holds) and returns the
   * arguments of its close function.
   */
  protected beginClose(): (string | number)[] {
    return []
  }

  /**
   * Detaches this object and stops renewing; the last object to close
   * removes a non-persistent object from the server. Waits for an attach
   * still on its way (so the detach follows it). Idempotent. Bounded like
   * every call: the local state is given up even when the server does not answer.
   * A grant that came back with the close's reply (an acquire the close cut
   * short) is given back before it resolves.
   * @throws {ConnectionError} The server cannot be reached or did not answer (this object's entries then lapse after its lease).
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const args = this.beginClose()
    try {
      // Never attached (the attach failed): nothing to detach.
      const attached = await this.#ready.then(
        () => true,
        () => false,
      )
      if (attached) await this.call(this.#kind.functions.close, args)
    } catch (error) {
      if (error instanceof ConnectionError) throw error
      // Already gone from the server (unlinked): nothing to give back.
    } finally {
      await this.#settleAfterClose()
      this.#releaseConnection()
    }
  }

  /** Stops renewing and gives the shared connection back (idempotent). */
  #releaseConnection(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat)
    if (this.#renewTimer !== undefined) clearTimeout(this.#renewTimer)
    this.#heartbeat = undefined
    this.#renewTimer = undefined
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe()
    if (this.#connectionHeld) {
      this.#connectionHeld = false
      this.#connection.release()
    }
  }

  /** Alias of `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /**
   * Removes the object from the server now: later `X.open(name)` fail (or
   * create anew), and objects still attached fail with `NotFoundError`.
   * Works after `close()` too.
   * @throws {ConnectionError} The server cannot be reached.
   */
  async unlink(): Promise<void> {
    await this.#ready.catch(() => {})
    // Its own reference: unlink() also works after close().
    const connection = RedisConnection.acquire(this.#url)
    try {
      const command = fcallCommand(this.#kind.library, this.#kind.functions.unlink, this.#keys, [this.#kind.kind])
      await this.onUnlinked(await this.#send(connection, command, 'unlink'))
    } finally {
      connection.release()
    }
  }

  /** Runs with the unlink function's reply (before the connection unlink used is given back). */
  protected async onUnlinked(_reply: unknown): Promise<void> {}

  /** How `Process` revives this object in a child (the class is found by module and export name). */
  [TRANSFER](): TransferDescriptor {
    return { module: this.#kind.module, export: this.#kind.className, handle: this.handle }
  }

  /** `Queue (Redis) { name: 'jobs', url: 'redis://…', … }`: local state only (the server's needs a call). */
  [inspect.custom](_depth: number, options: object): string {
    const fields: Record<string, unknown> = { name: this.#name, url: this.url, ...this.inspectFields() }
    if (this.#closed) fields.closed = true
    return `${this.#kind.className} (Redis) ${inspect(fields, options)}`
  }
}
