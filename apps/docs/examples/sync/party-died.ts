// A party that dies while it waits at a Barrier breaks it: the others get
// BrokenBarrierError within about 100 ms instead of waiting forever (where
// Python's Barrier would hang).
import { currentProcess, Process } from '@ipc/core'
import { Barrier, BrokenBarrierError } from '@ipc/sync'

// #region main
/** Runs in each of the three child processes; party 3 is killed while it waits. */
export async function party(id: number, barrier: Barrier): Promise<void> {
  if (id === 3) setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200)
  try {
    await barrier.wait()
    console.log(`party ${id} passed`)
  } catch (error) {
    if (!(error instanceof BrokenBarrierError)) throw error
    console.log(`party ${id}: the barrier broke`)
  }
}

async function main(): Promise<void> {
  const barrier = new Barrier(4) // a fourth party never comes: only a break ends the wait
  const parties = [1, 2, 3].map(
    (id) => new Process(new URL(import.meta.url), { exportName: 'party', args: [id, barrier] }),
  )
  for (const child of parties) child.start()
  const codes = []
  for (const child of parties) codes.push(await child.join())
  console.log(`exit codes: ${codes.join(', ')}`)
  console.log(`broken: ${barrier.broken}`)
  barrier.close()
}
// #endregion main

if (!currentProcess().isChild) {
  await main()
}
