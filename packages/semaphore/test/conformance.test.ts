/**
 * One conformance suite, two backends: the behaviour of Semaphore,
 * BoundedSemaphore, Lock and RLock that holds both for shared memory
 * (`@ipc/semaphore`) and for Redis (`@ipc/semaphore/redis`, on one server and
 * on a cluster). The tests are in
 * conformance/semaphore-behaviour.ts; the Redis-only ones (leases, fencing
 * tokens, a stopped or restarted server) in redis-*.test.ts.
 */
import { describeWithRedis, describeWithRedisCluster } from '@ipc/test-utils'
import { afterAll, beforeAll, describe } from 'vitest'
import * as local from '../src/index.js'
import * as redis from '../src/redis/index.js'
import {
  type Backend,
  type LockLike,
  type SemaphoreLike,
  semaphoreBehaviour,
} from './conformance/semaphore-behaviour.js'

const sharedMemory: Backend = {
  label: 'shared memory',
  semaphore: (value, options) => new local.Semaphore(value, options),
  openSemaphore: async (name) => local.Semaphore.open(name),
  boundedSemaphore: (value, options) => new local.BoundedSemaphore(value, options),
  openBoundedSemaphore: async (name) => local.BoundedSemaphore.open(name),
  lock: (options) => new local.Lock(options),
  openLock: async (name) => local.Lock.open(name),
  rlock: (options) => new local.RLock(options),
  openRLock: async (name) => local.RLock.open(name),
  value: async (sem) => (sem as local.Semaphore).value,
  locked: async (lock) => (lock as local.Lock).locked,
}

describe('shared memory', () => {
  semaphoreBehaviour(sharedMemory)
})

/** The Redis backend on the server or cluster at `url()`. */
function onRedis(label: string, url: () => string): Backend {
  return {
    label,
    semaphore: (value, options) => new redis.Semaphore(value, { ...options, url: url() }),
    openSemaphore: (name) => redis.Semaphore.open(name, { url: url() }),
    boundedSemaphore: (value, options) => new redis.BoundedSemaphore(value, { ...options, url: url() }),
    openBoundedSemaphore: (name) => redis.BoundedSemaphore.open(name, { url: url() }),
    lock: (options) => new redis.Lock({ ...options, url: url() }),
    openLock: (name) => redis.Lock.open(name, { url: url() }),
    rlock: (options) => new redis.RLock({ ...options, url: url() }),
    openRLock: (name) => redis.RLock.open(name, { url: url() }),
    value: (sem: SemaphoreLike) => (sem as redis.Semaphore).getValue(),
    locked: (lock: LockLike) => (lock as redis.Lock).locked(),
  }
}

describeWithRedis('Redis', (server) => {
  semaphoreBehaviour(onRedis('Redis', () => server().url))
})

describeWithRedisCluster('Redis Cluster', (cluster) => {
  // Opening a cluster connection takes about 100 ms (discovery, then a socket per master), and each
  // test's last close() closes it: one object held open keeps it for the whole block, so that the
  // tests' 30 to 50 ms timeouts time their calls, not a connect.
  let held: redis.Semaphore | undefined
  beforeAll(async () => {
    held = new redis.Semaphore(1, { url: cluster().url })
    await held.getValue()
  })
  afterAll(() => held?.close())
  semaphoreBehaviour(onRedis('Redis Cluster', () => cluster().url))
})
