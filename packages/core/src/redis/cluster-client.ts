/**
 * A Redis Cluster behind the one-server client that connection.ts uses, so
 * that every `/redis` primitive works on a cluster given the URL of any of
 * its nodes.
 *
 * Why this is all a cluster needs: every function call names its keys, and
 * the keys of one primitive share one hash slot (`{name}`, keys.ts), so each
 * FCALL goes to the master of its first key's slot (@redis/client follows
 * MOVED and ASK). A function library is loaded on every master that answers
 * (`everyMaster`); a master that lacks it (added, promoted, or restarted
 * empty) answers "Function not found", and the connection loads it again.
 *
 * Failover: a call to a master that stopped answering rejects (the
 * connection's ConnectionError); once a node has been reconnecting for
 * TOPOLOGY_REFRESH_MS, the client asks the other nodes for the slots again
 * (and again every TOPOLOGY_REFRESH_MS), so calls reach the promoted replica
 * by themselves. Writes the old master had not replicated are lost with it:
 * Redis replicates asynchronously. Wake-ups stay plain PUBLISH: a
 * cluster delivers one to subscribers on every node, so the one subscriber
 * of a process hears the functions of every master.
 *
 * Events are the node clients': `reconnecting` and `ready` of any node stand
 * for the whole cluster (a lost node may have lost wake-ups or loaded
 * libraries). ref/unref reach every node socket, including ones the cluster
 * opens later (on `node-connect`).
 */
import type { Client } from './connection.js'

/** The part of a node's client used here. */
interface NodeClient {
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
  nodeClient(node: object): Promise<NodeClient>
  readonly isReady: boolean
  readonly masters: readonly { client?: NodeClient; pubSub?: { client: NodeClient } }[]
  readonly nodeByAddress: Map<string, { client?: NodeClient }>
  readonly pubSubNode?: { client: NodeClient }
}

export interface ClusterModule {
  createCluster(options: object): Cluster
}

/** What a client built here adds to the one-server client. */
export interface ClusterClient extends Client {
  /** Sends `command` to every master (FUNCTION LOAD): rejects only when none of them took it. */
  everyMaster(command: readonly string[]): Promise<void>
}

/** How long a node reconnects before the client asks the cluster for its slots again (@redis/client's default: 5 s). */
export const TOPOLOGY_REFRESH_MS = 1000

/** The node client event standing for each one-server client event. */
const NODE_EVENTS: Record<string, string> = { reconnecting: 'node-reconnecting', ready: 'node-ready' }

/**
 * A cluster client reached through `url` (any node), with `defaults` (the
 * options of a one-server client, minus the URL) for every node. It serves
 * both the calls (a socket per master) and the wake-ups (`subscribe`, on a
 * socket of its own to one node).
 */
export function clusterClient(module: ClusterModule, url: string, defaults: object): ClusterClient {
  const parsed = new URL(url)
  const cluster = module.createCluster({
    rootNodes: [{ url }],
    defaults: {
      ...defaults,
      ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
      ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    },
    useReplicas: false,
    topologyRefreshOnReconnectionAttempt: TOPOLOGY_REFRESH_MS,
  })
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
    connect: () => cluster.connect(),
    destroy: () => cluster.destroy(),
    // An FCALL goes to its first key's master (FCALL name numkeys key…); anything else anywhere.
    sendCommand: <T>(args: readonly string[]) =>
      cluster.sendCommand<T>(args[0] === 'FCALL' && Number(args[2]) > 0 ? args[3] : undefined, false, args),
    subscribe: (channel, listener) => cluster.subscribe(channel, listener),
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
    // A master that is down (failing over) does not stop the others: a call that reaches it fails by itself.
    async everyMaster(command) {
      const sent = await Promise.allSettled(
        cluster.masters.map(async (master) => (await cluster.nodeClient(master)).sendCommand(command)),
      )
      const failed = sent.find((result) => result.status === 'rejected')
      if (failed !== undefined && sent.every((result) => result.status === 'rejected')) throw failed.reason
    },
  }
}
