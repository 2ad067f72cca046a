// Python's Value('d', 0.0) and Array('i', range(10)), line for line.
import { currentProcess, Process } from '@ipc/core'
import { SharedArray, SharedValue } from '@ipc/shared'

// #region main
/** Runs in the child: writes a number and negates every element in place. */
export function f(number: SharedValue<'d'>, array: SharedArray<'i'>): void {
  number.value = 3.1415927
  for (let i = 0; i < array.length; i++) {
    array.set(i, -array.get(i))
  }
}

async function main(): Promise<void> {
  const number = new SharedValue('d', 0.0) // 'd' is Python's typecode for float64
  const array = new SharedArray('i', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) // 'i' is int32

  const child = new Process(new URL(import.meta.url), { exportName: 'f', args: [number, array] })
  child.start()
  await child.join()

  console.log(number.value)
  console.log(array.toArray().join(', '))
  // `.array` is a typed-array view of the shared memory itself: no copy.
  console.log(array.array instanceof Int32Array)
  number.close()
  array.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
