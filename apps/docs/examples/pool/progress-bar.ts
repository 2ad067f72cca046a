// A progress bar from pool.pending: the number of inputs submitted and not
// yet finished. The bar goes to stderr (redrawn in place on a terminal); the
// results go to stdout.
import { setTimeout as sleep } from 'node:timers/promises'
import { currentProcess } from '@ipc/core'
import { Pool } from '@ipc/pool'

// #region main
/** A task that takes a while: 20 ms per input. */
export async function slowSquare(x: number): Promise<number> {
  await sleep(20)
  return x * x
}

function drawBar(done: number, total: number): void {
  const width = 30
  const filled = Math.round((done / total) * width)
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`
  process.stderr.write(process.stderr.isTTY ? `\r${bar}` : `${bar}\n`)
}

async function main(): Promise<void> {
  await using pool = new Pool(new URL(import.meta.url), { size: 2 })
  const inputs = Array.from({ length: 100 }, (_, i) => i)

  // chunksize 5: each worker takes 5 inputs per message, so pending drops by 5 at a time.
  const squares = pool.map<number>('slowSquare', inputs, { chunksize: 5 })
  const timer = setInterval(() => drawBar(inputs.length - pool.pending, inputs.length), 100)
  const results = await squares
  clearInterval(timer)
  drawBar(inputs.length - pool.pending, inputs.length)
  if (process.stderr.isTTY) process.stderr.write('\n')

  console.log(`pending after the map: ${pool.pending}`)
  console.log(`sum of squares: ${results.reduce((a, b) => a + b, 0)}`)
}
// #endregion main

if (!currentProcess().isChild) {
  await main()
}
