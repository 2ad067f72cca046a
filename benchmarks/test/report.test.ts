import { describe, expect, it } from 'vitest'
import type { Family } from '../src/harness.ts'
import { type Report, renderMarkdown } from '../src/report.ts'
import type { Stat } from '../src/stats.ts'

const stat = (median: number): Stat => ({
  median,
  min: median,
  max: median,
  q1: median,
  q3: median,
  samples: [median],
  opsPerSample: 1,
})

/** A report of one latency row where ours (2 µs) is below a peer (4 µs) and a floor (3 µs). */
function report(): Report {
  return {
    schemaVersion: 1,
    runId: 'test',
    machine: {
      cpu: 'cpu',
      cores: 2,
      memoryGiB: 1,
      os: 'Linux',
      node: process.version,
      python: null,
      date: '2026-12-06T00:00:00.000Z',
      loadAverage: 0,
      packages: {},
    },
    mode: 'smoke',
    date: '2026-12-06T00:00:00.000Z',
    durationSeconds: 1,
    settings: { warmup: 0, repetitions: 1, targetRepetitionMs: 0 },
    notes: [],
    results: [
      {
        workload: 'test.latency',
        family: 'test',
        title: 'A latency',
        unit: 'µs',
        higherIsBetter: false,
        ours: stat(2),
        peers: { peer: stat(4), 'bare (floor)': stat(3) },
        ratios: { peer: 0.5, 'bare (floor)': 2 / 3 },
      },
    ],
  }
}

describe('renderMarkdown()', () => {
  it('bolds a better ratio to a peer, never one to a floor', () => {
    const families: Family[] = [{ name: 'test', title: 'Test', jobs: [], rows: [] }]
    const row = renderMarkdown(report(), families)
      .split('\n')
      .find((line) => line.includes('`test.latency`'))
    expect(row).toContain('| **0.50×** |')
    expect(row).toContain('| 0.67× |')
  })
})
