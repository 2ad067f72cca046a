// "Beyond one machine": the Semaphore of the tutorial (semaphore/pool-limit.ts)
// on a Redis server. What changed: the import (`@ipc/semaphore/redis`), the
// URL (the `url` option; IPC_REDIS_URL when it is left out), and `await` on
// the calls that now make a round trip (`getValue()`, `close()`, which each
// job calls too). The five jobs could run on five machines: they share the
// permits through Redis.
// The JavaScript twin of pool-limit.ts: runs with plain `node`.
// #region quick-start
import { setTimeout as sleep } from 'node:timers/promises'
import { currentProcess, Process } from '@ipc/core'
import { Semaphore } from '@ipc/semaphore/redis'
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
  await pool.close()
}

async function main() {
  const url = process.env.IPC_REDIS_URL ?? 'redis://127.0.0.1:6379'
  const pool = new Semaphore(2, { url })
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
  console.log(`permits free again: ${await pool.getValue()}`)
  await pool.close()
  running.close()
  peak.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
// #endregion quick-start
