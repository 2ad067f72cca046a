// Syscalls of one sync wake-up: a waiter blocks in acquireSync() on Semaphore(0), a releaser
// releases it every 0.2 ms (the benchmark's protocol, `ready` semaphore included). Run under
// `strace -f -e trace=futex,clock_nanosleep,sched_yield,nanosleep` and count per round.
//   node experiments/wake-sync-strace.mjs [rounds] [--floor]
import { fork } from 'node:child_process'
import { Semaphore } from '@ipc/semaphore'

const rounds = Number(process.argv[2] ?? 200)
const sleeper = new Int32Array(new SharedArrayBuffer(4))
if (process.argv[3] === 'child') {
  const [sem, ready] = JSON.parse(process.argv[4]).map((h) => Semaphore.from(h))
  for (let i = 0; i < rounds; i++) {
    ready.release()
    sem.acquireSync()
  }
  sem.close()
  ready.close()
} else {
  const sem = new Semaphore(0)
  const ready = new Semaphore(0)
  const child = fork(new URL(import.meta.url).pathname, [
    String(rounds),
    'child',
    JSON.stringify([sem.handle, ready.handle]),
  ])
  for (let i = 0; i < rounds; i++) {
    ready.acquireSync()
    Atomics.wait(sleeper, 0, 0, 0.2)
    sem.release()
  }
  await new Promise((r) => child.once('exit', r))
  sem.unlink?.()
  ready.unlink?.()
  sem.close()
  ready.close()
}
