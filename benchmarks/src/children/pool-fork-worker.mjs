// The hand-written child_process.fork pool's worker: answers { id, fn, items } with
// { id, results }, one message per chunk (the same chunking as ours and Python).
import { identity, spin1ms } from './pool-tasks.mjs'

const tasks = { identity, spin1ms }

process.on('message', ({ id, fn, items }) => {
  const task = tasks[fn]
  const results = new Array(items.length)
  for (let i = 0; i < items.length; i++) results[i] = task(items[i])
  process.send({ id, results })
})
process.on('disconnect', () => process.exit(0))
