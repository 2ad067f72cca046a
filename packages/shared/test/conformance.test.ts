/**
 * One conformance suite, two backends: the behaviour of SharedValue and
 * SharedArray that holds both for shared memory (`@ipc/shared`) and for
 * Redis (`@ipc/shared/redis`, on one server and on a cluster). The tests are in conformance/shared-behaviour.ts;
 * the Redis-only ones (text on the server, garbled values, leases, a stopped
 * or restarted server) in src/redis/shared-value.test.ts and redis-*.test.ts.
 */
import { describeWithRedis, describeWithRedisCluster } from '@ipc/test-utils'
import { afterAll, beforeAll, describe } from 'vitest'
import * as local from '../src/index.js'
import * as redis from '../src/redis/index.js'
import { type ArrayLike, type Backend, sharedBehaviour, type ValueLike } from './conformance/shared-behaviour.js'

type AnyValue = local.SharedValue<'int32'>
type AnyArray = local.SharedArray

/** Shared memory, every call made async (a sync throw becomes a rejection). */
function localValue(value: local.SharedValue): ValueLike {
  const v = value as unknown as AnyValue
  return {
    name: value.name,
    get: async () => value.value,
    set: async (x) => {
      value.value = x as never
    },
    add: async (n) => v.add(n as never),
    sub: async (n) => v.sub(n as never),
    exchange: async (x) => v.exchange(x as never),
    compareExchange: async (e, x) => v.compareExchange(e as never, x as never),
    withLock: (fn) => value.withLock(fn),
    close: async () => value.close(),
  }
}

function localArray(array: AnyArray): ArrayLike {
  return {
    name: array.name,
    length: array.length,
    get: async (i) => array.get(i),
    set: async (i, x) => array.set(i, x as never),
    toArray: async () => array.toArray(),
    close: async () => array.close(),
  }
}

const sharedMemory: Backend = {
  label: 'shared memory',
  value: async (type, initial, options) =>
    localValue(new local.SharedValue(type as 'int32', initial as never, options)),
  openValue: async (name, type, create) =>
    localValue(local.SharedValue.open(name, type as 'int32', create === undefined ? undefined : ({ create } as never))),
  array: async (type, lengthOrValues, options) =>
    localArray(new local.SharedArray(type as 'int32', lengthOrValues as never, options)),
  openArray: async (name, type) => localArray(local.SharedArray.open(name, type as 'int32')),
}

describe('shared memory', () => {
  sharedBehaviour(sharedMemory)
})

function redisValue(value: redis.SharedValue): ValueLike {
  const v = value as unknown as redis.SharedValue<'int32'>
  return {
    name: value.name,
    get: () => value.get(),
    set: (x) => value.set(x as never),
    add: (n) => v.add(n as never),
    sub: (n) => v.sub(n as never),
    exchange: (x) => v.exchange(x as never),
    compareExchange: (e, x) => v.compareExchange(e as never, x as never),
    withLock: (fn) => value.withLock(fn),
    close: () => value.close(),
  }
}

function redisArray(array: redis.SharedArray): ArrayLike {
  return {
    name: array.name,
    length: array.length,
    get: (i) => array.get(i),
    set: (i, x) => array.set(i, x as never),
    toArray: () => array.toArray(),
    close: () => array.close(),
  }
}

/** The Redis backend on the server or cluster at `url()`. */
function onRedis(label: string, url: () => string): Backend {
  return {
    label,
    value: async (type, initial, options) =>
      redisValue(await new redis.SharedValue(type as 'int32', initial as never, { ...options, url: url() }).ready()),
    openValue: async (name, type, create) =>
      redisValue(
        await redis.SharedValue.open(name, type as 'int32', {
          url: url(),
          ...(create === undefined ? {} : { create: create as never }),
        }),
      ),
    array: async (type, lengthOrValues, options) =>
      redisArray(
        await new redis.SharedArray(type as 'int32', lengthOrValues as never, { ...options, url: url() }).ready(),
      ),
    openArray: async (name, type) => redisArray(await redis.SharedArray.open(name, type as 'int32', { url: url() })),
  }
}

describeWithRedis('Redis', (server) => {
  sharedBehaviour(onRedis('Redis', () => server().url))
})

describeWithRedisCluster('Redis Cluster', (cluster) => {
  // Opening a cluster connection takes about 100 ms (discovery, then a socket per master), and each
  // test's last close() closes it: one object held open keeps it for the whole block, so that the
  // tests' 30 to 50 ms timeouts time their calls, not a connect.
  let held: redis.SharedValue | undefined
  beforeAll(async () => {
    held = await new redis.SharedValue('int32', 0, { url: cluster().url }).ready()
  })
  afterAll(() => held?.close())
  sharedBehaviour(onRedis('Redis Cluster', () => cluster().url))
})
