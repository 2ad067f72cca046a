// "Beyond one machine": the shared values of the tutorial (shared/counter.ts)
// on a Redis server. What changed: the import (`@ipc/shared/redis`), the URL
// (the `url` option; IPC_REDIS_URL when it is left out), and `await` on what
// now makes a round trip: `add()`, `set()`, `get()` (which replaces
// `.value`), `toArray()` and `close()`, which each worker calls too (an
// object stays registered on the server until it closes, or until three
// leases after its process ended). The four workers could run on four
// machines: they update the same numbers through Redis.
// #region quick-start
import { currentProcess, Process } from '@ipc/core'
import { SharedArray, SharedValue } from '@ipc/shared/redis'

// #region main
/** Runs in each of the four child processes. */
export async function work(
  index: number,
  hits: SharedValue<'int32'>,
  total: SharedValue<'float64'>,
  perWorker: SharedArray<'int32'>,
): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    await hits.add(1) // one atomic step on the server: no lock needed
    await total.withLock(async () => {
      await total.set((await total.get()) + 0.5) // read, add, write: hold the lock so no update is lost
    })
  }
  await perWorker.set(index, 1000) // each worker owns one slot of the array
  await hits.close()
  await total.close()
  await perWorker.close()
}

async function main(): Promise<void> {
  const url = process.env.IPC_REDIS_URL ?? 'redis://127.0.0.1:6379'
  const hits = new SharedValue('int32', 0, { url })
  const total = new SharedValue('float64', 0, { url })
  const perWorker = new SharedArray('int32', 4, { url }) // four zeros

  const workers = [0, 1, 2, 3].map(
    (index) =>
      new Process(new URL(import.meta.url), {
        exportName: 'work',
        args: [index, hits, total, perWorker],
      }),
  )
  for (const child of workers) child.start()
  for (const child of workers) await child.join()

  console.log(`hits: ${await hits.get()}`)
  console.log(`total: ${await total.get()}`)
  console.log(`per worker: ${(await perWorker.toArray()).join(', ')}`)
  await hits.close()
  await total.close()
  await perWorker.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
// #endregion quick-start
