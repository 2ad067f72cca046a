// Waiting, not waiting, sync twins and typed errors, in one process.
import { Empty, Full, IpcError, Queue } from '@ipc/queue'

// #region main
const queue = new Queue<string>({ maxsize: 1 })

// The …Nowait calls never wait: they succeed or throw at once.
queue.putNowait('first')
try {
  queue.putNowait('second')
} catch (error) {
  if (error instanceof Full) console.log(`putNowait on a full queue: ${error.name}`)
}
queue.getNowait() // the queue is empty again

// An async wait never blocks the event loop: the timer fires while get() waits.
setTimeout(() => console.log('the timer fired while get() was waiting'), 20)
try {
  await queue.get({ timeout: 200 }) // milliseconds
} catch (error) {
  if (error instanceof Empty) console.log(`get() after 200 ms: ${error.name} (${error.code})`)
}

// An AbortSignal cancels a wait: the call rejects with signal.reason.
const controller = new AbortController()
setTimeout(() => controller.abort(), 20)
try {
  await queue.get({ signal: controller.signal })
} catch (error) {
  console.log(`aborted: ${(error as Error).name}`)
}

// The sync twin blocks this thread while it waits: for scripts and workers.
queue.putSync('second')
console.log(`getSync(): ${queue.getSync()}`)

// Every error @ipc throws for a runtime condition is an IpcError with a code.
try {
  queue.getNowait()
} catch (error) {
  if (error instanceof IpcError) console.log(`an IpcError with code ${error.code}`)
}
queue.close()
// #endregion main
