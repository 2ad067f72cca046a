// Ours: @ipc/semaphore. Uncontended acquireSync+release; processes contending on
// Semaphore(1) that guards a RawValue counter from @ipc/shared; and wake-up latency: the
// time from `release()` in one process to the return of a blocked `acquireSync()`
// (or `await acquire()`) in another.
import { importOurs, now, serve, sleepSync, waitUntil } from './lib.mjs'

let semaphore
let ready
let counter
let creator = false

serve({
  async create({ name, value, counterName, readyName }) {
    const { Semaphore } = await importOurs('@ipc/semaphore')
    semaphore = new Semaphore(value, { name })
    creator = true
    const names = [semaphore.name]
    const result = { semaphore: semaphore.handle }
    if (counterName) {
      const { RawValue } = await importOurs('@ipc/shared')
      counter = new RawValue('int32', 0, { name: counterName })
      result.counter = counter.handle
      names.push(counter.name)
    }
    if (readyName) {
      ready = new Semaphore(0, { name: readyName })
      result.ready = ready.handle
      names.push(ready.name)
    }
    return { ...result, names }
  },
  async attach({ semaphore: semaphoreHandle, counter: counterHandle, ready: readyHandle }) {
    const { Semaphore } = await importOurs('@ipc/semaphore')
    semaphore = Semaphore.from(semaphoreHandle)
    if (counterHandle) {
      const { RawValue } = await importOurs('@ipc/shared')
      counter = RawValue.from(counterHandle)
    }
    if (readyHandle) ready = Semaphore.from(readyHandle)
    return {}
  },
  uncontended({ n }) {
    const t0 = now()
    for (let i = 0; i < n; i++) {
      semaphore.acquireSync()
      semaphore.release()
    }
    return { elapsedNs: now() - t0 }
  },
  'counter.reset'() {
    counter.value = 0
    return {}
  },
  'counter.read'() {
    return { value: counter.value }
  },
  contend({ n, startAt }) {
    waitUntil(startAt)
    const tStart = now()
    for (let i = 0; i < n; i++) {
      semaphore.acquireSync()
      counter.value = counter.value + 1
      semaphore.release()
    }
    return { tStart, tEnd: now() }
  },
  async waiter({ n, async: useAsync }) {
    const woken = new Array(n)
    for (let i = 0; i < n; i++) {
      ready.release()
      if (useAsync) await semaphore.acquire()
      else semaphore.acquireSync()
      woken[i] = now()
    }
    return { woken }
  },
  releaser({ n, gapMs }) {
    const released = new Array(n)
    for (let i = 0; i < n; i++) {
      ready.acquireSync()
      // Let the waiter reach its futex wait before the release being timed.
      sleepSync(gapMs)
      released[i] = now()
      semaphore.release()
    }
    return { released }
  },
  close() {
    // The creator goes last, so it removes the names, then detaches.
    if (creator) for (const primitive of [semaphore, counter, ready]) primitive?.unlink?.()
    for (const primitive of [semaphore, counter, ready]) primitive?.close()
    semaphore = counter = ready = undefined
  },
})
