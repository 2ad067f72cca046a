/**
 * The check of a Redis Cluster node's layout answers (CLUSTER SLOTS), which
 * @redis/client applies as they come: one range of 10^11 slots made V8 run
 * out of memory, overlapping ranges repeat the work, and every node an
 * answer names gets a socket.
 *
 * @redis/client applies an answer in one synchronous run (its `#discover`):
 * it resets the slot map, `masters` and `replicas`, then for each shard makes
 * the master's node (a client, connecting, through `nodeAddressMap`) and sets
 * the shard's slots. Two places see that run:
 * - the slot map (`_slots.slots`, 16384 entries; a fresh one at each reset)
 *   is a Proxy that takes only an integer slot from 0 to 16383 not given
 *   since the reset (a valid answer gives each slot once, so a run does at
 *   most 16384 + shards steps);
 * - `nodeAddress` (called from `nodeAddressMap`) takes only a port from 1 to
 *   65535, and a new node only while fewer than MAX_NODES are known.
 * A violation throws LayoutError inside the run, which @redis/client then
 * counts as a failed look (the connect fails; a later look asks the other
 * nodes, and its call fails only if every answer is refused). Before it
 * throws, the layout goes back to what it was before the run (map, masters,
 * replicas; the nodes the run made are destroyed), so calls and the next
 * look go on with it; and every node's pending connect gets a handler, or
 * its failure would be an unhandled rejection, which ends the process.
 * The hosts the nodes name are trusted: the protocol has nothing else to go
 * by. (MAX_NODES counts the nodes of the layout being replaced too, which
 * @redis/client drops after the run: only a cluster of over 500 masters that
 * changes all their addresses at once could be refused.)
 *
 * These are @redis/client's internals of 6.3 and 6.4; where they differ,
 * `checksSlots` is false and cluster-client.ts warns once.
 */

/** Hash slots of a Redis Cluster. */
const SLOTS = 16384

/** Nodes a layout answer may name in all (Redis Cluster's documented size limit is about 1000 nodes). */
export const MAX_NODES = 1000

/** A node as @redis/client keeps it (the part used here). */
interface Node {
  client?: { destroy(): void }
  connectPromise?: Promise<unknown>
}

/** @redis/client's RedisClusterSlots (its cluster's `_slots`; the part used here). */
interface SlotsHolder {
  slots: unknown[]
  masters: unknown[]
  replicas: unknown[]
  nodeByAddress: Map<string, Node>
}

/** A layout answer that no cluster gives. */
export class LayoutError extends Error {
  override name = 'LayoutError'
}

/** The layout as it was when a run began. */
interface Before {
  slots: unknown[]
  masters: unknown[]
  replicas: unknown[]
  nodes: Set<string>
}

export interface LayoutGuard {
  /** Whether the slot map is checked (false where @redis/client's internals are not the expected ones). */
  readonly checksSlots: boolean
  /** `address` ("host:port") split for `nodeAddressMap`, once checked; throws LayoutError. */
  nodeAddress(address: string): { host: string; port: number }
}

/** Checks every layout answer `cluster` (an @redis/client RedisCluster) applies from now on. */
export function guardLayout(cluster: unknown): LayoutGuard {
  const holder = (cluster as { _slots?: SlotsHolder })._slots
  const expected = holder !== undefined && Array.isArray(holder.slots) && holder.slots.length === SLOTS
  let before: Before | undefined
  let map: unknown[] = []

  const refuse = (what: string): LayoutError => {
    if (holder !== undefined) {
      if (before !== undefined) {
        for (const [address, node] of holder.nodeByAddress)
          if (!before.nodes.has(address)) {
            node.connectPromise?.catch(() => {})
            node.client?.destroy()
            holder.nodeByAddress.delete(address)
          }
        map = before.slots
        holder.masters = before.masters
        holder.replicas = before.replicas
        before = undefined
      }
      for (const node of holder.nodeByAddress.values()) node.connectPromise?.catch(() => {})
    }
    return new LayoutError(`a Redis Cluster node's layout answer (CLUSTER SLOTS) ${what}`)
  }

  const checked = (slots: unknown[]): unknown[] =>
    new Proxy(slots, {
      set(target, key, value) {
        const slot = typeof key === 'string' ? Number(key) : Number.NaN
        if (!(Number.isInteger(slot) && slot >= 0 && slot < SLOTS && String(slot) === key))
          throw refuse(`names slot ${String(key).slice(0, 30)}, not one of 0 to ${SLOTS - 1}`)
        if (target[slot] !== undefined) throw refuse(`gives slot ${slot} twice`)
        target[slot] = value
        return true
      },
    })

  if (expected) {
    map = checked(holder.slots)
    Object.defineProperty(holder, 'slots', {
      configurable: true,
      enumerable: true,
      get: () => map,
      // A reset: a run begins (masters, replicas and the nodes are still the old ones here).
      set: (fresh: unknown[]) => {
        before = {
          slots: map,
          masters: holder.masters,
          replicas: holder.replicas,
          nodes: new Set(holder.nodeByAddress.keys()),
        }
        map = checked(fresh)
        // The run is synchronous: once it is over, a refusal has no run to undo.
        queueMicrotask(() => {
          before = undefined
        })
      },
    })
  }

  return {
    checksSlots: expected,
    nodeAddress(address) {
      const colon = address.lastIndexOf(':')
      const port = Number(address.slice(colon + 1))
      if (!(Number.isInteger(port) && port >= 1 && port <= 65535))
        throw refuse(`names a node at port ${address.slice(colon + 1, colon + 31)}`)
      const nodes = holder?.nodeByAddress
      if (nodes !== undefined && !nodes.has(address) && nodes.size >= MAX_NODES)
        throw refuse(`names more than ${MAX_NODES} nodes`)
      return { host: address.slice(0, colon), port }
    },
  }
}
