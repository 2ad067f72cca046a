// Ours: @ipc/queue across processes. Each child attaches with `Queue.from(handle)`; the
// producer uses `putSync` and the consumer a `getSync` loop (the fastest a user can write
// in a process that does nothing else). `null` is the end-of-stream sentinel, as `None`
// is in Python.
import { importOurs, isPayload, makePayload, now, serve } from './lib.mjs'

let queue
let created = false

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
  close() {
    if (!queue) return
    const q = queue
    queue = undefined
    // The creator goes last (after everyone else detached), so it removes the name first.
    if (created) q.unlink?.()
    q.close()
  },
})
