/**
 * A worker's two queues are shared memory another process can scribble on.
 * A request queue that fails takes its worker out of service (the task goes
 * to a new one); a reply queue that fails fails the tasks waiting on it.
 * Either way the pool goes on with a new worker.
 */

import { setTimeout as delay } from 'node:timers/promises'
import { CorruptError } from '@ipc/core'
import { Segment } from '@ipc/core/internal'
import { Pool } from '@ipc/pool'
import { describe, expect, it, onTestFinished } from 'vitest'
import { mappedSegments } from './children.js'

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url)

// From @ipc/queue's layout.ts and core's mpmc-ring.ts (white box): word indexes in a queue's data area.
const QUEUE_KIND = { kind: 'queue', version: 4, label: 'queue' }
const RING = 64 / 4
const P_LOCK = RING
const TAIL = RING + 1
const TAIL_COUNT = RING + 2
const HEAD_COUNT = RING + 18
const FLAGS = RING + 36
const FLAG_SHUTDOWN = 1

/**
 * The data areas of the request and reply queues of a one-worker pool whose tasks have all been
 * answered: the replies hold 1 message more than the requests ever put (the ready reply).
 */
function workerQueues(segmentsBefore: readonly string[]): { requests: Int32Array; replies: Int32Array } {
  const found: [number, Int32Array][] = []
  for (const file of mappedSegments()) {
    if (segmentsBefore.includes(file)) continue
    const segment = Segment.open(QUEUE_KIND, file.slice('ipc-'.length))
    onTestFinished(() => segment.close())
    const words = new Int32Array(segment.buffer, segment.dataOffset)
    found.push([Atomics.load(words, TAIL_COUNT), words])
  }
  found.sort(([a], [b]) => a - b)
  const [requests, replies] = found
  if (found.length !== 2 || requests === undefined || replies === undefined || replies[0] !== requests[0] + 1)
    throw new Error(`no worker queues among ${found.map(([count]) => count)}`)
  return { requests: requests[1], replies: replies[1] }
}

/**
 * A one-worker pool that has run one task (after `warmUp`, if given), and its worker's queues as
 * another process maps them.
 */
async function startedPool(warmUp?: (pool: Pool) => Promise<void>): Promise<{
  pool: Pool
  requests: Int32Array
  replies: Int32Array
}> {
  const before = mappedSegments()
  const pool = new Pool(TASKS, { size: 1 })
  onTestFinished(() => pool.terminate())
  await warmUp?.(pool)
  expect(await pool.run('square', [2])).toBe(4)
  return { pool, ...workerQueues(before) }
}

describe('a worker queue scribbled on by another process', () => {
  // Two ways a queue fails under a scribble: a misaligned tail (every later put or get throws
  // CorruptError), and the shutdown flag (a valid word, but the pool never shuts a queue down, so
  // someone else did: every later put throws ShutDown, and a get on it empty too).
  const scribbles = [
    ['a misaligned tail', (words: Int32Array) => Atomics.store(words, TAIL, 12)],
    ['the shutdown flag set', (words: Int32Array) => Atomics.or(words, FLAGS, FLAG_SHUTDOWN)],
  ] as const

  it.each(scribbles)(
    'takes the worker out of service when its request queue fails (%s): the tasks run in a new worker',
    {
      timeout: 20_000,
    },
    async (_, scribble) => {
      const { pool, requests } = await startedPool()
      const firstWorker = await pool.run('pid', [])
      scribble(requests)
      // Before, each of these failed (CorruptError; ShutDown): the broken worker stayed, idle, and got every task.
      expect(await pool.run('square', [3])).toBe(9)
      expect(await pool.run('square', [4])).toBe(16)
      expect(await pool.run('pid', [])).not.toBe(firstWorker)
    },
  )

  it('lets the running task of a worker whose request queue fails finish, and sends the next elsewhere', {
    timeout: 20_000,
  }, async () => {
    const { pool, requests } = await startedPool()
    // A synchronous task: the worker reads its requests (and meets the scribble itself) only after it.
    const running = pool.run<number>('spin', [500])
    // Taken before the scribble: the worker runs it now.
    while (Atomics.load(requests, TAIL_COUNT) !== Atomics.load(requests, HEAD_COUNT)) await delay(1)
    Atomics.store(requests, TAIL, 12)
    // Its send fails: the worker takes no more work, but its running task is not killed for it.
    const next = pool.run('pid', [])
    const firstWorker = await running
    expect(await next).not.toBe(firstWorker)
  })

  it.each(scribbles)(
    'fails the task waiting on a reply queue that fails (%s) with CorruptError; the next one runs in a new worker',
    {
      timeout: 20_000,
    },
    async (_, scribble) => {
      const { pool, replies } = await startedPool()
      const firstWorker = await pool.run('pid', [])
      scribble(replies)
      // Before, the shutdown flag failed it with the queue's ShutDown, an error run() does not document.
      await expect(pool.run('sleep', [50])).rejects.toBeInstanceOf(CorruptError)
      expect(await pool.run('square', [3])).toBe(9)
      expect(await pool.run('pid', [])).not.toBe(firstWorker)
    },
  )

  it('lets a worker whose request queue fails finish every task it holds, then stops it', {
    timeout: 20_000,
  }, async () => {
    // Thousands of tiny tasks first, as in the review that found it: without them the scribbled
    // lock word below did not make the puts fail as corrupt in our runs.
    const { pool, requests } = await startedPool(async (pool) => {
      const inputs = Array.from({ length: 3000 }, (_, i) => i)
      for (let i = 0; i < 3; i++) await pool.map('square', inputs, { chunksize: 1 })
    })
    const sent = Atomics.load(requests, TAIL_COUNT)
    // Both go to the one worker: the first runs, the second waits in its request queue.
    const first = pool.run<number>('spin', [400])
    const second = pool.run<number>('spin', [400])
    expect(Atomics.load(requests, TAIL_COUNT)).toBe(sent + 2)
    // A producer lock word no owner holds: every later put of the parent (the next task, then the
    // stop message at each reply) throws CorruptError.
    Atomics.store(requests, P_LOCK, 2)
    const third = pool.run<number>('square', [3])
    // Before, the stop message sent at the first reply failed and the worker was killed with the
    // second task queued: it failed with WorkerExitError (SIGKILL).
    const worker = await first
    expect(await second).toBe(worker)
    expect(await third).toBe(9)
    expect(await pool.run('pid', [])).not.toBe(worker)
  })
})
