/**
 * One conformance suite, two backends: the behaviour of Queue and
 * JoinableQueue that holds both for shared memory (`@ipc/queue`) and for
 * Redis (`@ipc/queue/redis`). The tests are in conformance/queue-behaviour.ts;
 * the Redis-only ones (a stopped, killed or restarted server, leases,
 * undecodable items) in redis-*.test.ts.
 */
import { describeWithRedis, uniqueName } from '@ipc/test-utils'
import { describe } from 'vitest'
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

describeWithRedis('Redis', (server) => {
  const url = () => server().url
  const onRedis: Backend = {
    label: 'Redis',
    queue: <T>(options?: { maxsize?: number; name?: string }) => new redis.Queue<T>({ ...options, url: url() }),
    openQueue: <T>(name: string) => redis.Queue.open<T>(name, { url: url() }),
    joinable: <T>(options?: { maxsize?: number; name?: string }) =>
      new redis.JoinableQueue<T>({ ...options, url: url() }),
    openJoinable: <T>(name: string) => redis.JoinableQueue.open<T>(name, { url: url() }),
  }
  queueBehaviour(onRedis)
})
