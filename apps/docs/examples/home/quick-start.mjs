import { currentProcess, Process } from '@ipc/core'
import { Queue } from '@ipc/queue'

// The child process runs this function, with the queue attached.
export async function child(queue) {
  await queue.put('hello from another process')
}

// Python's `if __name__ == '__main__':` — the child imports this file too.
if (!currentProcess().isChild) {
  const queue = new Queue()
  const worker = new Process(new URL(import.meta.url), { exportName: 'child', args: [queue] })
  worker.start()
  console.log(await queue.get()) // waits without blocking the event loop
  await worker.join()
  queue.close()
}
