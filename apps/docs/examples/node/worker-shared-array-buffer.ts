// What Node gives without @ipc: worker_threads and a SharedArrayBuffer.
// The memory is truly shared, but only between threads of one process.
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'

// #region main
const counter = new Int32Array(new SharedArrayBuffer(4))

// Each thread adds 1 to counter[0], a thousand times, with an atomic add.
// (The thread's code is a string so the example runs in plain Node as well.)
const threadCode = `
  const { workerData: counter } = require('node:worker_threads')
  for (let i = 0; i < 1000; i++) Atomics.add(counter, 0, 1)
`
const workers = [1, 2, 3, 4].map(() => new Worker(threadCode, { eval: true, workerData: counter }))
await Promise.all(workers.map((worker) => once(worker, 'exit')))

console.log(`counter after 4 threads x 1000 increments: ${Atomics.load(counter, 0)}`)
// #endregion main
