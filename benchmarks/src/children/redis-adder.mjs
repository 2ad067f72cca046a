// One process of the Redis shared-value benchmark: from `startAt` (epoch ms)
// for `durationMs`, loops one add of 1 at a time (awaited: one call in
// flight), then prints {"ops": n}.
// argv: impl ('ours': SharedValue#add on @ipc/shared/redis | 'raw': INCRBY with @redis/client), url, name, startAt, durationMs
import { setTimeout as sleep } from 'node:timers/promises'

const [impl, url, name, startAt, durationMs] = process.argv.slice(2)
let add
let close
if (impl === 'ours') {
  const { SharedValue } = await import('@ipc/shared/redis')
  const value = await SharedValue.open(name, 'int32', { url })
  add = () => value.add(1)
  close = () => value.close()
} else {
  const { createClient } = await import('@redis/client')
  const client = createClient({ url })
  await client.connect()
  add = () => client.incrBy(name, 1)
  close = () => client.close()
}
await add() // connect and warm up before the start
await sleep(Math.max(0, Number(startAt) - Date.now()))
const end = Date.now() + Number(durationMs)
let ops = 0
while (Date.now() < end) {
  await add()
  ops++
}
await close()
process.stdout.write(`${JSON.stringify({ ops })}\n`)
