// The server time of a barging acquire + release of @ipc/semaphore/redis (a holder that loops
// while a young waiter heads the queue: most pairs of bench:redis's contended row), against the
// same pair with nobody queued. Not part of `pnpm bench`.
//
//   cd benchmarks && node --import tsx experiments/redis-barging-server-time.mjs [other library.ts]
//
// Loads this checkout's Semaphore library and, if given, another checkout's library.ts under a
// renamed prefix into one private redis-server, and runs blocks of PAIRS direct FCALL pairs per
// case, alternating the order, INFO commandstats reset per block. The queued waiter is kept young
// for the whole block (its `window` is set far ahead), so every pair takes the barging paths.
import { startRedisServer } from '@ipc/test-utils'
import { Redis } from 'ioredis'

const PAIRS = 2000
const ROUNDS = 6
const here = (await import('../../packages/semaphore/src/redis/library.ts')).SEMAPHORE_LIBRARY
const libraries = [{ label: 'this', code: here.code, prefix: `${here.name}_` }]
if (process.argv[2]) {
  const other = (await import(process.argv[2])).SEMAPHORE_LIBRARY
  const renamed = other.name.replace('_semaphore', 'other_semaphore')
  libraries.unshift({
    label: 'other',
    code: other.code.replaceAll(other.name, renamed),
    prefix: `${renamed}_`,
  })
}

const server = await startRedisServer()
const redis = new Redis(server.url)
const IDLE = 30000
try {
  for (const lib of libraries) await redis.call('FUNCTION', 'LOAD', 'REPLACE', lib.code)
  const keysOf = (name) => ['meta', 'holders', 'queue', 'waiters', 'grants', 'objects'].map((p) => `ipc:{${name}}:${p}`)
  const fcall = (lib, fn, keys, ...args) => redis.call('FCALL', lib.prefix + fn, keys.length, ...keys, ...args)
  let n = 0
  async function setUp(lib, queued) {
    const name = `mb-${++n}`
    const keys = keysOf(name)
    await fcall(lib, 'create', keys, 'semaphore', 'cA/1', IDLE, 'new', 1, 0, 1, 0)
    const [, token] = await fcall(lib, 'acquire', keys, 'semaphore', 'cA/1', IDLE, 'cA/1/0', 10000, 'wait', '')
    if (queued) {
      await fcall(lib, 'acquire', keys, 'semaphore', 'cB/1', IDLE, 'cB/1/1', 10000, 'wait', '')
      await redis.hset(keys[0], 'window', 1e15)
    }
    await fcall(lib, 'release', keys, 'semaphore', 'cA/1', IDLE, 1, token)
    return keys
  }
  async function block(lib, keys) {
    await redis.config('RESETSTAT')
    for (let i = 0; i < PAIRS; i++) {
      const reply = await fcall(lib, 'acquire', keys, 'semaphore', 'cA/1', IDLE, `cA/1/${i + 1}`, 10000, 'wait', '')
      if (reply[0] !== 'granted') throw new Error(`not granted: ${reply}`)
      await fcall(lib, 'release', keys, 'semaphore', 'cA/1', IDLE, 1, reply[1])
    }
    const info = await redis.info('commandstats')
    const m = /cmdstat_fcall:calls=(\d+),usec=(\d+)/.exec(info)
    return (2 * Number(m[2])) / Number(m[1])
  }
  const cases = []
  for (const lib of libraries)
    for (const queued of [false, true])
      cases.push({
        label: `${lib.label} ${queued ? 'young head' : 'nobody queued'}`,
        lib,
        keys: await setUp(lib, queued),
        results: [],
      })
  for (const c of cases) await block(c.lib, c.keys) // warm up
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? cases : [...cases].reverse()
    for (const c of order) c.results.push(await block(c.lib, c.keys))
  }
  for (const c of cases) {
    const sorted = [...c.results].sort((a, b) => a - b)
    console.log(
      `${c.label}: ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} µs of FCALL per pair (median of ${ROUNDS} blocks; ${sorted.map((x) => x.toFixed(1)).join(' ')})`,
    )
  }
} finally {
  await redis.quit()
  await server.stop()
}
