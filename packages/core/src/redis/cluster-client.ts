/**
 * A Redis Cluster behind the one-server client that connection.ts uses, so
 * that every `/redis` primitive works on a cluster given the URL of any of
 * its nodes.
 *
 * Why this is all a cluster needs: every function call names its keys, and
 * the keys of one primitive share one hash slot (`{name}`, keys.ts), so each
 * FCALL goes to the master of its first key's slot (@redis/client follows
 * MOVED and ASK). A function library is loaded on the master of the call
 * that needs it (`load`); another master answers "Function not found" to its
 * first call of that library, and the connection loads it there and resends
 * (on every connected master if the call still finds none: it was ASKed to
 * the node its migrating slot goes to).
 * Wake-ups stay plain PUBLISH: a cluster delivers one to subscribers on every
 * node, so the one subscriber of a process hears the functions of every
 * master.
 *
 * Every master is connected when the client connects, so a process cannot
 * start while one of them is down. Connecting nodes when first used
 * (`minimizeConnections`) would lift that, but is not used: calls to the
 * slots of a master that is down at start would fail until it comes back,
 * even once a replica has taken over, since only a node that has been ready
 * makes @redis/client look at the layout again (and a MOVED, which never
 * comes from a node that does not answer).
 * (It also made a from() waiting for its creator find the name gone: a
 * node's first connect says `ready`, which asked every object to renew before
 * its attach; redis-object.ts no longer renews before the create reply.)
 *
 * Reconnects: a node client that has been ready reconnects for as long as
 * its node is down, as the one-server sockets do (one that gave up would
 * never be made again: @redis/client replaces only a client whose first
 * connect failed). A client that never was ready (a node the cluster named
 * after this one connected, such as a promoted replica) gives up after
 * FIRST_CONNECT_TRIES (about 5 s): a node that never answers must not hold
 * the calls and the layout look that wait for its connect. Once a node has
 * been reconnecting for TOPOLOGY_REFRESH_MS (it refuses connections: a node
 * that stops answering on an open socket is not noticed before the OS gives
 * up on the socket, as with one server), the client asks the others for the
 * slots again, and again every TOPOLOGY_REFRESH_MS, so calls reach a
 * promoted replica by themselves (the subscriber too). Writes the old master
 * had not replicated are lost with it: Redis replicates asynchronously.
 *
 * Trust: a node's answer about the cluster's layout is checked as
 * @redis/client applies it (cluster-layout.ts); a refused one fails that
 * look and leaves the layout as it was.
 *
 * Events are the node clients': `reconnecting` and `ready` of any node stand
 * for the whole cluster (a lost node may have lost wake-ups or loaded
 * libraries). ref/unref reach every node socket, including ones the cluster
 * opens later (on `node-connect`).
 *
 * The wake-up socket is kept: @redis/client moves it when its node leaves the
 * layout, to a node picked at random, and drops it for good when that node
 * refuses (down), or keeps it holding nothing when the node fails the
 * SUBSCRIBE. Every KEEP_SUBSCRIBER_MS a look makes it again (or subscribes
 * it again) where there is none, and says `ready` once a made or moved one
 * is subscribed: wake-ups sent while there was none are lost (and the new
 * node's own `ready` comes before its SUBSCRIBE), so each object renews and
 * learns what it missed. A made socket whose connect or SUBSCRIBE is not
 * answered within the connect limit (redisLimits.connect) is dropped, and a later look picks again.
 * Without the look, waits would end only through their renewals (every
 * lease / 3).
 */
import type { RedisClusterOptions } from '@redis/client'
import { afterTimeout, within } from '../waiting/signal.js'
import { guardLayout, LayoutError } from './cluster-layout.js'
import type { Client } from './connection.js'
import { clusterSlot } from './keys.js'
import { redisLimits } from './limits.js'

/** The part of a node's client used here. */
interface NodeClient {
  readonly isReady: boolean
  /** Whether it holds a subscription or is making one (a pub/sub socket). */
  readonly isPubSubActive?: boolean
  destroy(): void
  sendCommand(args: readonly string[]): Promise<unknown>
  ref(): void
  unref(): void
}

/** @redis/client's wake-up socket (its cluster's pubSubNode). */
interface WakeNode {
  address: string
  client: NodeClient
  connectPromise?: Promise<unknown>
}

/** The part of @redis/client's RedisCluster used here. */
interface Cluster {
  connect(): Promise<unknown>
  destroy(): void
  sendCommand<T = unknown>(firstKey: string | undefined, isReadonly: boolean, args: readonly string[]): Promise<T>
  subscribe(channel: string, listener: (message: string) => void): Promise<void>
  on(event: string, listener: (...args: unknown[]) => void): unknown
  off(event: string, listener: (...args: unknown[]) => void): unknown
  getNodeClientForKey(key: string): Promise<NodeClient>
  readonly isReady: boolean
  readonly masters: readonly { client?: NodeClient; pubSub?: { client: NodeClient } }[]
  readonly nodeByAddress: Map<string, { client?: NodeClient }>
  readonly pubSubNode?: WakeNode
  /** Where @redis/client keeps the wake-up socket (its RedisClusterSlots), writable there. */
  readonly _slots?: { pubSubNode?: WakeNode | undefined }
  readonly slots: readonly ({ master: { address: string } } | undefined)[]
}

export interface ClusterModule {
  createCluster(options: RedisClusterOptions): Cluster
}

/** What a client built here adds to the one-server client. */
export interface ClusterClient extends Client {
  /**
   * Sends `load` (FUNCTION LOAD) to the master that owns `command`'s slot (an
   * FCALL), or with `everywhere` to every master connected now: a call that
   * still finds no function after a load on the owner ran elsewhere, on the
   * node an ASK sent it to while its slot migrates.
   */
  load(command: readonly string[], load: readonly string[], everywhere: boolean): Promise<void>
  /**
   * Whether a reconnect of the node at `address` ("host:port") may have cost
   * a wait on `key` its wake-up: `key`'s master is that node (its waiter
   * entry may be gone with it), or the wake-up socket is on that node (or
   * there is none), or the layout does not say. (A node that a migrating
   * slot's calls are ASKed to is not named here: the failed renewal of the
   * object rejects its waits, redis-object.ts.)
   */
  affects(address: string, key: string): boolean
}

/** How long a node reconnects before the client asks the cluster for its slots again (@redis/client's default: 5 s). */
export const TOPOLOGY_REFRESH_MS = 1000

/** Failed first connects after which a node client that never was ready gives up (50 ms doubling to 1 s apart: ~5 s). */
export const FIRST_CONNECT_TRIES = 9

/** The longest a load on every master (a call ASKed to a node without our functions) holds the call, ms. */
export const LOAD_EVERYWHERE_MS = 2000

/** Nodes the subscriber tries (each picked at random) before connecting fails: one in 3^12 with a third of them down. */
const SUBSCRIBE_TRIES = 12

/** How often the client looks for a wake-up socket that @redis/client dropped, ms. */
export const KEEP_SUBSCRIBER_MS = 1000

let warnedUnchecked = false

/** Once per process: this @redis/client's internals are not the ones cluster-layout.ts checks. */
function warnUnchecked(): void {
  if (warnedUnchecked) return
  warnedUnchecked = true
  process.emitWarning(
    "@ipc/core: this @redis/client version's cluster internals are not the expected ones (6.3 to 6.4), so a Redis Cluster node's layout answers (CLUSTER SLOTS) are used unchecked",
    { code: 'IPC_REDIS_CLUSTER_UNCHECKED' },
  )
}

const ignore = () => {}

/** The node client event standing for each one-server client event. */
const NODE_EVENTS: Record<string, string> = { ready: 'node-ready' }

/** The one-server client options connection.ts gives every client. */
interface NodeOptions {
  socket: { reconnectStrategy: (retries: number, cause: Error) => number | Error; [option: string]: unknown }
  [option: string]: unknown
}

/** The key an FCALL is routed by (FCALL name numkeys key…), or undefined (any node). */
function firstKey(args: readonly string[]): string | undefined {
  return args[0] === 'FCALL' && Number(args[2]) > 0 ? args[3] : undefined
}

/**
 * A cluster client reached through `url` (any node), with `defaults` (the
 * options of a one-server client, minus the URL) for every node. It serves
 * both the calls (a socket per master) and the wake-ups (`subscribe`, on a
 * socket of its own to one node).
 */
export function clusterClient(module: ClusterModule, url: string, defaults: NodeOptions): ClusterClient {
  const parsed = new URL(url)
  const strategy = defaults.socket.reconnectStrategy
  // "host:port" of the nodes whose client has been ready (and not ended since).
  const ready = new Set<string>()
  const cluster = module.createCluster({
    rootNodes: [{ url }],
    defaults: {
      ...defaults,
      // The URL's credentials and TLS hold for every node (the cluster learns the others' host and port only).
      ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
      ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
      socket: {
        ...defaults.socket,
        ...(parsed.protocol === 'rediss:' ? { tls: true } : {}),
      },
    } as RedisClusterOptions['defaults'],
    useReplicas: false,
    topologyRefreshOnReconnectionAttemptStrategy: TOPOLOGY_REFRESH_MS,
    // Each node's socket options, merged over `defaults.socket` (a new object each time: a client keeps it).
    nodeAddressMap: (address: string) => ({
      ...layout.nodeAddress(address),
      reconnectStrategy: (retries: number, cause: Error) =>
        !ready.has(address) && retries >= FIRST_CONNECT_TRIES ? cause : strategy(retries, cause),
    }),
  })
  const layout = guardLayout(cluster)
  if (!layout.checksSlots) warnUnchecked()
  const addressOf = (info: unknown) => {
    const { host, port } = info as { host: string; port: number }
    return `${host}:${port}`
  }
  cluster.on('node-ready', (info) => ready.add(addressOf(info)))
  cluster.on('node-disconnect', (info) => ready.delete(addressOf(info)))
  let refed = true
  const sockets = (): NodeClient[] => {
    const all = new Set<NodeClient>()
    for (const node of cluster.nodeByAddress.values()) if (node.client !== undefined) all.add(node.client)
    for (const master of cluster.masters) if (master.pubSub !== undefined) all.add(master.pubSub.client)
    if (cluster.pubSubNode !== undefined) all.add(cluster.pubSubNode.client)
    return [...all]
  }
  const apply = () => {
    for (const socket of sockets())
      if (refed) socket.ref()
      else socket.unref()
  }
  cluster.on('node-connect', apply)
  // The wake-up socket's one subscription (a process has one), once made, and the socket
  // (@redis/client's pubSubNode) last seen subscribed; see "kept" above.
  let kept: { channel: string; listener: (message: string) => void } | undefined
  let subscriber: object | undefined
  let destroyed = false
  const readyListeners = new Set<(...args: unknown[]) => void>()
  const subscribed = () => {
    for (const listener of readyListeners) listener()
  }
  // The wake-up socket, or undefined where there is none: dropped, or connected but holding no
  // subscription (its SUBSCRIBE was refused; @redis/client keeps such a socket). One being made
  // counts as there (its connect or its re-subscribe is under way).
  const wakeSocket = () => {
    const node = cluster.pubSubNode
    if (node === undefined || kept === undefined || node.connectPromise !== undefined) return node
    return node.client.isPubSubActive === false ? undefined : node
  }
  let remaking = false
  const remake = async () => {
    if (kept === undefined || remaking || destroyed || !cluster.isReady) return
    remaking = true
    try {
      // subscribe() makes the socket (or takes the refused one) before it awaits: a look meanwhile
      // must not take it for one @redis/client moved.
      const subscribing = cluster.subscribe(kept.channel, kept.listener)
      const node = cluster.pubSubNode
      subscriber = node
      // A node that accepts the socket and never answers its handshake or its SUBSCRIBE would
      // hold the remake for good: after the connect limit the socket is dropped, and the next look
      // picks again. @redis/client forgets a socket whose connect failed, not one whose SUBSCRIBE
      // never came back, so it is unset here as @redis/client unsets its own.
      await within(subscribing, redisLimits.connect, () => {
        const slots = cluster._slots
        if (node === undefined || cluster.pubSubNode !== node) {
          // Replaced meanwhile: not ours to drop.
        } else if (node.connectPromise !== undefined) node.client.destroy()
        else if (slots?.pubSubNode === node) {
          node.client.destroy()
          slots.pubSubNode = undefined
        }
        // (Where @redis/client's internals differ, a subscribed socket is kept: a destroyed one
        // it still holds would never be made again; waits then end through their renewals.)
        throw new Error('no answer')
      })
      if (destroyed) return
      subscriber = cluster.pubSubNode
      subscribed()
    } catch {
      // Its node refused too: the next look picks again (or sends SUBSCRIBE again on it).
    } finally {
      remaking = false
    }
  }
  let stopKeeping = () => {}
  const look = () => {
    if (kept === undefined || destroyed) return
    const node = cluster.pubSubNode
    if (wakeSocket() === undefined) void remake()
    else if (node !== undefined && node !== subscriber) {
      // @redis/client moved it: its node's `ready` came before the SUBSCRIBE, so wake-ups sent in
      // between are lost; say ready again once it is subscribed (connectPromise covers both).
      subscriber = node
      Promise.resolve(node.connectPromise).then(() => {
        if (cluster.pubSubNode === node && !destroyed) subscribed()
      }, ignore)
    }
    stopKeeping = afterTimeout(KEEP_SUBSCRIBER_MS, look, true)
  }
  return {
    // A connect that failed says why: @redis/client says only "All the root nodes are
    // unavailable", and reports each node's failure (a refused layout, a login another node
    // refused) as an 'error' event.
    async connect() {
      let refused: LayoutError | undefined
      let last: Error | undefined
      const note = (error: unknown) => {
        if (error instanceof LayoutError) refused = error
        else if (error instanceof Error) last = error
      }
      cluster.on('error', note)
      try {
        await cluster.connect()
      } catch (error) {
        if (refused !== undefined) throw refused
        if (last !== undefined && error instanceof Error && error !== last)
          throw new Error(`${error.message}: ${last.message}`, { cause: last })
        throw error
      } finally {
        cluster.off('error', note)
      }
    },
    destroy() {
      destroyed = true
      kept = undefined
      stopKeeping()
      cluster.destroy()
    },
    sendCommand: <T>(args: readonly string[]) => cluster.sendCommand<T>(firstKey(args), false, args),
    // The subscriber goes to a node picked at random: one that is down fails at once, and another try picks again.
    async subscribe(channel, listener) {
      for (let tries = 1; ; tries++) {
        try {
          await cluster.subscribe(channel, listener)
          break
        } catch (error) {
          if (tries >= SUBSCRIBE_TRIES) throw error
        }
      }
      if (destroyed) return
      kept = { channel, listener }
      subscriber = cluster.pubSubNode
      stopKeeping = afterTimeout(KEEP_SUBSCRIBER_MS, look, true)
    },
    on(event, listener) {
      // A reconnect names its node ("host:port"): `affects` tells which waits it concerns.
      if (event === 'reconnecting') cluster.on('node-reconnecting', (info) => listener(addressOf(info)))
      else cluster.on(NODE_EVENTS[event] ?? event, listener)
      if (event === 'ready') readyListeners.add(listener)
      // A node's errors are the cluster's too (its own 'error' is only for discovery).
      if (event === 'error') cluster.on('node-error', listener)
      return this
    },
    ref() {
      refed = true
      apply()
    },
    unref() {
      refed = false
      apply()
    },
    get isReady() {
      return cluster.isReady
    },
    affects(address, key) {
      const master = cluster.slots[clusterSlot(key)]?.master.address
      const subscriber = wakeSocket()?.address
      // No wake-up socket (dropped, or its SUBSCRIBE refused, until a look makes it again): no wait hears anything.
      return master === undefined || master === address || subscriber === undefined || subscriber === address
    },
    async load(command, load, everywhere) {
      if (everywhere) {
        // Masters not connected now are left out, and none holds the call for more than
        // LOAD_EVERYWHERE_MS (one may stop answering on an open socket); a master that refuses
        // (READONLY, BUSY) fails nothing: the call is sent again, and its node answers for itself.
        const connected = cluster.masters.flatMap((master) => (master.client?.isReady ? [master.client] : []))
        await within(
          Promise.allSettled(connected.map((client) => client.sendCommand(load))),
          LOAD_EVERYWHERE_MS,
          () => {},
        )
        return
      }
      const key = firstKey(command)
      if (key === undefined) await cluster.sendCommand(undefined, false, load)
      else await (await cluster.getNodeClientForKey(key)).sendCommand(load)
    },
  }
}
