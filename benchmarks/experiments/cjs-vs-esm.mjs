// What a Queue `putSync` + `getSync` costs from each build of the packages: the
// CommonJS one (`require('@ipc/queue')`) and the ES module one (`import`). Not
// part of `pnpm bench`; the measurement behind the CommonJS exports of
// scripts/package-build.mts.
//
//   pnpm -C benchmarks exec node experiments/cjs-vs-esm.mjs [pairs] [rounds]
//
// Each round runs a child per build (alternating which goes first); a child
// puts and gets a short string in one process, `pairs` times after as many
// for warm-up, and reports ns per pair. Prints the median over the rounds.
// On 2026-12-04 (2-core VM): 216 ns from CommonJS against 137 from the ES
// module while the CommonJS exports were getters; 131 against 145 after.
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'

async function child(build, pairs) {
  const { Queue } = build === 'cjs' ? createRequire(import.meta.url)('@ipc/queue') : await import('@ipc/queue')
  const queue = new Queue({ name: `cjs-vs-esm-${process.pid}` })
  try {
    let ns = 0
    for (let round = 0; round < 2; round++) {
      const t0 = performance.now()
      for (let i = 0; i < pairs; i++) {
        queue.putSync('msg-12345')
        queue.getSync()
      }
      ns = ((performance.now() - t0) * 1e6) / pairs
    }
    console.log(ns.toFixed(1))
  } finally {
    queue.unlink()
    queue.close()
  }
}

function main(pairs, rounds) {
  const file = new URL(import.meta.url).pathname
  const results = { cjs: [], esm: [] }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['cjs', 'esm'] : ['esm', 'cjs']
    for (const build of order)
      results[build].push(Number(execFileSync(process.execPath, [file, build, String(pairs)], { encoding: 'utf8' })))
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
  for (const build of ['cjs', 'esm'])
    console.log(
      `${build}: ${median(results[build]).toFixed(0)} ns per putSync + getSync (rounds: ${results[build].join(', ')})`,
    )
}

const [first, second] = process.argv.slice(2)
if (first === 'cjs' || first === 'esm') await child(first, Number(second))
else main(Number(first ?? 3_000_000), Number(second ?? 5))
