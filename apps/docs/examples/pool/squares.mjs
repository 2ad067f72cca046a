// A pool of workers: the tasks are this file's exports, run in two worker
// processes; the parent hands them out and collects the results.
// #region quick-start
import { currentProcess } from '@ipc/core'
import { Pool, ProcessError } from '@ipc/pool'

// #region main
/** A task: runs in a worker process. */
export function square(x) {
  return x * x
}

/** Another task, with two arguments and a promise. */
export async function describe(name, x, parentPid) {
  return `${name}(${x}) = ${x * x}, computed in another process: ${process.pid !== parentPid}`
}

/** A task that fails: the error comes back to the caller. */
export function divide(a, b) {
  if (b === 0) throw new RangeError('division by zero')
  return a / b
}

async function main() {
  // The pool is closed and its workers joined in the finally block.
  const pool = new Pool(new URL(import.meta.url), { size: 2 })
  try {
    console.log(await pool.map('square', [1, 2, 3, 4, 5])) // in input order
    console.log(await pool.run('describe', ['square', 7, process.pid]))

    for await (const value of pool.imap('square', [6, 7, 8], { ordered: false })) {
      console.log(`imap gave ${value}`) // each as soon as it is ready
    }

    try {
      await pool.run('divide', [1, 0])
    } catch (error) {
      console.log(error instanceof ProcessError, error.childName, error.message)
    }
  } finally {
    pool.close()
    await pool.join()
  }
}
// #endregion main

// Only the parent runs main(): each worker imports this file too, to find its tasks.
if (!currentProcess().isChild) {
  await main()
}
// #endregion quick-start
