/**
 * `X.open(name, { create })` across racing processes: exactly one creates,
 * all attach to the one object; and `persistent: true` objects that outlive
 * their creator (normal exit and SIGKILL) and the cleanup scan, until
 * `unlink()`.
 */
import { existsSync } from 'node:fs'
import { Segment } from '@ipc/core/internal'
import { IncompatibleError, JoinableQueue, NotFoundError, Queue, SimpleQueue } from '@ipc/queue'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const racer = new URL('./fixtures/open-or-create.mjs', import.meta.url)
const owner = new URL('./fixtures/persistent-owner.mjs', import.meta.url)
const CHILDREN = 8
const classes = { Queue, JoinableQueue, SimpleQueue }
type ClassName = keyof typeof classes

function segmentExists(name: string): boolean {
  return existsSync(`/dev/shm/ipc-${name}`)
}

/** Drains every item of an open queue of any of the three classes. */
function drain(queue: Queue<string> | SimpleQueue<string>): string[] {
  const items: string[] = []
  while (!queue.empty()) items.push(queue.getSync({ timeout: 1000 }))
  return items
}

describe.each(['Queue', 'JoinableQueue', 'SimpleQueue'] as const)('%s.open(name, { create }) racing', (className) => {
  it(`lets exactly one of ${CHILDREN} racing processes create, and all share one queue`, {
    timeout: 60_000,
  }, async () => {
    const name = uniqueName('race')
    const children = Array.from({ length: CHILDREN }, (_, id) => spawnChild(racer, [className, name, String(id)]))
    await Promise.all(children.map((child) => child.waitFor('armed', 30_000)))
    const startAt = Date.now() + 100
    for (const child of children) child.child.send({ startAt })
    await Promise.all(children.map((child) => child.waitFor('}', 30_000)))
    const reports = children.map(
      (child) => JSON.parse(child.stdout().replace('armed', '').trim()) as { created: boolean; kind: string },
    )
    expect(reports.filter((report) => report.created)).toHaveLength(1)
    expect(new Set(reports.map((report) => report.kind))).toEqual(new Set([queueKind(className)]))
    // One queue: every child's item is in it, each once.
    const queue = classes[className].open<string>(name)
    expect(queue.created).toBe(false)
    expect(drain(queue).sort()).toEqual(Array.from({ length: CHILDREN }, (_, id) => `item-${id}`).sort())
    for (const child of children) child.child.send('exit')
    expect(await Promise.all(children.map((child) => child.exited))).toEqual(children.map(() => 0))
    queue.close()
    expect(segmentExists(name)).toBe(false)
  })
})

function queueKind(className: ClassName): string {
  return { Queue: 'queue', JoinableQueue: 'joinable-queue', SimpleQueue: 'simple-queue' }[className]
}

describe('Queue.open(name, { create })', () => {
  it('creates with the options given, or attaches and keeps the existing options', () => {
    const name = uniqueName('create')
    const first = Queue.open<number>(name, { create: { maxsize: 3, capacity: 4096 } })
    onTestFinished(() => first.close())
    expect(first.created).toBe(true)
    expect(first.maxsize).toBe(3)
    const second = Queue.open<number>(name, { create: { maxsize: 10 } })
    onTestFinished(() => second.close())
    expect(second.created).toBe(false)
    expect(second.maxsize).toBe(3)
    second.putSync(7)
    expect(first.getSync()).toBe(7)
    const third = Queue.open<number>(name, { create: true })
    onTestFinished(() => third.close())
    expect(third.created).toBe(false)
    const fresh = new Queue()
    onTestFinished(() => fresh.close())
    expect(fresh.created).toBe(true)
  })

  it('creates with the defaults for `create: true`', () => {
    const queue = Queue.open(uniqueName('create'), { create: true })
    onTestFinished(() => queue.close())
    expect(queue.created).toBe(true)
    expect(queue.maxsize).toBe(0)
    expect(queue.capacity).toBe(1024 * 1024)
    expect(queue.persistent).toBe(false)
  })

  it('validates `create` like the constructor, before creating anything', () => {
    const name = uniqueName('create')
    expect(() => Queue.open(name, { create: { maxsize: -1 } })).toThrow(RangeError)
    expect(() => Queue.open(name, { create: { capacity: 'big' as never } })).toThrow(TypeError)
    expect(() => Queue.open(name, { create: { persistent: 'yes' as never } })).toThrow(TypeError)
    expect(() => Queue.open(name, { create: { name: 'other' } as never })).toThrow(TypeError)
    expect(() => Queue.open(name, { create: 5 as never })).toThrow(TypeError)
    expect(() => Queue.open(name, 'x' as never)).toThrow(TypeError)
    expect(segmentExists(name)).toBe(false)
  })

  it('still throws NotFoundError without `create` (or with `create: false`)', () => {
    const name = uniqueName('create')
    expect(() => Queue.open(name)).toThrow(NotFoundError)
    expect(() => Queue.open(name, { create: false })).toThrow(NotFoundError)
    expect(() => JoinableQueue.open(name, {})).toThrow(NotFoundError)
  })

  it('throws IncompatibleError for a name held by another kind, creating nothing', () => {
    const name = uniqueName('create')
    const other = Segment.create({ kind: 'semaphore', version: 1 }, 64, { name })
    onTestFinished(() => other.close())
    expect(() => Queue.open(name, { create: true })).toThrow(IncompatibleError)
    expect(() => SimpleQueue.open(name, { create: true })).toThrow(IncompatibleError)
    const queue = new Queue({ name: uniqueName('create') })
    onTestFinished(() => queue.close())
    expect(() => JoinableQueue.open(queue.name, { create: true })).toThrow(IncompatibleError)
  })
})

describe.each(['Queue', 'JoinableQueue', 'SimpleQueue'] as const)('%s with persistent: true', (className) => {
  it('keeps the queue and its items after the last object closes, until unlink()', () => {
    const name = uniqueName('keep')
    const Class = classes[className]
    const queue = new Class<string>({ name, persistent: true })
    expect(queue.persistent).toBe(true)
    void queue.put('kept')
    queue.close()
    expect(segmentExists(name)).toBe(true)
    const again = Class.open<string>(name)
    expect(again.persistent).toBe(true)
    expect(again.getSync({ timeout: 1000 })).toBe('kept')
    again.unlink()
    again.close()
    expect(segmentExists(name)).toBe(false)
  })

  it('outlives its creator (normal exit, then SIGKILL) and the cleanup scan', { timeout: 30_000 }, async () => {
    for (const mode of ['exit', 'wait'] as const) {
      const name = uniqueName('keep')
      const child = spawnChild(owner, [className, name, mode])
      await child.waitFor('ready')
      if (mode === 'wait') child.child.kill('SIGKILL')
      expect(await child.exited).toBe(mode === 'exit' ? 0 : -9)
      // A create and an open of other names run the scan that removes dead segments.
      const other = new Queue({ name: uniqueName('scan') })
      Queue.open(other.name).close()
      other.close()
      expect(segmentExists(name)).toBe(true)
      const queue = classes[className].open<string>(name)
      expect([queue.getSync({ timeout: 1000 }), queue.getSync({ timeout: 1000 })]).toEqual(['kept-1', 'kept-2'])
      queue.unlink()
      queue.close()
      expect(segmentExists(name)).toBe(false)
    }
  })
})
