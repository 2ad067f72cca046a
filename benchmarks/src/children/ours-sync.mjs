// Ours: @ipc/sync. Event set() → 3 waiters wake-up latency (two Events used in turn, so
// one can be cleared while the other wakes its waiters; the turn carries over from one
// repetition to the next, so no repetition starts on an Event the last one left set); Barrier round time for 3
// processes; Condition notify() → a waiter's wait() returns.
import { importOurs, now, serve, sleepSync, waitUntil } from './lib.mjs'

let events
let barrier
let condition
let ready
let creator = false
/** Rounds of the Event workload so far: setter and waiters count the same rounds, across repetitions too. */
let round = 0

serve({
  async create({ kind, names, parties }) {
    const sync = await importOurs('@ipc/sync')
    const { Semaphore } = await importOurs('@ipc/semaphore')
    creator = true
    const result = {}
    if (kind === 'event') {
      events = names.slice(0, 2).map((name) => new sync.Event({ name }))
      result.events = events.map((event) => event.handle)
    } else if (kind === 'barrier') {
      barrier = new sync.Barrier(parties, { name: names[0] })
      result.barrier = barrier.handle
    } else {
      condition = new sync.Condition({ name: names[0] })
      result.condition = condition.handle
      result.lockName = condition.lock.name
    }
    if (kind !== 'barrier') {
      ready = new Semaphore(0, { name: names[names.length - 1] })
      result.ready = ready.handle
    }
    const made = [...(events ?? []), barrier, condition, ready].filter(Boolean).map((p) => p.name)
    if (result.lockName) made.push(result.lockName)
    return { ...result, names: made }
  },
  async attach({ events: eventHandles, barrier: barrierHandle, condition: conditionHandle, ready: readyHandle }) {
    const sync = await importOurs('@ipc/sync')
    const { Semaphore } = await importOurs('@ipc/semaphore')
    if (eventHandles) events = eventHandles.map((handle) => sync.Event.from(handle))
    if (barrierHandle) barrier = sync.Barrier.from(barrierHandle)
    if (conditionHandle) condition = sync.Condition.from(conditionHandle)
    if (readyHandle) ready = Semaphore.from(readyHandle)
    return {}
  },
  async 'event.waiter'({ n, async: useAsync }) {
    const woken = new Array(n)
    for (let i = 0; i < n; i++) {
      ready.release()
      const event = events[round++ % 2]
      if (useAsync) await event.wait()
      else event.waitSync()
      woken[i] = now()
    }
    return { woken }
  },
  'event.setter'({ n, waiters, gapMs }) {
    const released = new Array(n)
    for (let i = 0; i < n; i++) {
      const r = round++
      for (let w = 0; w < waiters; w++) ready.acquireSync()
      // The other Event: no waiter waits on it now (each waits on this round's).
      events[(r + 1) % 2].clear()
      // Let the waiters reach their futex wait before the set being timed.
      sleepSync(gapMs)
      released[i] = now()
      events[r % 2].set()
    }
    return { released }
  },
  async 'barrier.run'({ n, startAt, async: useAsync }) {
    waitUntil(startAt)
    const tStart = now()
    for (let i = 0; i < n; i++) {
      if (useAsync) await barrier.wait()
      else barrier.waitSync()
    }
    return { tStart, tEnd: now() }
  },
  async 'condition.waiter'({ n, async: useAsync }) {
    const woken = new Array(n)
    for (let i = 0; i < n; i++) {
      if (useAsync) await condition.acquire()
      else condition.acquireSync()
      // Released holding the lock: the notifier can take it only once our wait released it.
      ready.release()
      if (useAsync) await condition.wait()
      else condition.waitSync()
      woken[i] = now()
      condition.release()
    }
    return { woken }
  },
  'condition.notifier'({ n, gapMs }) {
    const released = new Array(n)
    for (let i = 0; i < n; i++) {
      ready.acquireSync()
      sleepSync(gapMs)
      condition.acquireSync()
      released[i] = now()
      condition.notify()
      condition.release()
    }
    return { released }
  },
  close() {
    const all = [...(events ?? []), barrier, condition, ready]
    // The creator goes last, so it removes the names, then detaches.
    if (creator) for (const primitive of all) primitive?.unlink?.()
    for (const primitive of all) primitive?.close()
    events = barrier = condition = ready = undefined
  },
})
