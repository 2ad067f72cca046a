import { describe, expect, it } from 'vitest'
import { formatNumber, normalize } from '../.vitepress/theme/benchmarks/normalize'

// The Benchmarks page reads benchmarks/results/latest.json at build time.
// These cases pin down the shapes it understands.

describe('normalize()', () => {
  it('reads a flat list of results, grouped by their group field, with run metadata', () => {
    const data = normalize(
      {
        node: 'v20.20.2',
        env: { cpus: 2 },
        results: [
          { group: 'one to one', name: '@ipc/queue', opsPerSec: 400000, latency: { p50: 2.5 } },
          { group: 'one to one', name: 'process.send', opsPerSec: 60000, latency: { p50: 15 } },
          { group: 'counter', name: 'add', opsPerSec: 9000000 },
        ],
      },
      'benchmarks/results/latest.json',
    )
    expect(data.status).toBe('ok')
    expect(data.meta).toEqual([
      { key: 'node', value: 'v20.20.2' },
      { key: 'env.cpus', value: '2' },
    ])
    expect(data.tables.map((table) => table.title)).toEqual(['one to one', 'counter'])
    const [first] = data.tables
    expect(first?.columns).toEqual([
      { key: 'opsPerSec', label: 'opsPerSec', numeric: true },
      { key: 'latency.p50', label: 'latency.p50', numeric: true },
    ])
    expect(first?.charts).toHaveLength(1)
    expect(first?.charts[0]).toMatchObject({ title: 'opsPerSec', higherIsBetter: true })
    expect(first?.charts[0]?.bars.map((bar) => bar.value)).toEqual([400000, 60000])
    expect(first?.rows[0]).toEqual({
      name: '@ipc/queue',
      cells: { opsPerSec: '400,000', 'latency.p50': '2.5' },
      numbers: { opsPerSec: 400000, 'latency.p50': 2.5 },
    })
  })

  it('reads suites that hold their own result lists, and charts a time as lower-is-better', () => {
    const data = normalize(
      {
        suites: [
          {
            name: 'pipe',
            results: [
              { name: 'ping-pong', meanMs: 0.02 },
              { name: 'uds', meanMs: 0.05 },
            ],
          },
        ],
      },
      'latest.json',
    )
    expect(data.tables).toHaveLength(1)
    expect(data.tables[0]?.title).toBe('pipe')
    expect(data.tables[0]?.charts[0]).toMatchObject({ title: 'meanMs', higherIsBetter: false })
    expect(data.tables[0]?.rows.map((row) => row.name)).toEqual(['ping-pong', 'uds'])
  })

  it('reads maps of groups to named results, and a bare array', () => {
    const map = normalize({ results: { queue: { '@ipc': { hz: 10 }, python: { hz: 5 } } } }, 'latest.json')
    expect(map.tables[0]?.title).toBe('queue')
    expect(map.tables[0]?.rows.map((row) => row.name)).toEqual(['@ipc', 'python'])

    const array = normalize([{ name: 'a', ops: 1 }], 'latest.json')
    expect(array.tables[0]?.title).toBe('Results')
    expect(array.tables[0]?.rows[0]?.name).toBe('a')
  })

  it('says the file is invalid when it holds no results', () => {
    expect(normalize({ hello: 'world' }, 'latest.json').status).toBe('invalid')
  })
})

describe('normalize() of a schemaVersion 1 report (benchmarks/README.md)', () => {
  const report = {
    schemaVersion: 1,
    runId: 'abc',
    machine: { cpu: 'AMD EPYC', cores: 2, node: 'v20.20.2', python: null, packages: {} },
    mode: 'quick',
    date: '2026-01-01T00:00:00.000Z',
    durationSeconds: 12.5,
    settings: { warmup: 1, repetitions: 3, targetRepetitionMs: 100 },
    notes: ['python3 not found'],
    results: [
      {
        workload: 'queue.1to1.string',
        family: 'queue',
        title: 'Queue 1→1, small strings',
        unit: 'msg/s',
        higherIsBetter: true,
        ours: { median: 2500000, min: 1, max: 3, q1: 1, q3: 2, samples: [1, 2, 3], opsPerSample: 10 },
        peers: { 'process.send(json)': { median: 60000.5 }, 'python mp.Queue': { skipped: 'no python3' } },
        ratios: { 'process.send(json)': 41.6 },
        target: '≥ 2,000,000 msg/s',
        targetMet: true,
      },
      {
        workload: 'pipe.rtt.median',
        family: 'pipe',
        title: 'Pipe round trip',
        unit: 'µs',
        higherIsBetter: false,
        ours: { error: 'crashed' },
        peers: { uds: { median: 22.093 } },
        ratios: {},
        note: 'sendSync/recvSync',
      },
    ],
  }

  it('makes one table per family and one chart per workload, @ipc first', () => {
    const data = normalize(report, 'benchmarks/results/latest.json')
    expect(data.status).toBe('ok')
    expect(data.notes).toEqual(['python3 not found'])
    expect(data.meta).toContainEqual({ key: 'cpu', value: 'AMD EPYC' })
    expect(data.tables.map((table) => table.title)).toEqual(['queue', 'pipe'])

    const [queue, pipe] = data.tables
    expect(queue?.columns.map((column) => column.key)).toEqual([
      'unit',
      'ours',
      'peer:process.send(json)',
      'peer:python mp.Queue',
      'target',
    ])
    expect(queue?.rows[0]?.cells).toEqual({
      unit: 'msg/s',
      ours: '2,500,000',
      'peer:process.send(json)': '60,001',
      'peer:python mp.Queue': 'skipped',
      target: '≥ 2,000,000 msg/s ✓',
    })
    expect(queue?.charts[0]?.bars).toEqual([
      { label: '@ipc', value: 2500000, text: '2,500,000', ours: true },
      { label: 'process.send(json)', value: 60000.5, text: '60,001', ours: false },
    ])

    expect(pipe?.rows[0]?.cells.ours).toBe('error')
    expect(pipe?.charts[0]).toMatchObject({ unit: 'µs', higherIsBetter: false, note: 'sendSync/recvSync' })
    expect(pipe?.charts[0]?.bars.map((bar) => bar.label)).toEqual(['uds'])
  })
})

describe('normalize() of a reference peer ("… (ceiling)")', () => {
  const ceiling = 'one process: new Buffer + copy (ceiling)'
  const row = (workload: string, peers: Record<string, { median: number }>) => ({
    workload,
    family: 'queue',
    title: workload,
    unit: 'msg/s',
    higherIsBetter: true,
    ours: { median: 100 },
    peers,
    ratios: {},
  })

  it('marks its column and its bar as a reference, and leaves it blank in rows without it', () => {
    const data = normalize(
      {
        schemaVersion: 1,
        results: [
          row('queue.1to1.string', { uds: { median: 50 } }),
          row('queue.1to1.buffer64k', { uds: { median: 50 }, [ceiling]: { median: 120 } }),
        ],
      },
      'latest.json',
    )
    const [queue] = data.tables
    expect(queue?.columns.find((column) => column.label === ceiling)).toEqual({
      key: `peer:${ceiling}`,
      label: ceiling,
      numeric: true,
      reference: true,
    })
    expect(queue?.columns.find((column) => column.label === 'uds')?.reference).toBeUndefined()
    expect(queue?.rows.map((r) => r.cells[`peer:${ceiling}`])).toEqual(['', '120'])
    expect(queue?.charts[1]?.bars).toEqual([
      { label: '@ipc', value: 100, text: '100', ours: true },
      { label: 'uds', value: 50, text: '50', ours: false },
      { label: ceiling, value: 120, text: '120', ours: false, reference: true },
    ])
  })

  it('treats a "… (floor)" peer as a reference too, and a peer merely named like one as an alternative', () => {
    const floor = 'C spin (floor)'
    const data = normalize(
      {
        schemaVersion: 1,
        results: [row('pipe.rtt', { uds: { median: 50 }, [floor]: { median: 1 }, 'floor (ours)': { median: 2 } })],
      },
      'latest.json',
    )
    const columns = data.tables[0]?.columns ?? []
    expect(columns.find((column) => column.label === floor)?.reference).toBe(true)
    expect(columns.find((column) => column.label === 'floor (ours)')?.reference).toBeUndefined()
  })

  it('reads a file from before the reference existed', () => {
    const data = normalize(
      { schemaVersion: 1, results: [row('queue.1to1.buffer64k', { uds: { median: 50 } })] },
      'latest.json',
    )
    expect(data.status).toBe('ok')
    expect(data.tables[0]?.columns.some((column) => column.reference)).toBe(false)
  })
})

describe('formatNumber()', () => {
  it('groups integers and keeps four significant digits of small fractions', () => {
    expect(formatNumber(1234567)).toBe('1,234,567')
    expect(formatNumber(1234.56)).toBe('1,235')
    expect(formatNumber(0.012345)).toBe('0.01235')
  })
})
