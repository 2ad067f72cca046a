/**
 * `rediss://` against a real redis-server listening with TLS (the test-only
 * CA and certificate of @ipc/test-utils, for 127.0.0.1). A process that trusts
 * the CA (NODE_EXTRA_CA_CERTS, as a user with a private CA would set it) puts
 * over TLS; a process that does not, or that reaches the server under a name
 * its certificate does not carry, is refused with ConnectionError: the
 * connection layer never skips the server's identity check.
 */
import { ConnectionError, Queue } from '@ipc/queue/redis'
import {
  describeWithRedis,
  describeWithRedisCluster,
  elapsed,
  type RedisCluster,
  spawnChild,
  TEST_TLS,
  uniqueName,
} from '@ipc/test-utils'
import { expect, it } from 'vitest'

const CHILD = new URL('./fixtures/redis-tls.mjs', import.meta.url)
const CERT_CHILD = new URL('./fixtures/redis-tls-client-cert.mjs', import.meta.url)

describeWithRedis(
  '@ipc/queue/redis over TLS (rediss://)',
  (server) => {
    it('carries items over TLS for a process that trusts the server certificate', { timeout: 30_000 }, async () => {
      const tlsUrl = server().tlsUrl as string
      const queue = await Queue.open<string>(uniqueName('tls'), { url: server().url, create: true })
      const child = spawnChild(CHILD, [tlsUrl, queue.name, tlsUrl.replace('127.0.0.1', 'localhost')], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: TEST_TLS.ca },
      })
      expect(await child.exited, child.stderr()).toBe(0)
      expect(await queue.get({ timeout: 5000 })).toBe('over TLS')
      // The same CA, but a name the certificate does not carry: refused.
      expect(JSON.parse(child.stdout())).toEqual({
        refused: { name: 'ConnectionError', message: expect.stringMatching(/does not match certificate's altnames/) },
      })
      await queue.close()
    })

    it('refuses a server whose certificate this process does not trust, within the connect bound', {
      timeout: 30_000,
    }, async () => {
      const queue = new Queue<string>({ url: server().tlsUrl as string })
      const { ms, outcome: error } = await elapsed(queue.ready())
      expect(error).toBeInstanceOf(ConnectionError)
      // Node's words for a chain that ends in a CA it does not trust (whether or not the server sends the CA).
      expect((error as Error).message).toMatch(
        /self-signed certificate in certificate chain|unable to (get local issuer certificate|verify the first certificate)/,
      )
      expect(ms).toBeLessThan(6000)
      await queue.close().catch(() => {})
    })
  },
  { tls: true },
)

describeWithRedis(
  '@ipc/queue/redis over TLS to a server that asks for a client certificate',
  (server) => {
    /** A child's put over TLS with `env` added (the test CA trusted): its outcome. */
    async function putFromChild(queue: Queue<string>, env: Record<string, string>): Promise<unknown> {
      const child = spawnChild(CERT_CHILD, [server().tlsUrl as string, queue.name], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: TEST_TLS.ca, ...env },
      })
      expect(await child.exited, child.stderr()).toBe(0)
      return JSON.parse(child.stdout())
    }

    it('shows the certificate named by IPC_REDIS_TLS_CERT and IPC_REDIS_TLS_KEY, and is refused without one', {
      timeout: 30_000,
    }, async () => {
      const queue = await Queue.open<string>(uniqueName('tls-cert'), { url: server().url, create: true })
      expect(await putFromChild(queue, { IPC_REDIS_TLS_CERT: TEST_TLS.cert, IPC_REDIS_TLS_KEY: TEST_TLS.key })).toEqual(
        {
          put: true,
        },
      )
      expect(await queue.get({ timeout: 5000 })).toBe('with a client certificate')
      // No certificate: the server ends the handshake.
      expect(await putFromChild(queue, {})).toEqual({
        name: 'ConnectionError',
        message: expect.stringMatching(/certificate required/),
      })
      expect(await queue.qsize()).toBe(0)
      await queue.close()
    })

    it('fails with ConnectionError naming the variable when only one is set or a file cannot be read', {
      timeout: 30_000,
    }, async () => {
      const queue = await Queue.open<string>(uniqueName('tls-cert'), { url: server().url, create: true })
      expect(await putFromChild(queue, { IPC_REDIS_TLS_CERT: TEST_TLS.cert })).toEqual({
        name: 'ConnectionError',
        message: expect.stringMatching(/IPC_REDIS_TLS_CERT is set but IPC_REDIS_TLS_KEY is not/),
      })
      expect(
        await putFromChild(queue, { IPC_REDIS_TLS_CERT: TEST_TLS.cert, IPC_REDIS_TLS_KEY: '/nonexistent/client.key' }),
      ).toEqual({
        name: 'ConnectionError',
        message: expect.stringMatching(/IPC_REDIS_TLS_KEY names \/nonexistent\/client\.key, which cannot be read/),
      })
      expect(await queue.qsize()).toBe(0)
      await queue.close()
    })
  },
  { tls: true, tlsClientAuth: true },
)

/** A queue on each master of `cluster` (a name's keys share the slot of the tag {name}). */
async function queueOnEachMaster(
  cluster: RedisCluster,
  prefix: string,
): Promise<{ names: string[]; queues: Queue<string>[] }> {
  const names: (string | undefined)[] = cluster.nodes.map(() => undefined)
  while (names.includes(undefined)) {
    const name = uniqueName(prefix)
    const slot = Number((await cluster.nodes[0]?.command('CLUSTER', 'KEYSLOT', `{${name}}`))?.slice(1))
    names[cluster.nodeOfSlot(slot)] ??= name
  }
  const queues = await Promise.all(
    names.map((name) => Queue.open<string>(name as string, { url: cluster.url, create: true })),
  )
  return { names: names as string[], queues }
}

describeWithRedisCluster(
  '@ipc/queue/redis on a Redis Cluster over TLS (rediss://)',
  (cluster) => {
    it('finds the other nodes and carries items over TLS on each of them', { timeout: 60_000 }, async () => {
      const tlsUrl = cluster().tlsUrl as string
      const { names, queues } = await queueOnEachMaster(cluster(), 'tls-cluster')
      for (const name of names) {
        const child = spawnChild(CHILD, [tlsUrl, name, tlsUrl.replace('127.0.0.1', 'localhost')], {
          env: { ...process.env, NODE_EXTRA_CA_CERTS: TEST_TLS.ca },
        })
        expect(await child.exited, child.stderr()).toBe(0)
        expect(JSON.parse(child.stdout()).refused).toEqual({
          name: 'ConnectionError',
          message: expect.stringMatching(/does not match certificate's altnames/),
        })
      }
      for (const queue of queues) expect(await queue.get({ timeout: 5000 })).toBe('over TLS')
      for (const queue of queues) await queue.close()
    })
  },
  { tls: true },
)

describeWithRedisCluster(
  '@ipc/queue/redis on a Redis Cluster over TLS that asks for a client certificate',
  (cluster) => {
    it('shows the certificate to every master it reaches', { timeout: 60_000 }, async () => {
      const { names, queues } = await queueOnEachMaster(cluster(), 'tls-cert-cluster')
      for (const name of names) {
        const child = spawnChild(CERT_CHILD, [cluster().tlsUrl as string, name], {
          env: {
            ...process.env,
            NODE_EXTRA_CA_CERTS: TEST_TLS.ca,
            IPC_REDIS_TLS_CERT: TEST_TLS.cert,
            IPC_REDIS_TLS_KEY: TEST_TLS.key,
          },
        })
        expect(await child.exited, child.stderr()).toBe(0)
        expect(JSON.parse(child.stdout())).toEqual({ put: true })
      }
      for (const queue of queues) expect(await queue.get({ timeout: 5000 })).toBe('with a client certificate')
      for (const queue of queues) await queue.close()
    })
  },
  { tls: true, tlsClientAuth: true },
)
