/**
 * Many producers and consumers in separate processes (and threads): each item
 * is delivered exactly once and the items of one producer arrive in order.
 */
import { Worker } from 'node:worker_threads'
import { Queue } from '@ipc/queue'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { makeItem } from './fixtures/items.mjs'
import { makeTally, type Report, reportOf } from './tally.js'

const producer = new URL('./fixtures/producer.mjs', import.meta.url)
const consumer = new URL('./fixtures/consumer.mjs', import.meta.url)

function worker(file: URL, args: string[]): { done: Promise<string> } {
  // stdout: true keeps the fixtures' progress lines out of the test output.
  const w = new Worker(file, { workerData: args, stdout: true })
  onTestFinished(async () => {
    await w.terminate()
  })
  const done = new Promise<string>((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  return { done }
}

describe('Queue across processes', () => {
  it('delivers 4 producers × 50,000 items to 4 consumers exactly once, each producer in order', {
    timeout: 60_000,
  }, async () => {
    const producers = 4
    const count = 50_000
    // 64 KiB: producers often wait for room and items wrap around the ring.
    const queue = new Queue({ name: uniqueName('exactly-once'), capacity: 64 * 1024 })
    onTestFinished(() => queue.close())
    const handle = JSON.stringify(queue.handle)
    const tally = makeTally(producers, count)
    const modes = ['sync', 'async', 'iterate', 'sync']
    const consumers = modes.map((mode) =>
      spawnChild(consumer, [handle, tally.name, String(producers), String(count), mode]),
    )
    const children = [0, 1, 2, 3].map((id) =>
      spawnChild(producer, [handle, String(id), String(count), id % 2 ? 'async' : 'sync']),
    )
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0])
    queue.shutdown()
    expect(await Promise.all(consumers.map((c) => c.exited))).toEqual([0, 0, 0, 0])
    const reports = consumers.map((c) => reportOf(c.stdout()))
    expect(reports.map((r) => [r.outOfOrder, r.corrupt])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ])
    expect(reports.reduce((sum, r) => sum + r.got, 0)).toBe(producers * count)
    const wrong = tally.counts.findIndex((n) => n !== 1)
    expect(wrong, `item ${wrong} was delivered ${tally.counts[wrong]} times`).toBe(-1)
    expect(queue.qsize()).toBe(0)
  })

  it('putMany and getMany: 3 producers × 30,000 items in batches, 3 consumers (one taking singly), exactly once and in order', {
    timeout: 60_000,
  }, async () => {
    const producers = 3
    const count = 30_000
    const queue = new Queue({ name: uniqueName('batches'), capacity: 32 * 1024, maxsize: 500 })
    onTestFinished(() => queue.close())
    const handle = JSON.stringify(queue.handle)
    const tally = makeTally(producers, count)
    const consumers = ['many-sync', 'many-async', 'sync'].map((mode) =>
      spawnChild(consumer, [handle, tally.name, String(producers), String(count), mode]),
    )
    const children = ['many-sync', 'many-async', 'sync'].map((mode, id) =>
      spawnChild(producer, [handle, String(id), String(count), mode]),
    )
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0])
    queue.shutdown()
    expect(await Promise.all(consumers.map((c) => c.exited))).toEqual([0, 0, 0])
    const reports = consumers.map((c) => reportOf(c.stdout()))
    expect(reports.map((r) => [r.outOfOrder, r.corrupt])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ])
    expect(reports.reduce((sum, r) => sum + r.got, 0)).toBe(producers * count)
    const wrong = tally.counts.findIndex((n) => n !== 1)
    expect(wrong, `item ${wrong} was delivered ${tally.counts[wrong]} times`).toBe(-1)
    expect(queue.qsize()).toBe(0)
  })

  it('serves worker threads and processes mixed on one queue', { timeout: 60_000 }, async () => {
    const producers = 4
    const count = 5_000
    const queue = new Queue({ name: uniqueName('mixed'), capacity: 16 * 1024, maxsize: 50 })
    onTestFinished(() => queue.close())
    const handle = JSON.stringify(queue.handle)
    const tally = makeTally(producers, count)
    const consumerArgs = (mode: string) => [handle, tally.name, String(producers), String(count), mode]
    const threadConsumer = worker(consumer, consumerArgs('async'))
    const processConsumer = spawnChild(consumer, consumerArgs('sync'))
    const threadConsumer2 = worker(consumer, consumerArgs('sync'))
    const threadProducer = worker(producer, [handle, '0', String(count), 'async'])
    const threadProducer2 = worker(producer, [handle, '1', String(count), 'sync'])
    const processProducer = spawnChild(producer, [handle, '2', String(count), 'sync'])
    // This process produces too.
    const local = Queue.from<unknown>(queue.handle)
    onTestFinished(() => local.close())
    for (let seq = 0; seq < count; seq++) await local.put(makeItem(3, seq))
    expect(await threadProducer.done).toBe('done')
    expect(await threadProducer2.done).toBe('done')
    expect(await processProducer.exited).toBe(0)
    queue.shutdown()
    const reports: Report[] = [
      JSON.parse(await threadConsumer.done) as Report,
      JSON.parse(await threadConsumer2.done) as Report,
    ]
    expect(await processConsumer.exited).toBe(0)
    reports.push(reportOf(processConsumer.stdout()))
    for (const report of reports) expect(report).toMatchObject({ outOfOrder: 0, corrupt: 0 })
    expect(reports.reduce((sum, r) => sum + r.got, 0)).toBe(producers * count)
    expect(tally.counts.every((n) => n === 1)).toBe(true)
  })
})
