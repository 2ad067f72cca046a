// Way 3, shared memory: four processes update the same numbers in place.
// The JavaScript twin of counter.ts: runs with plain `node`.
// #region quick-start
import { currentProcess, Process } from '@ipc/core'
import { SharedArray, SharedValue } from '@ipc/shared'

// #region main
/** Runs in each of the four child processes. */
export async function work(index, hits, total, perWorker) {
  for (let i = 0; i < 1000; i++) {
    hits.add(1) // one atomic step: no lock needed
    await total.withLock(() => {
      total.value += 0.5 // read, add, write: hold the lock so no update is lost
    })
  }
  perWorker.set(index, 1000) // each worker owns one slot of the array
}

async function main() {
  const hits = new SharedValue('int32', 0)
  const total = new SharedValue('float64', 0)
  const perWorker = new SharedArray('int32', 4) // four zeros

  const workers = [0, 1, 2, 3].map(
    (index) =>
      new Process(new URL(import.meta.url), {
        exportName: 'work',
        args: [index, hits, total, perWorker],
      }),
  )
  for (const child of workers) child.start()
  for (const child of workers) await child.join()

  console.log(`hits: ${hits.value}`)
  console.log(`total: ${total.value}`)
  console.log(`per worker: ${perWorker.toArray().join(', ')}`)
  hits.close()
  total.close()
  perWorker.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
// #endregion quick-start
