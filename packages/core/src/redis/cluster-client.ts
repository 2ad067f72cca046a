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
 * start while one of them is down. (Connecting nodes when first used,
 * `minimizeConnections`, would lift that, but made a child process of
 * apps/docs/examples/redis/pool-limit.mjs find its semaphore gone in 4 runs
 * of 12; not understood yet, so not used.)
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
 * Trust: a node's answer about the cluster's layout (CLUSTER SLOTS, asked at
 * connect and at every rediscovery) is checked as @redis/client applies it,
 * since it trusts it: its slot map (`_slots.slots`, 16384 entries) only takes
 * a slot that is an integer from 0 to 16383 and not yet given since the map
 * was reset (one range of 10^11 slots made V8 run out of memory; ranges that
 * overlap would repeat the work), and a node is only made for a port from 1
 * to 65535 while fewer than MAX_NODES are known. A violation throws inside
 * that discovery, which @redis/client then counts as failed (the connect
 * fails with ConnectionError, a refresh tries other nodes): no crash, no
 * unbounded work or sockets. The hosts the nodes name are still trusted (the
 * protocol has nothing else to go by).
 *
 * Events are the node clients': `reconnecting` and `ready` of any node stand
 * for the whole cluster (a lost node may have lost wake-ups or loaded
 * libraries). ref/unref reach every node socket, including ones the cluster
 * opens later (on `node-connect`).
 */
import type { RedisClusterOptions } from '@redis/client'
import type { Client } from './connection.js'

/** The part of a node's client used here. */
interface NodeClient {
  readonly isReady: boolean
  sendCommand(args: readonly string[]): Promise<unknown>
  ref(): void
  unref(): void
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
  readonly nodeByAddress: Map<string, { client?: NodeClient; connectPromise?: Promise<unknown> }>
  readonly pubSubNode?: { client: NodeClient }
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
}

/** How long a node reconnects before the client asks the cluster for its slots again (@redis/client's default: 5 s). */
export const TOPOLOGY_REFRESH_MS = 1000

/** Failed first connects after which a node client that never was ready gives up (50 ms doubling to 1 s apart: ~5 s). */
export const FIRST_CONNECT_TRIES = 9

/** Nodes the subscriber tries (each picked at random) before connecting fails: one in 3^12 with a third of them down. */
const SUBSCRIBE_TRIES = 12

/** Hash slots of a Redis Cluster. */
const SLOTS = 16384

/** Nodes a layout answer may name in all (Redis Cluster's documented size limit is about 1000 nodes). */
export const MAX_NODES = 1000

/** A layout answer that no cluster gives: thrown inside @redis/client's discovery, which then fails. */
class LayoutError extends Error {}

/**
 * The error to throw, inside @redis/client's discovery, for a layout answer
 * that `what`. The discovery stops there, before it awaits the connects of
 * the nodes it made so far: each gets a handler here, or its failure (the
 * cluster destroys them) would be an unhandled rejection, which ends the
 * process.
 */
function refuseLayout(cluster: Cluster, what: string): LayoutError {
  for (const node of cluster.nodeByAddress.values()) node.connectPromise?.catch(() => {})
  return new LayoutError(`a Redis Cluster node's layout answer (CLUSTER SLOTS) ${what}`)
}

/**
 * `slots` (a fresh map, all entries empty) behind a check of every slot given
 * to it: an integer key from 0 to SLOTS - 1, not given before. A valid answer
 * gives each slot once, so a discovery does at most SLOTS + shards steps.
 */
function checkedSlotMap(cluster: Cluster, slots: unknown[]): unknown[] {
  return new Proxy(slots, {
    set(target, key, value) {
      const slot = typeof key === 'string' ? Number(key) : Number.NaN
      if (!(Number.isInteger(slot) && slot >= 0 && slot < SLOTS && String(slot) === key))
        throw refuseLayout(cluster, `names slot ${String(key).slice(0, 30)}, not one of 0 to ${SLOTS - 1}`)
      if (target[slot] !== undefined) throw refuseLayout(cluster, `gives slot ${slot} twice`)
      target[slot] = value
      return true
    },
  })
}

/**
 * Puts every slot map @redis/client builds (a new one at each discovery) behind
 * `checkedSlotMap`. Returns false where its internals are not the expected
 * ones (another major version): the map then stays unchecked.
 */
function checkSlotMaps(cluster: Cluster): boolean {
  const holder = (cluster as { _slots?: { slots?: unknown } })._slots
  if (holder === undefined || !Array.isArray(holder.slots) || holder.slots.length !== SLOTS) return false
  let map = checkedSlotMap(cluster, holder.slots)
  Object.defineProperty(holder, 'slots', {
    configurable: true,
    enumerable: true,
    get: () => map,
    set: (fresh: unknown[]) => {
      map = checkedSlotMap(cluster, fresh)
    },
  })
  return true
}

/** The node client event standing for each one-server client event. */
const NODE_EVENTS: Record<string, string> = { reconnecting: 'node-reconnecting', ready: 'node-ready' }

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
    nodeAddressMap: (address: string) => {
      const colon = address.lastIndexOf(':')
      const port = Number(address.slice(colon + 1))
      if (!(Number.isInteger(port) && port >= 1 && port <= 65535))
        throw refuseLayout(cluster, `names a node at port ${address.slice(colon + 1, colon + 31)}`)
      if (!cluster.nodeByAddress.has(address) && cluster.nodeByAddress.size >= MAX_NODES)
        throw refuseLayout(cluster, `names more than ${MAX_NODES} nodes`)
      return {
        host: address.slice(0, colon),
        port,
        reconnectStrategy: (retries: number, cause: Error) =>
          !ready.has(address) && retries >= FIRST_CONNECT_TRIES ? cause : strategy(retries, cause),
      }
    },
  })
  checkSlotMaps(cluster)
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
  return {
    // A connect that failed on a refused layout says why (@redis/client: "All the root nodes are unavailable").
    async connect() {
      let refused: LayoutError | undefined
      const note = (error: unknown) => {
        if (error instanceof LayoutError) refused = error
      }
      cluster.on('error', note)
      try {
        await cluster.connect()
      } catch (error) {
        throw refused ?? error
      } finally {
        cluster.off('error', note)
      }
    },
    destroy: () => cluster.destroy(),
    sendCommand: <T>(args: readonly string[]) => cluster.sendCommand<T>(firstKey(args), false, args),
    // The subscriber goes to a node picked at random: one that is down fails at once, and another try picks again.
    async subscribe(channel, listener) {
      for (let tries = 1; ; tries++) {
        try {
          return await cluster.subscribe(channel, listener)
        } catch (error) {
          if (tries >= SUBSCRIBE_TRIES) throw error
        }
      }
    },
    on(event, listener) {
      cluster.on(NODE_EVENTS[event] ?? event, listener)
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
    async load(command, load, everywhere) {
      if (everywhere) {
        // Masters not connected now are left out: one that is down must not hold the call.
        const ready = cluster.masters.flatMap((master) => (master.client?.isReady ? [master.client] : []))
        await Promise.all(ready.map((client) => client.sendCommand(load)))
        return
      }
      const key = firstKey(command)
      if (key === undefined) await cluster.sendCommand(undefined, false, load)
      else await (await cluster.getNodeClientForKey(key)).sendCommand(load)
    },
  }
}
