/**
 * RedisConnection on a real Redis Cluster (three masters on this machine):
 * the URL of any node is enough. Each call goes to the master of its keys'
 * slot, a library is loaded on every master (and again on one that lost it),
 * wake-ups PUBLISHed by a function on any master reach the process, idle
 * sockets do not keep a script alive, and a master's failover is survived. The primitives' own behaviour on a
 * cluster is in each package's conformance suite.
 */
import {
  describeWithRedisCluster,
  type RedisCluster,
  type RedisServer,
  sleep,
  spawnChild,
  uniqueName,
} from '@ipc/test-utils'
import { expect, it } from 'vitest'
import { ConnectionError } from '../src/errors.js'
import { RedisConnection } from '../src/redis/connection.js'
import { clusterSlot, redisKey } from '../src/redis/keys.js'
import { defineLibrary } from '../src/redis/library.js'

const IDLE = new URL('./fixtures/redis-cluster-idle.mjs', import.meta.url)
const FOREVER = { deadline: Number.POSITIVE_INFINITY }
const LIBRARY = defineLibrary(
  'test_cluster',
  1,
  `register('set', function(keys, args) return redis.call('SET', keys[1], args[1]) end)
register('get', function(keys, args) return redis.call('GET', keys[1]) end)
register('wake', function(keys, args) return redis.call('PUBLISH', args[1], args[2]) end)
register('del', function(keys, args) return redis.call('DEL', keys[1]) end)`,
)

/** A key of a primitive whose slot each master serves: one per node, in node order. */
async function keyOnEachNode(cluster: RedisCluster): Promise<string[]> {
  const keys: (string | undefined)[] = cluster.nodes.map(() => undefined)
  for (let i = 0; keys.includes(undefined); i++) {
    const key = redisKey(`spread-${i}`, 'meta')
    const slot = Number((await cluster.nodes[0]?.command('CLUSTER', 'KEYSLOT', key))?.slice(1))
    keys[cluster.nodeOfSlot(slot)] ??= key
  }
  return keys as string[]
}

/** Whether a client is subscribed on `node` (each test's one connection: its wake-up socket). */
async function subscribedOn(node: RedisServer): Promise<boolean> {
  return (await node.bulk('CLIENT', 'LIST', 'TYPE', 'pubsub')).includes('cmd=')
}

/** The index in `nodes` of the node holding the wake-up socket (checked to be one of them). */
async function subscriberAt(nodes: readonly RedisServer[]): Promise<number> {
  const at = (await Promise.all(nodes.map(subscribedOn))).indexOf(true)
  expect(at).toBeGreaterThanOrEqual(0)
  return at
}

describeWithRedisCluster('RedisConnection on a Redis Cluster', (cluster) => {
  it('sends each call to the master of its slot, loading the library on each master it calls', async () => {
    const connection = RedisConnection.acquire(cluster().url)
    try {
      const keys = await keyOnEachNode(cluster())
      for (const [i, key] of keys.entries())
        expect(await connection.call(LIBRARY, 'set', [key], [`v${i}`], FOREVER)).toBe('OK')
      for (const [i, node] of cluster().nodes.entries()) {
        // Each key lives on its own node (asked directly: another node would answer MOVED).
        expect(await node.command('GET', keys[i] as string)).toBe('$2')
        expect(await node.command('EXISTS', keys[(i + 1) % keys.length] as string)).toMatch(/^-MOVED /)
        expect(await node.command('FUNCTION', 'LIST', 'LIBRARYNAME', LIBRARY.name)).toBe('*1')
      }
    } finally {
      connection.release()
    }
  })

  it('loads the library again when one master lost it (a restart, a FUNCTION FLUSH)', async () => {
    const connection = RedisConnection.acquire(cluster().url)
    try {
      const keys = await keyOnEachNode(cluster())
      await connection.call(LIBRARY, 'set', [keys[0] as string], ['a'], FOREVER)
      expect(await cluster().nodes[2]?.command('FUNCTION', 'FLUSH')).toBe('+OK')
      expect(await connection.call(LIBRARY, 'set', [keys[2] as string], ['b'], FOREVER)).toBe('OK')
      expect(await cluster().nodes[2]?.command('FCALL', LIBRARY.functionName('set'), '1', keys[2] as string, 'c')).toBe(
        '+OK',
      )
    } finally {
      connection.release()
    }
  })

  it('hears a wake-up PUBLISHed by a function on any master', async () => {
    const connection = RedisConnection.acquire(cluster().url)
    const heard: string[] = []
    const stop = connection.onWake('probe', (message) => heard.push(message))
    try {
      const keys = await keyOnEachNode(cluster())
      // The first call connects (and subscribes): only then is the channel listened to.
      await connection.call(LIBRARY, 'set', [keys[0] as string], ['x'], FOREVER)
      for (const [i, key] of keys.entries())
        await connection.call(LIBRARY, 'wake', [key], [connection.wakeChannel, `probe ${i}`], FOREVER)
      for (let t = 0; t < 100 && heard.length < keys.length; t++) await new Promise((r) => setTimeout(r, 20))
      expect(heard.sort()).toEqual(keys.map((_, i) => `probe ${i}`))
    } finally {
      stop()
      connection.release()
    }
  })

  it('runs a call where a migrating slot sends it (ASK), loading the library on that node too', async () => {
    const [source, target] = [cluster().nodes[0] as RedisServer, cluster().nodes[1] as RedisServer]
    // A key that does not exist yet, in a slot of node 0: node 0 answers ASK for it while the slot migrates.
    let key = ''
    let slot = -1
    for (let i = 0; slot === -1 || cluster().nodeOfSlot(slot) !== 0; i++) {
      key = redisKey(`${uniqueName('ask')}-${i}`, 'meta')
      slot = Number((await source.command('CLUSTER', 'KEYSLOT', key)).slice(1))
    }
    const id = async (node: RedisServer) => (await node.bulk('CLUSTER', 'MYID')).trim().split('\r\n').at(-1) as string
    const [sourceId, targetId] = [await id(source), await id(target)]
    const connection = RedisConnection.acquire(cluster().url)
    try {
      // The library is on node 0 (a call ran there) and not on node 1.
      expect(await connection.call(LIBRARY, 'get', [redisKey(uniqueName('warm'), 'meta')], [], FOREVER)).toBeNull()
      await target.command('FUNCTION', 'FLUSH')
      expect(await target.command('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', sourceId)).toBe('+OK')
      expect(await source.command('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', targetId)).toBe('+OK')
      expect(await connection.call(LIBRARY, 'set', [key], ['moved'], FOREVER)).toBe('OK')
      // It ran on node 1 (asked directly with ASKING: node 0 has no such key).
      expect(await source.command('EXISTS', key)).toMatch(/^-ASK /)
      expect(await connection.call(LIBRARY, 'get', [key], [], FOREVER)).toBe('moved')
      // Removed where it lives (ASKed there too), before the slot is node 0's alone again.
      expect(await connection.call(LIBRARY, 'del', [key], [], FOREVER)).toBe(1)
    } finally {
      connection.release()
      for (const node of [source, target])
        expect(await node.command('CLUSTER', 'SETSLOT', String(slot), 'NODE', sourceId)).toBe('+OK')
    }
  })

  it('maps keys to slots as the server does (CLUSTER KEYSLOT), hash tags included', async () => {
    const node = cluster().nodes[0] as RedisServer
    const keys = [
      ...Array.from({ length: 200 }, (_, i) => redisKey(`${uniqueName('slot')}-${i}-é✓`, 'meta')),
      'foo',
      '123456789',
      '{user1000}.following',
      'foo{}{bar}',
      'foo{{bar}}zap',
      'foo{bar}{zap}',
      '{',
      '}{x}',
    ]
    for (const key of keys)
      expect(clusterSlot(key), key).toBe(Number((await node.command('CLUSTER', 'KEYSLOT', key)).slice(1)))
  })

  it('rejects only the waits a lost node concerns: those on its keys, or every one when it holds the wake-up socket', async () => {
    const { nodes } = cluster()
    const connection = RedisConnection.acquire(cluster().url)
    const keys = await keyOnEachNode(cluster())
    const lost = keys.map(() => 0)
    let lostAny = 0
    const stops = [
      ...keys.map((key, i) =>
        connection.onLost(() => {
          lost[i] = (lost[i] ?? 0) + 1
        }, key),
      ),
      connection.onLost(() => lostAny++),
    ]
    try {
      for (const key of keys) expect(await connection.call(LIBRARY, 'set', [key], ['x'], FOREVER)).toBe('OK')
      const at = await subscriberAt(nodes)
      const other = (at + 1) % nodes.length
      const third = (at + 2) % nodes.length
      // Another master drops this process's socket to it: only the waits on its keys are concerned.
      expect(await (nodes[other] as RedisServer).command('CLIENT', 'KILL', 'TYPE', 'normal')).toMatch(/^:[1-9]/)
      for (let i = 0; i < 100 && lostAny === 0; i++) await sleep(20)
      expect(lostAny).toBeGreaterThan(0)
      expect(lost[other]).toBeGreaterThan(0)
      expect([lost[at], lost[third]]).toEqual([0, 0])
      await servedWithin(connection, keys[other] as string, 'x', 10_000)
      // The node holding the wake-up socket drops it: every wait is concerned.
      const before = [...lost]
      expect(await (nodes[at] as RedisServer).command('CLIENT', 'KILL', 'TYPE', 'pubsub')).toMatch(/^:[1-9]/)
      for (let i = 0; i < 100 && lost.some((n, j) => n === before[j]); i++) await sleep(20)
      for (const [i, n] of lost.entries()) expect(n, `node ${i}`).toBeGreaterThan(before[i] as number)
    } finally {
      for (const stop of stops) stop()
      connection.release()
    }
  })

  it("lets a script end by itself once its calls are done (idle sockets unref'd on every node)", async () => {
    const child = spawnChild(IDLE, [cluster().url])
    await child.waitFor('called number', 10_000)
    const code = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r('still running'), 5000))])
    expect(code).toBe(0)
  })
})

/** The replication offset in `INFO replication` text. */
function replicationOffset(info: string): number {
  return Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? Number.NaN)
}

/**
 * Resolves once `replica` has everything `master` wrote so far (up to 4 s). Redis replicates
 * asynchronously: a failover or a kill before that loses the writes (TAKEOVER does not wait).
 */
async function replicated(master: RedisServer, replica: RedisServer): Promise<void> {
  const written = replicationOffset(await master.info('replication'))
  for (let i = 0; i < 200 && !(replicationOffset(await replica.info('replication')) >= written); i++) await sleep(20)
  expect(replicationOffset(await replica.info('replication'))).toBeGreaterThanOrEqual(written)
}

/**
 * Makes `replica` the master of `master`'s slots by a forced failover (`CLUSTER FAILOVER TAKEOVER`:
 * no election to lose on a loaded machine), once `replica` has every write; resolves once the old
 * master replicates from it. TAKEOVER makes the replica a master before it answers, with a config
 * epoch above every one it knows; should the old master still win (a newer epoch it had not yet
 * heard of: startRedisCluster gives every node its own epoch to avoid that), the replica is a
 * replica again, and is asked again, up to 3 times, within 24 s in all.
 */
async function takeOver(master: RedisServer, replica: RedisServer): Promise<void> {
  let roles: string[] = []
  let tries = 0
  const started = performance.now()
  for (; performance.now() - started < 24_000; await sleep(50)) {
    roles = [await replica.info('replication'), await master.info('replication')]
    if (
      roles[0]?.includes('role:master') &&
      roles[1]?.includes('role:slave') &&
      roles[1].includes('master_link_status:up')
    )
      return
    if (roles[0]?.includes('role:slave') && tries < 3) {
      await replicated(master, replica)
      expect(await replica.command('CLUSTER', 'FAILOVER', 'TAKEOVER')).toBe('+OK')
      tries++
    }
  }
  throw new Error(
    `port ${master.port} was not demoted within 24 s (${tries} takeovers by port ${replica.port}):\n${roles.join('\n')}\n${await master.bulk('CLUSTER', 'NODES')}`,
  )
}

describeWithRedisCluster(
  'RedisConnection on a Redis Cluster whose master fails over',
  (cluster) => {
    it('fails calls to the lost master with ConnectionError, serves the other masters meanwhile, and reaches the promoted replica and hears wake-ups again by itself', async () => {
      const { nodes, replicas } = cluster()
      const connection = RedisConnection.acquire(nodes[0]?.url as string)
      const heard: string[] = []
      const stopListening = connection.onWake('probe', (message) => heard.push(message))
      try {
        const keys = await keyOnEachNode(cluster())
        for (const key of keys) expect(await connection.call(LIBRARY, 'set', [key], ['before'], FOREVER)).toBe('OK')
        // The master to fail: the one this process subscribed on (its wake-ups must come back too).
        const lostAt = await subscriberAt(nodes)
        const master = nodes[lostAt] as RedisServer
        const replica = replicas[lostAt] as RedisServer
        const lost = keys[lostAt] as string
        const kept = keys[(lostAt + 1) % keys.length] as string
        // The write is on the replica before the master dies.
        await replicated(master, replica)
        await master.kill()

        await expect(connection.call(LIBRARY, 'get', [lost], [], FOREVER)).rejects.toBeInstanceOf(ConnectionError)
        // The other masters go on serving meanwhile (the library is loaded on those that answer).
        expect(await connection.call(LIBRARY, 'get', [kept], [], FOREVER)).toBe('before')

        const started = performance.now()
        let value: unknown
        while (value === undefined && performance.now() - started < 30_000) {
          value = await connection.call(LIBRARY, 'get', [lost], [], FOREVER).catch(async (error: unknown) => {
            if (!(error instanceof ConnectionError)) throw error
            await sleep(100)
            return undefined
          })
        }
        expect(value).toBe('before')
        expect(await replica.info('replication')).toContain('role:master')
        // Subscribed again elsewhere: a wake-up published on any master arrives.
        for (let i = 0; i < 100 && heard.length === 0; i++) {
          await connection.call(LIBRARY, 'wake', [kept], [connection.wakeChannel, `probe ${i}`], FOREVER)
          await sleep(50)
        }
        expect(heard.length).toBeGreaterThan(0)
      } finally {
        stopListening()
        connection.release()
      }
    }, 60_000)
  },
  { replicas: 3 },
)

/** Calls `get` on `key` (at most 2 s each) until it answers `expected`, for at most `limitMs`; the time it took. */
async function servedWithin(
  connection: RedisConnection,
  key: string,
  expected: string,
  limitMs: number,
): Promise<number> {
  const started = performance.now()
  for (;;) {
    const reply = await connection
      .call(LIBRARY, 'get', [key], [], { deadline: performance.now() + 2000 })
      .catch((error: unknown) => {
        if (!(error instanceof ConnectionError)) throw error
        return undefined
      })
    if (reply === expected) return performance.now() - started
    if (performance.now() - started > limitMs)
      throw new Error(`${key} not served within ${limitMs} ms (last reply: ${String(reply)})`)
    await sleep(100)
  }
}

describeWithRedisCluster(
  'RedisConnection on a Redis Cluster whose failover goes back',
  (cluster) => {
    it('serves every master again when the replica that took over fails too, and its old master takes over again', async () => {
      const { nodes, replicas } = cluster()
      const [original, other] = nodes as [RedisServer, RedisServer]
      const replica = replicas[0] as RedisServer
      const connection = RedisConnection.acquire(other.url)
      try {
        const keys = await keyOnEachNode(cluster())
        for (const key of keys) expect(await connection.call(LIBRARY, 'set', [key], ['before'], FOREVER)).toBe('OK')
        // The replica takes over, and the old master follows it. The writes are on the replica first.
        await takeOver(original, replica)
        // The connection reaches the new master (a node it first connects after its own start).
        await servedWithin(connection, keys[0] as string, 'before', 15_000)
        // The new master fails: the old one takes over again. No call may wait past its deadline,
        // and every master is served again.
        await replica.kill()
        for (const key of keys) await servedWithin(connection, key, 'before', 20_000)
        expect(await original.info('replication')).toContain('role:master')
      } finally {
        connection.release()
      }
    }, 90_000)
  },
  { replicas: 1 },
)

describeWithRedisCluster(
  'RedisConnection on a Redis Cluster whose subscriber node is demoted',
  (cluster) => {
    it('moves its subscriber off a node that a failover made a replica (no socket dropped), asks again at once, and hears wake-ups again', async () => {
      const { nodes, replicas } = cluster()
      const connection = RedisConnection.acquire(nodes[0]?.url as string)
      let asked = 0
      const stopReady = connection.onReady(() => asked++)
      const heard: string[] = []
      const stopListening = connection.onWake('probe', (message) => heard.push(message))
      try {
        const keys = await keyOnEachNode(cluster())
        for (const key of keys) expect(await connection.call(LIBRARY, 'set', [key], ['before'], FOREVER)).toBe('OK')
        const at = await subscriberAt(nodes)
        const [demoted, promoted] = [nodes[at] as RedisServer, replicas[at] as RedisServer]
        // The replica takes over, and the old master follows it: it is a replica now, and no socket
        // was dropped.
        await takeOver(demoted, promoted)
        // A call to the demoted node's slot: MOVED makes the client look again, and the subscriber
        // leaves the node that is no master any more. Wake-ups published meanwhile may be lost: the
        // objects ask the server again (their renewal hands over what such a wake-up carried).
        const before = asked
        await servedWithin(connection, keys[at] as string, 'before', 15_000)
        for (let i = 0; i < 100 && (asked === before || (await subscribedOn(demoted))); i++) await sleep(50)
        expect(await subscribedOn(demoted)).toBe(false)
        expect(asked).toBeGreaterThan(before)
        for (let i = 0; i < 100 && heard.length === 0; i++) {
          const key = keys[(at + 1) % keys.length] as string
          await connection.call(LIBRARY, 'wake', [key], [connection.wakeChannel, `probe ${i}`], FOREVER)
          await sleep(50)
        }
        expect(heard.length).toBeGreaterThan(0)
      } finally {
        stopListening()
        stopReady()
        connection.release()
      }
    }, 90_000)
  },
  { replicas: 3 },
)
