// The children of primitives.mjs, run by the arm64 node like their parent.
// argv: role, JSON handle(s), numbers, and `sync` or `async` (which calls wait).
//   produce <queue> <id> <count> <mode>        puts "id:seq" for seq < count, prints DONE
//   consume <queue> <mode>                     gets until null, prints GOT <JSON list>
//   echo <connection> <mode>                   prints READY, echoes until EOF, prints ECHOED <n>
//   increment <value> <count>                  count × { lock; value += 1; unlock }, prints DONE
//   limit <semaphore> <inside> <peak> <rounds> <mode>
//                                              rounds × { acquire; inside += 1; peak = max; sleep 30 ms; inside -= 1; release }
//   hold <semaphore>                           takes one permit, prints HOLDING, SIGKILLs itself 300 ms later
import { Connection } from '@ipc/pipe'
import { Queue } from '@ipc/queue'
import { Semaphore } from '@ipc/semaphore'
import { SharedValue } from '@ipc/shared'

const [role, handle, ...rest] = process.argv.slice(2)
const async = rest.at(-1) === 'async'
const attach = (Kind, json) => Kind.from(JSON.parse(json))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const timeout = 60_000

if (role === 'produce') {
  const queue = attach(Queue, handle)
  const [id, count] = rest.map(Number)
  for (let seq = 0; seq < count; seq++) {
    if (async) await queue.put(`${id}:${seq}`)
    else queue.putSync(`${id}:${seq}`)
  }
  queue.close()
  console.log('DONE')
} else if (role === 'consume') {
  const queue = attach(Queue, handle)
  const got = []
  for (;;) {
    const item = async ? await queue.get({ timeout }) : queue.getSync({ timeout })
    if (item === null) break
    got.push(item)
  }
  queue.close()
  console.log(`GOT ${JSON.stringify(got)}`)
} else if (role === 'echo') {
  const connection = attach(Connection, handle)
  console.log('READY')
  let count = 0
  try {
    for (;;) {
      if (async) await connection.send(await connection.recv({ timeout }))
      else connection.sendSync(connection.recvSync({ timeout }))
      count++
    }
  } catch (error) {
    if (error.name !== 'EOFError') throw error
  }
  connection.close()
  console.log(`ECHOED ${count}`)
} else if (role === 'increment') {
  const value = attach(SharedValue, handle)
  const lock = value.getLock()
  for (let i = Number(rest[0]); i > 0; i--) {
    lock.acquireSync()
    value.value += 1
    lock.release()
  }
  value.close()
  console.log('DONE')
} else if (role === 'limit') {
  const semaphore = attach(Semaphore, handle)
  const inside = attach(SharedValue, rest[0])
  const peak = attach(SharedValue, rest[1])
  const lock = inside.getLock()
  for (let round = Number(rest[2]); round > 0; round--) {
    const acquired = async ? await semaphore.acquire({ timeout }) : semaphore.acquireSync({ timeout })
    if (!acquired) throw new Error('no permit within 60 s')
    lock.acquireSync()
    inside.value += 1
    if (inside.value > peak.value) peak.value = inside.value
    lock.release()
    await sleep(30)
    lock.acquireSync()
    inside.value -= 1
    lock.release()
    semaphore.release()
  }
  for (const primitive of [semaphore, inside, peak]) primitive.close()
  console.log('DONE')
} else if (role === 'hold') {
  const semaphore = attach(Semaphore, handle)
  if (!semaphore.tryAcquire()) throw new Error('no permit free')
  console.log('HOLDING')
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300)
  setInterval(() => {}, 1000)
} else {
  throw new Error(`unknown role ${role}`)
}
