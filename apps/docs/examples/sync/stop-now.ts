// An Event: three workers wait for "go", all start at the same moment, and
// work until "stop" is set. No polling of a shared flag: set() wakes every
// waiter at once, in every process.
// #region quick-start
import { setTimeout as sleep } from 'node:timers/promises'
import { currentProcess, Process } from '@ipc/core'
import { Event } from '@ipc/sync'

// #region main
/** Runs in each of the three child processes. */
export async function worker(id: number, go: Event, stop: Event): Promise<void> {
  await go.wait() // everyone starts together
  while (!stop.isSet()) {
    // One "job": 10 ms of work, cut short the moment stop is set.
    await stop.wait({ timeout: 10 })
  }
  console.log(`worker ${id} stopped`)
}

async function main(): Promise<void> {
  const go = new Event()
  const stop = new Event()
  const workers = [1, 2, 3].map(
    (id) => new Process(new URL(import.meta.url), { exportName: 'worker', args: [id, go, stop] }),
  )
  for (const child of workers) child.start()
  go.set()
  await sleep(100)
  stop.set() // wakes every worker now
  for (const child of workers) await child.join()
  console.log('every worker stopped')
  go.close()
  stop.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
// #endregion quick-start
