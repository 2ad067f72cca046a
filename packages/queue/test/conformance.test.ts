/**
 * One conformance suite, two backends: the behaviour of Queue and
 * JoinableQueue that holds both for shared memory (`@ipc/queue`) and for
 * Redis (`@ipc/queue/redis`, on one server and on a cluster). The tests are in conformance/queue-behaviour.ts;
 * the Redis-only ones (a stopped, killed or restarted server, leases,
 * undecodable items) in redis-*.test.ts.
 */
import { describeWithRedis, describeWithRedisCluster, uniqueName } from '@ipc/test-utils'
import { afterAll, beforeAll, describe } from 'vitest'
import * as local from '../src/index.js'
import * as redis from '../src/redis/index.js'
import { type Backend, type JoinableQueueLike, type QueueLike, queueBehaviour } from './conformance/queue-behaviour.js'

const sharedMemory: Backend = {
  label: 'shared memory',
  queue: <T>(options?: { maxsize?: number; name?: string }): QueueLike<T> =>
    new local.Queue<T>({ name: uniqueName('queue'), ...options }),
  openQueue: async <T>(name: string): Promise<QueueLike<T>> => local.Queue.open<T>(name),
  joinable: <T>(options?: { maxsize?: number; name?: string }): JoinableQueueLike<T> =>
    new local.JoinableQueue<T>({ name: uniqueName('joinable'), ...options }),
  openJoinable: async <T>(name: string): Promise<JoinableQueueLike<T>> => local.JoinableQueue.open<T>(name),
}

describe('shared memory', () => {
  queueBehaviour(sharedMemory)
})

/** The Redis backend on the server or cluster at `url()`. */
function onRedis(label: string, url: () => string): Backend {
  return {
    label,
    queue: <T>(options?: { maxsize?: number; name?: string }) => new redis.Queue<T>({ ...options, url: url() }),
    openQueue: <T>(name: string) => redis.Queue.open<T>(name, { url: url() }),
    joinable: <T>(options?: { maxsize?: number; name?: string }) =>
      new redis.JoinableQueue<T>({ ...options, url: url() }),
    openJoinable: <T>(name: string) => redis.JoinableQueue.open<T>(name, { url: url() }),
  }
}

describeWithRedis('Redis', (server) => {
  queueBehaviour(onRedis('Redis', () => server().url))
})

describeWithRedisCluster('Redis Cluster', (cluster) => {
  // Opening a cluster connection takes about 100 ms (discovery, then a socket per master), and each
  // test's last close() closes it: one object held open keeps it for the whole block, so that the
  // tests' 30 to 50 ms timeouts time their calls, not a connect.
  let held: redis.Queue | undefined
  beforeAll(async () => {
    held = new redis.Queue({ url: cluster().url })
    await held.qsize()
  })
  afterAll(() => held?.close())
  queueBehaviour(onRedis('Redis Cluster', () => cluster().url))
})
