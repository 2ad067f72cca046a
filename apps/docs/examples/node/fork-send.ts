// What Node gives without @ipc: child_process.fork() and process.send().
// Messages are copied through a channel between one parent and one child.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

// #region main
if (process.argv[2] === 'child') {
  // The child: answer each number with its square. It stays alive while the
  // channel to its parent is open.
  process.on('message', (n: number) => process.send?.(n * n))
} else {
  // The parent: fork this same file as the child (it inherits `--import tsx`).
  const child = fork(fileURLToPath(import.meta.url), ['child'])
  const squares: number[] = []
  child.on('message', (square: number) => {
    squares.push(square)
    if (squares.length === 3) child.disconnect() // closing the channel lets the child exit
  })
  for (const n of [1, 2, 3]) child.send(n)
  const [code] = await once(child, 'exit')
  console.log(`squares from the child: ${squares.join(', ')}`)
  console.log(`child exited with code ${code}`)
}
// #endregion main
