// The one mistake @ipc refuses: a file that starts a child of itself with no
// main guard. Run it to see what happens instead of an endless chain.
import { Process } from '@ipc/core'

// #region main
export function worker() {
  console.log('never printed: the child stops before it gets here')
}

// Wrong: this line runs in the parent AND in the child, which imports this
// file to find `worker`. @ipc refuses the child's start() with the fix.
const child = new Process(new URL(import.meta.url), { exportName: 'worker' }).start()

try {
  await child.join()
} catch (error) {
  // The child's refusal comes back to the parent as a ProcessError.
  console.log(`join() rejected with ${(error as Error).name}:`)
  console.log((error as Error).message)
}
// #endregion main
