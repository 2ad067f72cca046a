// Ours: @ipc/shared. A SharedValue('int32') incremented under its lock from several
// processes; the lock-free atomic `add`; and bulk copies through `SharedArray.array`
// (a typed-array view of the shared memory).
import { importOurs, now, serve, waitUntil } from './lib.mjs'

let counter
let createdCounter = false
let adder
let shared
let source
let target

serve({
  async 'counter.create'({ name }) {
    const { SharedValue } = await importOurs('@ipc/shared')
    counter = new SharedValue('int32', 0, { name })
    createdCounter = true
    return { handle: counter.handle, name: counter.name }
  },
  async 'counter.attach'({ handle }) {
    const { SharedValue } = await importOurs('@ipc/shared')
    counter = SharedValue.from(handle)
    return {}
  },
  'counter.reset'() {
    counter.value = 0
    return {}
  },
  'counter.increment'({ n, startAt }) {
    const lock = counter.getLock()
    waitUntil(startAt)
    const tStart = now()
    for (let i = 0; i < n; i++) {
      lock.acquireSync()
      counter.value = counter.value + 1
      lock.release()
    }
    return { tStart, tEnd: now() }
  },
  'counter.read'() {
    return { value: counter.value }
  },
  async 'add.setup'({ name }) {
    const { SharedValue } = await importOurs('@ipc/shared')
    adder = new SharedValue('int32', 0, { lock: false, name })
    return { name: adder.name }
  },
  'add.run'({ n }) {
    adder.value = 0
    const t0 = now()
    for (let i = 0; i < n; i++) adder.add(1)
    const elapsedNs = now() - t0
    return { elapsedNs, value: adder.value }
  },
  async 'array.setup'({ bytes, name }) {
    const { SharedArray } = await importOurs('@ipc/shared')
    const length = bytes / 8
    shared = new SharedArray('float64', length, { lock: false, name })
    source = new Float64Array(length).map((_, i) => i)
    target = new Float64Array(length)
    return { name: shared.name }
  },
  'array.run'({ n }) {
    const view = shared.array
    const t0 = now()
    for (let i = 0; i < n; i++) view.set(source)
    const t1 = now()
    for (let i = 0; i < n; i++) target.set(view)
    const t2 = now()
    const ok = target[target.length - 1] === target.length - 1
    return { writeNs: t1 - t0, readNs: t2 - t1, ok }
  },
  close() {
    // Whoever created a primitive goes last, so it removes the name, then detaches.
    if (createdCounter) counter?.unlink?.()
    adder?.unlink?.()
    shared?.unlink?.()
    for (const primitive of [counter, adder, shared]) primitive?.close()
    counter = adder = shared = undefined
  },
})
