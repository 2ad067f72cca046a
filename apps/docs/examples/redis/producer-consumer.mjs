// "Beyond one machine": the Queue of the tutorial (queue/producer-consumer.ts)
// on a Redis server. What changed: the import (`@ipc/queue/redis`), the URL
// (the `url` option; IPC_REDIS_URL when it is left out), and `await` on
// shutdown() and close(), which now make a round trip. The producer could run
// on another machine: the jobs travel through Redis.
// #region quick-start
import { currentProcess, Process } from '@ipc/core'
import { Queue } from '@ipc/queue/redis'

// #region main
/** Runs in the child process: puts three jobs, then shuts the queue down. */
export async function producer(queue) {
  for (const job of ['A', 'B', 'C']) {
    await queue.put(job)
  }
  await queue.shutdown() // the consumer still gets A, B and C; then its loop ends
}

async function main() {
  const url = process.env.IPC_REDIS_URL ?? 'redis://127.0.0.1:6379'
  const queue = new Queue({ maxsize: 10, url })
  const child = new Process(new URL(import.meta.url), { exportName: 'producer', args: [queue] })
  child.start()

  // This process is the consumer. Each step of `for await` is a `get()`: it
  // waits for the next job without blocking the event loop, and the loop ends
  // once the queue is shut down and empty.
  for await (const job of queue) {
    console.log(`got ${job} from the queue`)
  }

  console.log(`producer exited with code ${await child.join()}`)
  await queue.close()
}
// #endregion main

// Only the parent runs main(): the child imports this file too, to find
// `producer` (Python's `if __name__ == '__main__':`).
if (!currentProcess().isChild) {
  await main()
}
// #endregion quick-start
