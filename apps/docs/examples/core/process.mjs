// @ipc/core alone: Process runs an exported function in a child process and
// reports how it ended, as Python's multiprocessing.Process does.
// The JavaScript twin of process.ts: runs with plain `node`.
// #region quick-start
import { currentProcess, Process, ProcessError } from '@ipc/core'

// #region main
/** Runs in a child process. Its argument arrives as a copy (structured clone). */
export function work(job) {
  if (job.items.length === 0) throw new Error(`job ${job.id} has no items`)
  console.log(`job ${job.id} in ${currentProcess().name}: ${job.items.join(', ')}`)
}

async function main() {
  const ok = new Process(new URL(import.meta.url), {
    exportName: 'work',
    args: [{ id: 1, items: ['a', 'b'] }],
    name: 'worker-1',
  })
  ok.start()
  console.log(`worker-1 exited with code ${await ok.join()}`)

  const failing = new Process(new URL(import.meta.url), {
    exportName: 'work',
    args: [{ id: 2, items: [] }],
    name: 'worker-2',
  })
  failing.start()
  try {
    await failing.join()
  } catch (error) {
    if (!(error instanceof ProcessError)) throw error
    // The child's error comes back: its message, its name and its stack (error.childStack).
    console.log(`${error.message} (exit code ${error.exitCode})`)
  }
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find `work`.
if (!currentProcess().isChild) {
  await main()
}
// #endregion quick-start
