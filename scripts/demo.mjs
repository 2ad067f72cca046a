// The README's demo: real child processes talking through each @ipc primitive.
// Run with `npm run demo` (it installs and builds what it needs first).
import { currentProcess, Process } from '@ipc/core'
import { Pipe } from '@ipc/pipe'
import { Queue } from '@ipc/queue'
import { Semaphore } from '@ipc/semaphore'
import { SharedArray, SharedValue } from '@ipc/shared'

const self = new URL(import.meta.url)

// --- what the children run (each is called by Process in its own process) ---

export async function producer(queue, id) {
  for (let i = 1; i <= 3; i++) await queue.put(`job ${id}.${i} from pid ${process.pid}`)
}

export async function echo(conn) {
  for await (const msg of conn) conn.send(`echo: ${msg}`)
}

export async function count(counter, squares, n, part) {
  for (let i = 0; i < n; i++) {
    await counter.withLock(() => {
      counter.value += 1
    })
  }
  // Child 0 writes the squares at even places, child 1 at odd ones.
  for (let i = part; i < squares.length; i += 2) squares.set(i, i * i)
}

export async function worker(sem, active, id) {
  await sem.withPermit(async () => {
    const now = active.add(1) + 1
    console.log(`  worker ${id} holds a permit (${now} of 2 in use)`)
    await new Promise((r) => setTimeout(r, 50))
    active.sub(1)
  })
}

// --- the parent ---

async function main() {
  console.log('1. Queue: 2 producer processes put, the parent gets')
  const queue = new Queue()
  const producers = [1, 2].map((id) => new Process(self, { exportName: 'producer', args: [queue, id] }))
  for (const p of producers) p.start()
  const jobs = []
  for (let i = 0; i < 6; i++) jobs.push(await queue.get({ timeout: 10_000 }))
  for (const p of producers) await p.join()
  for (const job of jobs.sort()) console.log(`  got ${job.replace(/ from pid \d+/, '')}`)
  queue.close()

  console.log('2. Pipe: the parent sends, a child echoes back')
  const [here, there] = Pipe()
  const echoer = new Process(self, { exportName: 'echo', args: [there] })
  echoer.start()
  for (const word of ['ping', 'hello', 'bye']) {
    here.send(word)
    console.log(`  ${await here.recv({ timeout: 10_000 })}`)
  }
  here.close()
  await echoer.join()
  there.close()

  console.log('3. Shared memory: 2 children add 1000 each to a Value under its lock; each fills half of an Array')
  const counter = new SharedValue('int32', 0)
  const squares = new SharedArray('float64', 6)
  const counters = [0, 1].map(
    (part) => new Process(self, { exportName: 'count', args: [counter, squares, 1000, part] }),
  )
  for (const p of counters) p.start()
  for (const p of counters) await p.join()
  console.log(`  counter = ${counter.value}`)
  console.log(`  squares = [${squares.toArray().join(', ')}] (even places by child 1, odd by child 2)`)
  counter.close()
  squares.close()

  console.log('4. Semaphore(2): 4 workers, never more than 2 at once')
  const sem = new Semaphore(2)
  const active = new SharedValue('int32', 0)
  const workers = [1, 2, 3, 4].map((id) => new Process(self, { exportName: 'worker', args: [sem, active, id] }))
  for (const p of workers) p.start()
  for (const p of workers) await p.join()
  sem.close()
  active.close()
  console.log('done: every process exited, every segment was removed')
}

if (!currentProcess().isChild) await main()
