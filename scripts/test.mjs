// `npm test` after setup: every test of the workspace (unit, cross-process,
// docs examples, the docs' browser test, the benchmarks' smoke run), one
// package after another, printing what a person wants to read: each test
// file's result and every failure, without build logs or known noise, then
// one closing line "N passed, N failed" (", N skipped" when some were).
// Exits with turbo's exit code.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/** Lines that say nothing about our tests: each is printed once per package otherwise. */
const NOISE = [
  /Testing types with tsc and vue-tsc is an experimental feature/,
  /Breaking changes might not follow SemVer/,
  /^\S+: \s*$/, // an empty line under turbo's prefix
]
// vitest: " Tests  2 failed | 48 passed | 1 skipped (51)"; the browser test: "602 passed, 0 failed".
const VITEST_TOTALS = /\bTests\s+((?:\d+ \w+(?: \| )?)+)\s*\(\d+\)/
const PLAIN_TOTALS = /(?:^|\s)(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$/

const totals = { passed: 0, failed: 0, skipped: 0 }

const turbo = spawn('pnpm', ['exec', 'turbo', 'run', 'test', '--concurrency=1', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
})

function onLine(line, out) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes
  const plain = line.replace(/\x1b\[[0-9;]*m/g, '')
  if (NOISE.some((pattern) => pattern.test(plain))) return
  const vitest = VITEST_TOTALS.exec(plain)
  if (vitest) {
    for (const part of vitest[1].split('|')) {
      const [count, kind] = part.trim().split(' ')
      if (kind in totals) totals[kind] += Number(count)
    }
  } else {
    const closing = PLAIN_TOTALS.exec(plain)
    if (closing) {
      totals.passed += Number(closing[1])
      totals.failed += Number(closing[2])
      totals.skipped += Number(closing[3] ?? 0)
    }
  }
  out.write(`${line}\n`)
}

const done = [turbo.stdout, turbo.stderr].map(
  (stream, i) =>
    new Promise((resolve) => {
      const out = i === 0 ? process.stdout : process.stderr
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })
        .on('line', (line) => onLine(line, out))
        .on('close', resolve)
    }),
)

turbo.on('close', async (code, signal) => {
  await Promise.all(done)
  const skipped = totals.skipped > 0 ? `, ${totals.skipped} skipped` : ''
  console.log(`\n${totals.passed} passed, ${totals.failed} failed${skipped}`)
  process.exit(code ?? (signal ? 1 : 0))
})
