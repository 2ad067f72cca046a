// A consumer whose producer died: as in Python, a get() would wait forever for
// an item that will never come. join() tells when the producer is gone, and an
// AbortSignal ends the wait.
import { currentProcess, Process } from '@ipc/core'
import { Queue } from '@ipc/queue'

/** Runs in the child: puts one job, then dies before it can put the rest. */
export async function producer(queue: Queue<string>): Promise<void> {
  await queue.put('job 1')
  process.exit(3) // a crash: no shutdown(), no more items
}

// #region main
async function consume(queue: Queue<string>, child: Process): Promise<void> {
  // Abort the wait when the producer exits, whatever its exit code.
  const producerGone = new AbortController()
  const exited = child.join().then((code) => {
    producerGone.abort(new Error(`the producer exited with code ${code}`))
    return code
  })
  try {
    while (true) {
      const job = await queue.get({ signal: producerGone.signal })
      console.log(`got ${job}`)
    }
  } catch (error) {
    // The queue may still hold items put just before the producer died.
    while (!queue.empty()) console.log(`got ${queue.getNowait()}`)
    console.log(`stopped waiting: ${(error as Error).message}`)
  }
  await exited
}
// #endregion main

if (!currentProcess().isChild) {
  const queue = new Queue<string>()
  const child = new Process(new URL(import.meta.url), { exportName: 'producer', args: [queue] })
  child.start()
  await consume(queue, child)
  queue.close()
}
