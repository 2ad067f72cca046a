// The server time of @ipc/semaphore/redis's uncontended acquire and release (a free permit,
// nobody queued: bench:redis's uncontended row), each function on its own, against
// redis-semaphore's acquire script and ZREM release. Not part of `pnpm bench`.
//
//   cd benchmarks && node --import tsx experiments/redis-uncontended-server-time.mjs [other library.ts]
//
// Loads this checkout's Semaphore library and, if given, another checkout's library.ts under a
// renamed prefix into one private redis-server. Each block runs PAIRS acquires on a
// Semaphore(PAIRS), then PAIRS releases of those tokens (so one function per INFO commandstats
// reset), as direct FCALLs with the arguments the client sends; blocks of the cases alternate
// their order, and the median of ROUNDS blocks is printed, with the commands each call runs
// inside (SLOWLOG, one extra block).
import { startRedisServer } from '@ipc/test-utils'
import { Redis } from 'ioredis'
import { Semaphore as PeerSemaphore } from 'redis-semaphore'

const PAIRS = 2000
const ROUNDS = 7
const IDLE = 30000
const LEASE = 10000
const here = (await import('../../packages/semaphore/src/redis/library.ts')).SEMAPHORE_LIBRARY
const libraries = [{ label: 'this', code: here.code, prefix: `${here.name}_` }]
if (process.argv[2]) {
  const other = (await import(process.argv[2])).SEMAPHORE_LIBRARY
  const renamed = other.name.replace('_semaphore', 'other_semaphore')
  libraries.unshift({ label: 'other', code: other.code.replaceAll(other.name, renamed), prefix: `${renamed}_` })
}

const server = await startRedisServer()
const redis = new Redis(server.url)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
async function usecPerCall(command) {
  const info = await redis.info('commandstats')
  const m = new RegExp(`cmdstat_${command}:calls=(\\d+),usec=(\\d+)`).exec(info)
  return m ? Number(m[2]) / Number(m[1]) : 0
}
try {
  for (const lib of libraries) await redis.call('FUNCTION', 'LOAD', 'REPLACE', lib.code)
  const keysOf = (name) => ['meta', 'holders', 'queue', 'waiters', 'grants', 'objects'].map((p) => `ipc:{${name}}:${p}`)
  let n = 0
  const cases = []
  for (const lib of libraries) {
    const name = `us-${++n}`
    const keys = keysOf(name)
    const fcall = (fn, ...args) => redis.call('FCALL', lib.prefix + fn, keys.length, ...keys, ...args)
    await fcall('create', 'semaphore', 'cA/1', IDLE, 'new', PAIRS, 0, 0, 0)
    cases.push({
      label: lib.label,
      acquire: [],
      release: [],
      async block(record) {
        const tokens = []
        await redis.config('RESETSTAT')
        for (let i = 0; i < PAIRS; i++) {
          const reply = await fcall('acquire', 'semaphore', 'cA/1', IDLE, `cA/1/${i}`, LEASE, 'wait', '')
          if (reply[0] !== 'granted') throw new Error(`not granted: ${reply}`)
          tokens.push(reply[1])
        }
        const acquire = await usecPerCall('fcall')
        await redis.config('RESETSTAT')
        for (const token of tokens) {
          const reply = await fcall('release', 'semaphore', 'cA/1', IDLE, 1, token)
          if (reply[0] !== 'ok') throw new Error(`not released: ${reply}`)
        }
        const release = await usecPerCall('fcall')
        if (record) {
          this.acquire.push(acquire)
          this.release.push(release)
        }
      },
    })
  }
  const peer = { label: 'redis-semaphore', acquire: [], release: [] }
  peer.block = async function (record) {
    const sems = []
    await redis.config('RESETSTAT')
    for (let i = 0; i < PAIRS; i++) {
      const sem = new PeerSemaphore(redis, 'us-peer', PAIRS)
      await sem.acquire()
      sems.push(sem)
    }
    const acquire = await usecPerCall('evalsha')
    await redis.config('RESETSTAT')
    for (const sem of sems) await sem.release()
    const release = await usecPerCall('zrem')
    if (record) {
      this.acquire.push(acquire)
      this.release.push(release)
    }
  }
  cases.push(peer)
  for (const c of cases) await c.block(false)
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? cases : [...cases].reverse()
    for (const c of order) await c.block(true)
  }
  for (const c of cases) {
    const a = median(c.acquire)
    const b = median(c.release)
    console.log(
      `${c.label}: acquire ${a.toFixed(2)} µs, release ${b.toFixed(2)} µs, pair ${(a + b).toFixed(2)} µs (medians of ${ROUNDS} blocks; acquire ${c.acquire.map((x) => x.toFixed(1)).join(' ')}; release ${c.release.map((x) => x.toFixed(1)).join(' ')})`,
    )
  }
  // Commands run inside each call: one more block with every command logged.
  for (const c of cases) {
    await redis.config('SET', 'slowlog-max-len', String(PAIRS * 30))
    await redis.slowlog('RESET')
    await redis.config('SET', 'slowlog-log-slower-than', '0')
    await c.block(false)
    await redis.config('SET', 'slowlog-log-slower-than', '-1')
    const entries = await redis.slowlog('GET', String(PAIRS * 30))
    const inner = new Map()
    let outer = 0
    for (const [, , , args, address] of entries) {
      const command = String(args[0]).toUpperCase()
      if (command === 'SLOWLOG' || command === 'CONFIG' || command === 'INFO') continue
      if (address === '?:0') inner.set(command, (inner.get(command) ?? 0) + 1)
      else outer++
    }
    const list = [...inner].map(([k, v]) => `${k} ${(v / PAIRS).toFixed(2)}`).join(', ')
    console.log(`${c.label}: ${(outer / PAIRS).toFixed(2)} calls per pair; inside, per pair: ${list}`)
  }
} finally {
  await redis.quit()
  await server.stop()
}
