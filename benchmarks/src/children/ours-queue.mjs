// Ours: @ipc/queue across processes. Each child attaches with `Queue.from(handle)`; the
// producer uses `putSync` and the consumer a `getSync` loop (the fastest a user can write
// in a process that does nothing else). `null` is the end-of-stream sentinel, as `None`
// is in Python. The batch rows use `putManySync` / `getManySync({ max })` instead.
//
// Idle cost: `createMany` makes `count` queues in this process, `idle` leaves one pending
// `await queue.get()` on each while it measures, and a second child (the waker, attached
// with `attachMany`) puts one item into each so `collect` can check every get returned it.
import { idleWindow, importOurs, isPayload, makePayload, now, serve } from './lib.mjs'

let queue
let created = false
let idleQueues = []
let pendingGets = []

serve({
  async create({ name, capacity }) {
    const { Queue } = await importOurs('@ipc/queue')
    queue = new Queue(capacity ? { name, capacity } : { name })
    created = true
    return { handle: queue.handle, name: queue.name }
  },
  async attach({ handle }) {
    const { Queue } = await importOurs('@ipc/queue')
    queue = Queue.from(handle)
    return {}
  },
  produce({ n, payload, sentinels = 0 }) {
    const item = makePayload(payload)
    const tStart = now()
    for (let i = 0; i < n; i++) queue.putSync(item)
    for (let i = 0; i < sentinels; i++) queue.putSync(null)
    return { tStart, tEnd: now() }
  },
  produceMany({ n, payload, batch, sentinels = 0 }) {
    const items = Array.from({ length: batch }, () => makePayload(payload))
    const tStart = now()
    for (let i = 0; i < n; i += batch) queue.putManySync(items)
    for (let i = 0; i < sentinels; i++) queue.putSync(null)
    return { tStart, tEnd: now() }
  },
  sentinels({ k }) {
    for (let i = 0; i < k; i++) queue.putSync(null)
    return {}
  },
  consume({ payload }) {
    let count = 0
    let last
    for (;;) {
      const item = queue.getSync()
      if (item === null) break
      last = item
      count++
    }
    const tEnd = now()
    return { tEnd, count, ok: count === 0 || isPayload(payload, last) }
  },
  /** One consumer only: a batch may hold the sentinel, which ends it. */
  consumeMany({ payload, max }) {
    let count = 0
    let last
    for (;;) {
      const items = queue.getManySync({ max })
      const end = items.indexOf(null)
      const taken = end === -1 ? items.length : end
      if (taken > 0) last = items[taken - 1]
      count += taken
      if (end !== -1) break
    }
    const tEnd = now()
    return { tEnd, count, ok: count === 0 || isPayload(payload, last) }
  },
  async createMany({ names }) {
    const { Queue } = await importOurs('@ipc/queue')
    idleQueues = names.map((name) => new Queue({ name }))
    created = true
    return { handles: idleQueues.map((q) => q.handle), names: idleQueues.map((q) => q.name) }
  },
  async attachMany({ handles }) {
    const { Queue } = await importOurs('@ipc/queue')
    idleQueues = handles.map((handle) => Queue.from(handle))
    return {}
  },
  async idle({ ms }) {
    pendingGets = idleQueues.map((q) => q.get())
    return await idleWindow(ms)
  },
  wake() {
    const item = makePayload('string')
    for (const q of idleQueues) q.putSync(item)
    return {}
  },
  async collect() {
    const items = await Promise.all(pendingGets)
    pendingGets = []
    return { count: items.length, ok: items.every((item) => isPayload('string', item)) }
  },
  close() {
    for (const q of idleQueues) {
      if (created) q.unlink?.()
      q.close()
    }
    idleQueues = []
    if (!queue) return
    const q = queue
    queue = undefined
    // The creator goes last (after everyone else detached), so it removes the name first.
    if (created) q.unlink?.()
    q.close()
  },
})
