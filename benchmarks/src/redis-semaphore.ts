/**
 * `pnpm --filter @ipc/benchmarks bench:redis`: @ipc/semaphore/redis against
 * redis-semaphore (with ioredis), on one private redis-server started here,
 * in the same run: acquire + release uncontended (µs per pair, lower is
 * better) and 4 processes contending on a Semaphore(1) (pairs per second,
 * higher is better). Both libraries with their default options.
 *
 * `--stats` adds, after the timed phases, the server's time per call, in two
 * untimed passes of STATS_PAIRS uncontended pairs per library: INFO
 * commandstats (the µs of the commands a client sends: FCALL, EVALSHA,
 * ZREM), then SLOWLOG logging every command (threshold 0), which splits the
 * FCALLs by function and counts the commands run inside them but adds its
 * own cost to every logged command (so its figures are higher).
 */
import { fork } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { Semaphore } from '@ipc/semaphore/redis'
import { startRedisServer } from '@ipc/test-utils'
import { Redis } from 'ioredis'
import { Semaphore as PeerSemaphore } from 'redis-semaphore'

const CONTENDER = new URL('./children/redis-contender.mjs', import.meta.url)
const quick = process.argv.includes('--quick')
const UNCONTENDED_PAIRS = quick ? 2000 : 10_000
/**
 * Pairs each library runs before either is timed: V8 tiers the loop up in
 * background threads that share the 2 cores, and a process starts cold, so
 * without this the library timed first ran its first few thousand pairs
 * 2 to 3 times slower than later ones (measured 2026-12-04).
 */
const WARMUP_PAIRS = quick ? 2000 : 5000
const CONTENDED_MS = quick ? 2000 : 5000
const PROCESSES = 4
const stats = process.argv.includes('--stats')
const STATS_PAIRS = 1000

/** Runs STATS_PAIRS pairs and prints the server's µs per pair and per call of the commands `names` (INFO commandstats). */
async function commandTime(label: string, admin: Redis, pair: () => Promise<void>, names: string[]): Promise<void> {
  await admin.config('RESETSTAT')
  for (let i = 0; i < STATS_PAIRS; i++) await pair()
  const info = await admin.info('commandstats')
  let total = 0
  const parts: string[] = []
  for (const name of names) {
    const match = new RegExp(`cmdstat_${name}:calls=(\\d+),usec=(\\d+)`).exec(info)
    if (match === null) continue
    const calls = Number(match[1])
    const micros = Number(match[2])
    total += micros
    parts.push(`${name.toUpperCase()} ${(micros / calls).toFixed(1)} µs × ${calls}`)
  }
  console.log(`server time, ${label}: ${(total / STATS_PAIRS).toFixed(1)} µs per pair (${parts.join(', ')})`)
}

/**
 * Runs STATS_PAIRS pairs with every command logged, and prints the server's mean µs per pair and per
 * command a client sent, and how many commands per pair ran inside scripts and functions (logged
 * with the address "?:0").
 */
async function serverTime(label: string, admin: Redis, pair: () => Promise<void>): Promise<void> {
  const room = STATS_PAIRS * 40
  await admin.config('SET', 'slowlog-max-len', String(room))
  await admin.slowlog('RESET')
  await admin.config('SET', 'slowlog-log-slower-than', '0')
  for (let i = 0; i < STATS_PAIRS; i++) await pair()
  await admin.config('SET', 'slowlog-log-slower-than', '-1')
  const entries = (await admin.slowlog('GET', String(room))) as [number, number, number, string[], string][]
  const byCommand = new Map<string, { count: number; micros: number }>()
  let total = 0
  let inner = 0
  for (const [, , micros, args, address] of entries) {
    const command = (args[0] ?? '').toUpperCase()
    if (command === 'SLOWLOG' || command === 'CONFIG') continue
    if (address === '?:0') {
      inner++
      continue
    }
    const key = command === 'FCALL' ? `FCALL ${args[1]?.replace(/^ipc_v\d+_semaphore_/, '')}` : command
    const entry = byCommand.get(key) ?? { count: 0, micros: 0 }
    entry.count++
    entry.micros += micros
    byCommand.set(key, entry)
    total += micros
  }
  const parts = [...byCommand].map(([key, { count, micros }]) => `${key} ${(micros / count).toFixed(1)} µs × ${count}`)
  console.log(
    `slowlog, ${label}: ${(total / STATS_PAIRS).toFixed(1)} µs per pair (${parts.join(', ')}; ${(inner / STATS_PAIRS).toFixed(1)} inner calls per pair)`,
  )
}

async function warmUp(pair: () => Promise<void>): Promise<void> {
  for (let i = 0; i < WARMUP_PAIRS; i++) await pair()
}

async function uncontended(label: string, pair: () => Promise<void>): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < UNCONTENDED_PAIRS; i++) await pair()
  const perPair = ((performance.now() - started) * 1000) / UNCONTENDED_PAIRS
  console.log(`uncontended acquire + release, ${label}: ${perPair.toFixed(1)} µs per pair`)
  return perPair
}

async function contended(label: string, impl: string, url: string, name: string): Promise<number> {
  const startAt = Date.now() + 1500
  const children = Array.from({ length: PROCESSES }, () =>
    fork(CONTENDER, [impl, url, name, String(startAt), String(CONTENDED_MS)], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    }),
  )
  const counts = await Promise.all(
    children.map(
      (child) =>
        new Promise<number>((resolve, reject) => {
          let out = ''
          child.stdout?.on('data', (data) => {
            out += data
          })
          child.on('exit', (code) =>
            code === 0 ? resolve(JSON.parse(out).ops) : reject(new Error(`${impl} exited ${code}`)),
          )
        }),
    ),
  )
  const perSecond = counts.reduce((a, b) => a + b, 0) / (CONTENDED_MS / 1000)
  console.log(
    `${PROCESSES} processes on Semaphore(1), ${label}: ${Math.round(perSecond)} pairs/s (per process: ${counts.join(', ')})`,
  )
  return perSecond
}

const server = await startRedisServer()
try {
  console.log(`redis-server ${server.url}, ${quick ? 'quick' : 'full'} run`)
  const ours = new Semaphore(1, { url: server.url, name: 'bench-uncontended' })
  const oursPair = async () => {
    await ours.acquire()
    await ours.release()
  }
  const client = new Redis(server.url)
  const peerPair = async () => {
    const sem = new PeerSemaphore(client, 'bench-peer-uncontended', 1)
    await sem.acquire()
    await sem.release()
  }
  await warmUp(oursPair)
  await warmUp(peerPair)
  const oursUncontended = await uncontended('@ipc/semaphore/redis', oursPair)
  const peerUncontended = await uncontended('redis-semaphore', peerPair)
  if (stats) {
    const admin = new Redis(server.url)
    await commandTime('@ipc/semaphore/redis', admin, oursPair, ['fcall'])
    // redis-semaphore's release is a ZREM sent by the client; its acquire script runs none.
    await commandTime('redis-semaphore', admin, peerPair, ['evalsha', 'zrem'])
    await serverTime('@ipc/semaphore/redis', admin, oursPair)
    await serverTime('redis-semaphore', admin, peerPair)
    await admin.quit()
  }
  await ours.close()
  await client.quit()
  const holder = new Semaphore(1, { url: server.url, name: 'bench-contended', persistent: true })
  await holder.ready()
  const oursContended = await contended('@ipc/semaphore/redis', 'ours', server.url, 'bench-contended')
  await holder.unlink()
  await holder.close()
  const peerContended = await contended('redis-semaphore', 'redis-semaphore', server.url, 'bench-peer-contended')
  console.log(
    `\nours vs redis-semaphore: uncontended ${(peerUncontended / oursUncontended).toFixed(2)}× faster, contended ${(oursContended / peerContended).toFixed(2)}× the throughput`,
  )
} finally {
  await server.stop()
}
