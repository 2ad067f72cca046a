// A Barrier: three processes work in rounds of different lengths, and none
// starts round n + 1 before all three have finished round n. wait() gives
// each party of a round a distinct index: 0 for the first to arrive.
import { setTimeout as sleep } from 'node:timers/promises'
import { currentProcess, Process } from '@ipc/core'
import { Barrier } from '@ipc/sync'

// #region main
/** Runs in each of the three child processes. */
export async function party(id: number, barrier: Barrier): Promise<void> {
  for (let round = 1; round <= 3; round++) {
    await sleep(id * 20) // this party's work: 20, 40 or 60 ms
    const index = await barrier.wait({ timeout: 10_000 })
    if (index === barrier.parties - 1) console.log(`round ${round}: all ${barrier.parties} arrived`)
  }
  console.log(`party ${id} finished 3 rounds`)
}

async function main(): Promise<void> {
  const barrier = new Barrier(3)
  const parties = [1, 2, 3].map(
    (id) => new Process(new URL(import.meta.url), { exportName: 'party', args: [id, barrier] }),
  )
  for (const child of parties) child.start()
  for (const child of parties) await child.join()
  barrier.close()
}
// #endregion main

if (!currentProcess().isChild) {
  await main()
}
