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
      { key: 'opsPerSec', numeric: true },
      { key: 'latency.p50', numeric: true },
    ])
    expect(first?.chart).toEqual({ key: 'opsPerSec', higherIsBetter: true })
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
    expect(data.tables[0]?.chart).toEqual({ key: 'meanMs', higherIsBetter: false })
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

describe('formatNumber()', () => {
  it('groups integers and keeps four significant digits of small fractions', () => {
    expect(formatNumber(1234567)).toBe('1,234,567')
    expect(formatNumber(1234.56)).toBe('1,235')
    expect(formatNumber(0.012345)).toBe('0.01235')
  })
})
