// A Condition: a consumer process waits, without polling, until the
// producer has made three items. The producer changes the shared count while
// holding the condition's lock and notifies; the consumer re-checks its
// predicate each time it is woken.
import { setTimeout as sleep } from 'node:timers/promises'
import { currentProcess, Process } from '@ipc/core'
import { SharedValue } from '@ipc/shared'
import { Condition } from '@ipc/sync'

// #region main
/** Runs in the child process. */
export async function consumer(ready: Condition, items: SharedValue<'int32'>): Promise<void> {
  await ready.withLock(async () => {
    // Releases the lock while it sleeps; holds it again when it returns.
    const enough = await ready.waitFor(() => items.value >= 3, { timeout: 10_000 })
    console.log(`consumer: ${items.value} items are ready (${enough})`)
  })
}

async function main(): Promise<void> {
  const ready = new Condition() // with an RLock of its own
  const items = new SharedValue('int32', 0, { lock: false }) // the condition's lock guards it
  const child = new Process(new URL(import.meta.url), { exportName: 'consumer', args: [ready, items] })
  child.start()
  for (let i = 1; i <= 3; i++) {
    await sleep(50) // make an item
    await ready.withLock(() => {
      items.value = i
      console.log(`producer: item ${i}`)
      ready.notifyAll()
    })
  }
  await child.join()
  ready.close()
  items.close()
}
// #endregion main

if (!currentProcess().isChild) {
  await main()
}
