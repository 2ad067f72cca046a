// One pool implementation per child: `setup` starts a pool of `size` workers, each `run`
// maps `n` inputs through one task, as maps of at most `mapLength` inputs (0..length-1),
// and checks every result, timed from the first submission to the last result. The
// benchmark process never runs a task.
import { fork } from 'node:child_process'
import { now, serve } from './lib.mjs'

const TASKS = new URL('./pool-tasks.mjs', import.meta.url)
let impl
let pool
let forkWorkers = []

/** Python's Pool.map rule for the chunk size. */
const autoChunksize = (n, size) => Math.max(1, Math.ceil(n / (4 * size)))

/** A round-robin pool over child_process.fork: chunk i goes to worker i % size. */
function forkPool(size) {
  const pending = new Map()
  let nextId = 0
  forkWorkers = Array.from({ length: size }, () => {
    const child = fork(new URL('./pool-fork-worker.mjs', import.meta.url), [], { serialization: 'advanced' })
    child.on('message', ({ id, results }) => {
      const settle = pending.get(id)
      pending.delete(id)
      settle(results)
    })
    return child
  })
  return {
    async map(fn, items, chunksize) {
      const chunks = []
      for (let start = 0, w = 0; start < items.length; start += chunksize, w++) {
        const id = nextId++
        const worker = forkWorkers[w % forkWorkers.length]
        chunks.push(
          new Promise((resolve) => {
            pending.set(id, resolve)
            worker.send({ id, fn, items: items.slice(start, start + chunksize) })
          }),
        )
      }
      return (await Promise.all(chunks)).flat()
    },
  }
}

serve({
  async setup({ which, size }) {
    impl = which
    if (which === 'ours' || which === 'ours-thread') {
      const { Pool } = await import('@ipc/pool')
      pool = new Pool(TASKS, { size, mode: which === 'ours' ? 'process' : 'thread' })
      // Wait until every worker has imported the module.
      await Promise.all(Array.from({ length: size * 2 }, () => pool.run('identity', [0])))
    } else if (which === 'workerpool') {
      const { default: workerpool } = await import('workerpool')
      pool = workerpool.pool(new URL('./pool-workerpool-worker.mjs', import.meta.url).pathname, {
        workerType: 'process',
        minWorkers: size,
        maxWorkers: size,
      })
      await Promise.all(Array.from({ length: size * 2 }, () => pool.exec('identity', [0])))
    } else if (which === 'piscina') {
      const { Piscina } = await import('piscina')
      pool = new Piscina({ filename: TASKS.href, minThreads: size, maxThreads: size })
      await Promise.all(Array.from({ length: size * 2 }, () => pool.run(0, { name: 'identity' })))
    } else if (which === 'tinypool') {
      const { Tinypool } = await import('tinypool')
      pool = new Tinypool({ filename: TASKS.href, minThreads: size, maxThreads: size })
      await Promise.all(Array.from({ length: size * 2 }, () => pool.run(0, { name: 'identity' })))
    } else if (which === 'fork') {
      pool = forkPool(size)
      await pool.map('identity', [0, 1], 1)
    } else throw new Error(`Unknown pool ${which}`)
    return {}
  },
  async run({ n, task, chunksize, size, mapLength }) {
    // n inputs, as maps of at most mapLength inputs each (the workload's "100,000 tasks").
    const chunk = (length) => (chunksize === 'auto' ? autoChunksize(length, size) : chunksize)
    const mapOnce = (items) => {
      if (impl === 'ours' || impl === 'ours-thread') return pool.map(task, items, { chunksize: chunk(items.length) })
      if (impl === 'workerpool') return Promise.all(items.map((x) => pool.exec(task, [x])))
      if (impl === 'piscina' || impl === 'tinypool') return Promise.all(items.map((x) => pool.run(x, { name: task })))
      return pool.map(task, items, chunk(items.length))
    }
    const batches = []
    for (let start = 0; start < n; start += mapLength)
      batches.push(Array.from({ length: Math.min(mapLength, n - start) }, (_, i) => i))
    const t0 = now()
    const results = []
    for (const items of batches) results.push(await mapOnce(items))
    const elapsedNs = now() - t0
    let ok = batches.length > 0 && results.length === batches.length
    for (let b = 0; ok && b < batches.length; b++) {
      const got = results[b]
      ok = got.length === batches[b].length
      for (let i = 0; ok && i < got.length; i++) ok = got[i] === i
    }
    return { elapsedNs, ok }
  },
  async close() {
    if (impl === 'ours' || impl === 'ours-thread') await pool.terminate()
    else if (impl === 'workerpool') await pool.terminate(true)
    else if (impl === 'piscina') await pool.destroy()
    else if (impl === 'tinypool') await pool.destroy()
    for (const child of forkWorkers) child.kill('SIGKILL')
  },
})
