/**
 * SIGKILL of producers and consumers at random moments: the survivors go on
 * and finish, and what is lost stays within the documented bound (a killed
 * consumer loses at most the one item it was taking; a killed producer loses
 * only the item it was putting, never leaving part of one).
 */
import { Queue } from '@ipc/queue'
import { sleep, spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { makeTally, reportOf } from './tally.js'

const producer = new URL('./fixtures/producer.mjs', import.meta.url)
const consumer = new URL('./fixtures/consumer.mjs', import.meta.url)
const blocked = new URL('./fixtures/blocked.mjs', import.meta.url)

function random(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state / 0x7fffffff
  }
}

describe('Queue after SIGKILL', () => {
  it('survives consumers killed mid-stream: the others finish, each killed one loses at most one item', {
    timeout: 60_000,
  }, async () => {
    const seed = Date.now() % 100_000
    console.log(`consumer SIGKILL test seed: ${seed}`)
    const next = random(seed)
    const producers = 2
    const count = 30_000
    const queue = new Queue({ name: uniqueName('crash-consumer'), capacity: 32 * 1024 })
    onTestFinished(() => queue.close())
    const handle = JSON.stringify(queue.handle)
    const tally = makeTally(producers, count)
    const consumerArgs = (mode: string) => [handle, tally.name, String(producers), String(count), mode]
    const survivors = [spawnChild(consumer, consumerArgs('sync')), spawnChild(consumer, consumerArgs('async'))]
    const children = [0, 1].map((id) => spawnChild(producer, [handle, String(id), String(count), 'sync']))
    let killed = 0
    for (let round = 0; round < 3; round++) {
      const victim = spawnChild(consumer, consumerArgs(round === 1 ? 'async' : 'sync'))
      const started = await victim.waitFor('started', 20_000).then(
        () => true,
        () => false,
      )
      if (!started) break // the producers finished first
      await sleep(Math.floor(next() * 30))
      victim.child.kill('SIGKILL')
      expect(await victim.exited).toBe(-9)
      killed++
    }
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0])
    queue.shutdown()
    expect(await Promise.all(survivors.map((c) => c.exited))).toEqual([0, 0])
    for (const report of survivors.map((c) => reportOf(c.stdout())))
      expect(report).toMatchObject({ outOfOrder: 0, corrupt: 0 })
    expect(killed, `seed ${seed}`).toBeGreaterThan(0)
    const duplicates = tally.counts.filter((n) => n > 1).length
    const missing = tally.counts.filter((n) => n === 0).length
    expect(duplicates, `seed ${seed}`).toBe(0)
    expect(missing, `seed ${seed}: ${missing} items lost with ${killed} consumers killed`).toBeLessThanOrEqual(killed)
    expect(queue.qsize()).toBe(0)
  })

  it('survives producers killed mid-put: no partial item, each killed producer delivers a gap-free prefix', {
    timeout: 60_000,
  }, async () => {
    const seed = Date.now() % 100_000
    console.log(`producer SIGKILL test seed: ${seed}`)
    const next = random(seed)
    const victims = 4
    const producers = 2 + victims
    const count = 200_000
    const survivorCount = 20_000
    const queue = new Queue({ name: uniqueName('crash-producer'), capacity: 16 * 1024 })
    onTestFinished(() => queue.close())
    const handle = JSON.stringify(queue.handle)
    const tally = makeTally(producers, count)
    const consumerArgs = (mode: string) => [handle, tally.name, String(producers), String(count), mode]
    const consumers = [spawnChild(consumer, consumerArgs('sync')), spawnChild(consumer, consumerArgs('async'))]
    const survivors = [0, 1].map((id) => spawnChild(producer, [handle, String(id), String(survivorCount), 'sync']))
    for (let v = 0; v < victims; v++) {
      const victim = spawnChild(producer, [handle, String(2 + v), String(count), v % 2 ? 'async' : 'sync'])
      await victim.waitFor('started', 20_000)
      await sleep(Math.floor(next() * 40))
      victim.child.kill('SIGKILL')
      expect(await victim.exited).toBe(-9)
    }
    expect(await Promise.all(survivors.map((c) => c.exited))).toEqual([0, 0])
    // Let the consumers take what the victims left, then end the stream.
    queue.shutdown()
    expect(await Promise.all(consumers.map((c) => c.exited))).toEqual([0, 0])
    for (const report of consumers.map((c) => reportOf(c.stdout())))
      expect(report, `seed ${seed}`).toMatchObject({ outOfOrder: 0, corrupt: 0 })
    for (let p = 0; p < producers; p++) {
      const counts = tally.counts.subarray(p * count, (p + 1) * count)
      expect(
        counts.every((n) => n <= 1),
        `seed ${seed}: producer ${p} has duplicates`,
      ).toBe(true)
      const delivered = counts.indexOf(0) === -1 ? count : counts.indexOf(0)
      // Everything after the first gap is missing too: a prefix, in order.
      expect(
        counts.subarray(delivered).every((n) => n === 0),
        `seed ${seed}: producer ${p} has a gap`,
      ).toBe(true)
      if (p < 2) expect(delivered).toBe(survivorCount)
      else expect(delivered, `seed ${seed}: victim ${p}`).toBeGreaterThanOrEqual(100)
    }
    expect(queue.qsize()).toBe(0)
  })
  it("serves a new object that takes over a dead consumer's slot in a full table", { timeout: 30_000 }, async () => {
    const queue = new Queue({ name: uniqueName('full-table') })
    const others: Queue[] = []
    onTestFinished(() => {
      for (const other of others) other.close()
      queue.close()
    })
    const child = spawnChild(blocked, [JSON.stringify(queue.handle), 'get-sync'])
    await child.waitFor('waiting', 20_000)
    // Let it go to sleep inside getSync, counted as a sleeping consumer.
    await sleep(100)
    // Fill the rest of the 128-slot table from this process, then kill the sleeper.
    for (let i = 0; i < 126; i++) others.push(Queue.from(queue.handle))
    child.child.kill('SIGKILL')
    expect(await child.exited).toBe(-9)
    // The only slot left to take is the dead consumer's.
    const late = Queue.from(queue.handle)
    others.push(late)
    queue.putSync('after')
    expect(late.getSync({ timeout: 5000 })).toBe('after')
    late.putSync('back')
    expect(queue.getSync({ timeout: 5000 })).toBe('back')
    expect(queue.qsize()).toBe(0)
  })
})
