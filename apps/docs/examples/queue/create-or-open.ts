// Create-or-open: processes that meet by a name, with no one to create the
// queue first. Each calls Queue.open(name, { create }); exactly one creates
// it. The queue is persistent, so its items outlive both processes.
import { currentProcess, Process } from '@ipc/core'
import { Queue } from '@ipc/queue'

// #region main
/** Runs in each child: it may be the first to arrive, or not. */
export function worker(name: string, id: number): void {
  const results = Queue.open<{ id: number; created: boolean }>(name, {
    create: { maxsize: 100, persistent: true },
  })
  results.putSync({ id, created: results.created })
  results.close() // persistent: the queue and its item stay
}

async function main(): Promise<void> {
  const name = `results-${process.pid}`
  const workers = [0, 1, 2].map(
    (id) => new Process(new URL(import.meta.url), { exportName: 'worker', args: [name, id] }),
  )
  for (const child of workers) child.start()
  for (const child of workers) await child.join()

  // The children have exited; the persistent queue is still there.
  const results = Queue.open<{ id: number; created: boolean }>(name)
  const reports = [0, 1, 2].map(() => results.getSync())
  console.log('ids:', reports.map((report) => report.id).sort())
  console.log('creators:', reports.filter((report) => report.created).length)
  results.unlink() // removes it once the last object closes
  results.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
