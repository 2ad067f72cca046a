// A/B: the same maps with the dist given in argv[2].
const { Pool } = await import(process.argv[2])
const TASKS = new URL('./pool-tasks.mjs', import.meta.url)
const mode = process.argv[3] ?? 'process'
const pool = new Pool(TASKS, { size: 2, mode })
const out = []
for (const [n, chunksize] of [
  [100000, 1],
  [100000, undefined],
]) {
  const items = Array.from({ length: n }, (_, i) => i)
  await pool.map('identity', items, { chunksize: chunksize ?? 1 })
  const rates = []
  for (let r = 0; r < 5; r++) {
    const t = performance.now()
    await pool.map('identity', items, chunksize === undefined ? {} : { chunksize })
    rates.push((n / (performance.now() - t)) * 1000)
  }
  rates.sort((a, b) => a - b)
  out.push(`${chunksize ?? 'auto'}: ${(rates[2] / 1000).toFixed(0)}k/s`)
}
console.log(mode, out.join('  '))
await pool.terminate()
