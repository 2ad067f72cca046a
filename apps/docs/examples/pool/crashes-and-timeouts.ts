// What a pool does when a worker dies mid-task, or a task takes too long:
// only that task fails; its worker is replaced and every other task finishes.
import { currentProcess } from '@ipc/core'
import { Pool, TimeoutError, type WorkerExitError } from '@ipc/pool'

// #region main
/** Squares `x`; on 3 the worker process is killed (as the OOM killer would). */
export function fragileSquare(x: number): number {
  if (x === 3) process.kill(process.pid, 'SIGKILL')
  return x * x
}

/** Never returns on its own. */
export function forever(): never {
  for (;;) {}
}

async function main(): Promise<void> {
  await using pool = new Pool(new URL(import.meta.url), { size: 2 })

  // One task per input, each awaited on its own.
  const outcomes = await Promise.allSettled([1, 2, 3, 4, 5].map((x) => pool.run<number>('fragileSquare', [x])))
  for (const [i, outcome] of outcomes.entries()) {
    if (outcome.status === 'fulfilled') console.log(`${i + 1} -> ${outcome.value}`)
    else {
      const error = outcome.reason as WorkerExitError
      console.log(`${i + 1} -> ${error.name} (signal ${error.signal})`)
    }
  }

  // A timeout stops a running task: its worker is killed and replaced.
  try {
    await pool.run('forever', [], { timeout: 200 })
  } catch (error) {
    console.log(`forever -> ${(error as Error).name}: ${error instanceof TimeoutError}`)
  }
  console.log(`the pool goes on: ${await pool.run('fragileSquare', [9])}`)
}
// #endregion main

if (!currentProcess().isChild) {
  await main()
}
