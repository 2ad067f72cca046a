// One contender of the Redis semaphore benchmark: from `startAt` (epoch ms)
// for `durationMs`, loops acquire + release on a Semaphore(1) named `name`,
// then prints {"ops": n}. argv: impl ('ours' | 'redis-semaphore'), url, name, startAt, durationMs
import { setTimeout as sleep } from 'node:timers/promises'

const [impl, url, name, startAt, durationMs] = process.argv.slice(2)
let acquireRelease
let close
if (impl === 'ours') {
  const { Semaphore } = await import('@ipc/semaphore/redis')
  const sem = await Semaphore.open(name, { url })
  acquireRelease = async () => {
    await sem.acquire()
    await sem.release()
  }
  close = () => sem.close()
} else {
  const { default: Redis } = await import('ioredis')
  const { Semaphore } = await import('redis-semaphore')
  const client = new Redis(url)
  acquireRelease = async () => {
    const sem = new Semaphore(client, name, 1)
    await sem.acquire()
    await sem.release()
  }
  close = () => client.quit()
}
await acquireRelease() // connect and warm up before the start
await sleep(Math.max(0, Number(startAt) - Date.now()))
const end = Date.now() + Number(durationMs)
let ops = 0
while (Date.now() < end) {
  await acquireRelease()
  ops++
}
await close()
process.stdout.write(`${JSON.stringify({ ops })}\n`)
