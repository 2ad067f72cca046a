// Way 4, a Semaphore: five processes want a resource that only two may use
// at a time (think of a pool of two database connections).
// The JavaScript twin of pool-limit.ts: runs with plain `node`.
// #region quick-start
import { setTimeout as sleep } from 'node:timers/promises'
import { currentProcess, Process } from '@ipc/core'
import { Semaphore } from '@ipc/semaphore'
import { SharedValue } from '@ipc/shared'

// #region main
/** Runs in each of the five child processes. */
export async function job(id, pool, running, peak) {
  await pool.withPermit(async () => {
    // Count who is inside, to check the limit afterwards.
    const inside = running.add(1) + 1 // add() returns the previous value
    await peak.withLock(() => {
      peak.value = Math.max(peak.value, inside)
    })
    console.log(`job ${id} got a permit`)
    await sleep(100) // use the resource
    running.sub(1)
  }) // the permit is released here, even if the function throws
  console.log(`job ${id} gave it back`)
}

async function main() {
  const pool = new Semaphore(2)
  const running = new SharedValue('int32', 0)
  const peak = new SharedValue('int32', 0)

  const jobs = [1, 2, 3, 4, 5].map(
    (id) =>
      new Process(new URL(import.meta.url), {
        exportName: 'job',
        args: [id, pool, running, peak],
      }),
  )
  for (const child of jobs) child.start()
  for (const child of jobs) await child.join()

  console.log(`never more than 2 at once: ${peak.value <= 2}`)
  console.log(`permits free again: ${pool.value}`)
  pool.close()
  running.close()
  peak.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
// #endregion quick-start
