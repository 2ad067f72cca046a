// Raw shared memory: a block of bytes that any process opens by its name.
import { currentProcess, Process } from '@ipc/core'
import { SharedMemory } from '@ipc/shared'

// #region main
/** Runs in the child, which is given only the block's name. */
export function writer(name: string): void {
  const memory = SharedMemory.open(name)
  memory.buf.set(new TextEncoder().encode('hello through shared memory'))
  memory.close()
}

async function main(): Promise<void> {
  const memory = SharedMemory.create({ size: 64 })
  const child = new Process(new URL(import.meta.url), { exportName: 'writer', args: [memory.name] })
  child.start()
  await child.join()

  const end = memory.buf.indexOf(0) // the rest of the block is still zeros
  console.log(new TextDecoder().decode(memory.buf.subarray(0, end)))
  memory.close() // the last process to close it frees it
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
