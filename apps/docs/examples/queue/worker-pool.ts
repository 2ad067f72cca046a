// Many to many: three worker processes share one JoinableQueue of tasks and
// send their results back on a second Queue.
import { currentProcess, Process } from '@ipc/core'
import { JoinableQueue, Queue } from '@ipc/queue'

// #region main
/** Runs in each worker process: takes tasks until the queue is shut down. */
export async function worker(tasks: JoinableQueue<number>, results: Queue<string>): Promise<void> {
  for await (const n of tasks) {
    await results.put(`${n} squared is ${n * n}`)
    tasks.taskDone() // one taskDone() per task taken
  }
}

async function main(): Promise<void> {
  const tasks = new JoinableQueue<number>()
  const results = new Queue<string>()
  const workers = [1, 2, 3].map(
    () => new Process(new URL(import.meta.url), { exportName: 'worker', args: [tasks, results] }),
  )
  for (const child of workers) child.start()

  for (let n = 1; n <= 6; n++) {
    await tasks.put(n)
  }
  await tasks.join() // resolves when every task has had its taskDone()
  tasks.shutdown() // now the workers' loops end

  // Each result is printed as it arrives: the order depends on the workers.
  for (let i = 0; i < 6; i++) {
    console.log(await results.get())
  }
  for (const child of workers) await child.join()
  console.log('all workers exited')
  tasks.close()
  results.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
