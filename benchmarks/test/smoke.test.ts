import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// `pnpm bench --smoke` runs one tiny repetition of every workload, so the benchmarks
// cannot rot: every workload must still produce finite numbers for ours and every peer.

const run = promisify(execFile)
const benchmarksDir = fileURLToPath(new URL('..', import.meta.url))

const EXPECTED_WORKLOADS = [
  'queue.1to1.string',
  'queue.1to1.object',
  'queue.1to1.buffer64k',
  'queue.2to2.string',
  'queue.2to2.object',
  'queue.2to2.buffer64k',
  'queue.4to1.string',
  'queue.1to4.string',
  'queue.1to1.string.batch64',
  'queue.4to1.string.batch64',
  'pipe.rtt.median',
  'pipe.rtt.p99',
  'pipe.rtt.async.median',
  'pipe.rtt.async.p99',
  // Pinned round trips: per placement, sync then async, median then p99.
  ...['cpu1', 'cpu2'].flatMap((p) =>
    ['pipe.rtt', 'pipe.rtt.async'].flatMap((w) => [`${w}.${p}.median`, `${w}.${p}.p99`]),
  ),
  'pipe.oneway.string',
  'pipe.oneway.buffer64k',
  'pipe.python.rtt.median',
  'pipe.python.rtt.p99',
  'shared.counter.locked',
  'shared.add.lockfree',
  'shared.array.write',
  'shared.array.read',
  'semaphore.uncontended',
  'semaphore.contended.2proc',
  'semaphore.contended.4proc',
  'semaphore.wakeup.median',
  'semaphore.wakeup.p99',
  'semaphore.wakeup.async.median',
  'semaphore.wakeup.async.p99',
  'sync.event.wakeup.median',
  'sync.event.wakeup.p99',
  'sync.event.wakeup.async.median',
  'sync.event.wakeup.async.p99',
  'sync.barrier.round',
  'sync.barrier.round.async',
  'sync.condition.wakeup.median',
  'sync.condition.wakeup.p99',
  'segment.create.junk1000',
  // Needs root to plant files of another user.
  ...(process.geteuid?.() === 0 ? ['segment.create.foreign1000'] : []),
  'pool.tiny.chunk1',
  'pool.tiny.auto',
  'pool.cpu1ms',
  'idle.getters.cpu',
  'idle.getters.delay.p99',
]

interface Figure {
  median?: number
  min?: number
  max?: number
  q1?: number
  q3?: number
  samples?: number[]
  problems?: string[]
  error?: string
  skipped?: string
}

interface Row {
  workload: string
  unit: string
  ours: Figure
  peers: Record<string, Figure>
  ratios: Record<string, number>
}

interface Report {
  runId: string
  mode: string
  machine: { cpu: string; cores: number; node: string; python: string | null; date: string }
  results: Row[]
}

function expectFinite(figure: Figure, who: string): void {
  expect(figure.error, `${who} failed`).toBeUndefined()
  expect(figure.problems, `${who} reported problems`).toBeUndefined()
  for (const key of ['median', 'min', 'max', 'q1', 'q3'] as const) {
    expect(Number.isFinite(figure[key]), `${who}.${key} = ${figure[key]}`).toBe(true)
  }
  expect(figure.samples?.length, `${who}.samples`).toBeGreaterThan(0)
  for (const sample of figure.samples ?? []) expect(Number.isFinite(sample), `${who} sample ${sample}`).toBe(true)
}

describe('pnpm bench --smoke', () => {
  const out = mkdtempSync(join(tmpdir(), 'ipc-bench-smoke-'))
  let report: Report
  let stderr = ''

  beforeAll(async () => {
    const result = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', '--smoke', '--out', out], {
      cwd: benchmarksDir,
      timeout: 150_000,
      maxBuffer: 16 * 1024 * 1024,
    })
    stderr = result.stderr
    report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Report
  }, 180_000)

  afterAll(() => {
    rmSync(out, { recursive: true, force: true })
  })

  it('writes latest.json and latest.md to the folder it is given', () => {
    expect(existsSync(join(out, 'latest.md'))).toBe(true)
    expect(report.mode).toBe('smoke')
    expect(readFileSync(join(out, 'latest.md'), 'utf8')).toContain('| CPU | cores |')
  })

  it('prints progress on stderr', () => {
    expect(stderr).toMatch(/\[bench \d+\/\d+/)
  })

  it('describes the machine', () => {
    expect(report.machine.cpu).toEqual(expect.any(String))
    expect(report.machine.cores).toBeGreaterThan(0)
    expect(report.machine.node).toBe(process.version)
    expect(Number.isNaN(Date.parse(report.machine.date))).toBe(false)
  })

  it('reports exactly the expected workloads', () => {
    expect(report.results.map((row) => row.workload)).toEqual(EXPECTED_WORKLOADS)
  })

  it.each(EXPECTED_WORKLOADS)('%s has finite numbers for ours and every peer, and a ratio to each', (workload) => {
    const row = report.results.find((r) => r.workload === workload) as Row
    expect(row, workload).toBeDefined()
    expectFinite(row.ours, `${workload} ours`)
    const peers = Object.entries(row.peers)
    expect(peers.length).toBeGreaterThan(0)
    for (const [name, figure] of peers) {
      if (figure.skipped && name.startsWith('python') && report.machine.python === null) continue
      expectFinite(figure, `${workload} ${name}`)
      expect(Number.isFinite(row.ratios[name]), `${workload} ratio to ${name}`).toBe(true)
    }
  })

  it('shows the one-process new Buffer + copy ceiling beside the 1→1 64 KiB rows, and nowhere else', () => {
    const ceiling = 'one process: new Buffer + copy (ceiling)'
    const withCeiling = report.results.filter((row) => ceiling in row.peers).map((row) => row.workload)
    expect(withCeiling).toEqual(['queue.1to1.buffer64k', 'pipe.oneway.buffer64k'])
    // One job serves both rows.
    const [queueRow, pipeRow] = withCeiling.map((w) => report.results.find((row) => row.workload === w) as Row)
    expect(queueRow?.peers[ceiling]).toEqual(pipeRow?.peers[ceiling])
  })

  it('shows the wake-up floors beside the semaphore wake-up rows', () => {
    const peersOf = (workload: string) =>
      Object.keys(report.results.find((row) => row.workload === workload)?.peers ?? {})
    for (const metric of ['median', 'p99']) {
      expect(peersOf(`semaphore.wakeup.${metric}`)).toEqual(
        expect.arrayContaining(['Node, bare futex (floor)', 'C futex (floor)']),
      )
      expect(peersOf(`semaphore.wakeup.async.${metric}`)).toEqual(
        expect.arrayContaining(['Node event loop woken by another process (floor)', 'C futex (floor)']),
      )
    }
  })

  it('leaves no shared-memory segment or temp folder of its run behind', () => {
    const tag = `ipcbench-${report.runId}`
    const leftovers = existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((name) => name.includes(tag)) : []
    expect(leftovers).toEqual([])
    expect(existsSync(join(tmpdir(), tag))).toBe(false)
  })
})
