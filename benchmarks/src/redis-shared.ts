/**
 * `pnpm --filter @ipc/benchmarks bench:redis-shared`: `SharedValue#add()` of
 * @ipc/shared/redis against a raw @redis/client `INCRBY` loop, on one private
 * redis-server started here, in the same run: 1 and 4 processes, each with
 * one call in flight (awaited), adds per second in total (higher is better).
 * `--quick`: 2 s per measurement instead of 5.
 */
import { fork } from 'node:child_process'
import { SharedValue } from '@ipc/shared/redis'
import { startRedisServer } from '@ipc/test-utils'

const ADDER = new URL('./children/redis-adder.mjs', import.meta.url)
const quick = process.argv.includes('--quick')
const DURATION_MS = quick ? 2000 : 5000

/** Runs `processes` adders for DURATION_MS; returns adds per second and the adds made (warm-up ones included). */
async function run(
  label: string,
  impl: 'ours' | 'raw',
  url: string,
  name: string,
  processes: number,
): Promise<{ perSecond: number; adds: number }> {
  const startAt = Date.now() + 1500
  const children = Array.from({ length: processes }, () =>
    fork(ADDER, [impl, url, name, String(startAt), String(DURATION_MS)], {
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
  const total = counts.reduce((a, b) => a + b, 0)
  const perSecond = total / (DURATION_MS / 1000)
  console.log(`add(1), ${processes} process${processes === 1 ? '' : 'es'}, ${label}: ${Math.round(perSecond)} ops/s`)
  return { perSecond, adds: total + processes }
}

const server = await startRedisServer()
try {
  console.log(`redis-server ${server.url}, ${quick ? 'quick' : 'full'} run`)
  const results: string[] = []
  for (const processes of [1, 4]) {
    const value = new SharedValue('int32', 0, {
      url: server.url,
      name: `bench-${processes}`,
      lock: false,
      persistent: true,
    })
    await value.ready()
    const ours = await run('@ipc/shared/redis SharedValue#add', 'ours', server.url, value.name, processes)
    // Every add of every process landed, exactly once.
    const exact = (await value.get()) === ours.adds
    await value.unlink()
    await value.close()
    const raw = await run('@redis/client INCRBY', 'raw', server.url, `bench-raw-${processes}`, processes)
    const plural = processes === 1 ? '' : 'es'
    results.push(
      `${processes} process${plural}: ${(ours.perSecond / raw.perSecond).toFixed(2)}× the raw loop's ops/s; count exact: ${exact}`,
    )
  }
  console.log(`\n${results.join('\n')}`)
} finally {
  await server.stop()
}
