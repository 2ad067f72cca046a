/**
 * A shared Int32Array with one counter per (producer, seq), in a segment that
 * consumer fixtures open by name: the exactly-once check of the cross-process tests.
 */
import { Segment } from '@ipc/core/internal'
import { uniqueName } from '@ipc/test-utils'
import { onTestFinished } from 'vitest'

export interface Tally {
  name: string
  counts: Int32Array
}

export function makeTally(producers: number, count: number): Tally {
  const segment = Segment.create({ kind: 'tally', version: 1 }, producers * count * 4, { name: uniqueName('tally') })
  onTestFinished(() => segment.close())
  return { name: segment.name, counts: new Int32Array(segment.buffer, segment.dataOffset, producers * count) }
}

/** The consumer fixture's JSON report (the last line it printed). */
export interface Report {
  got: number
  outOfOrder: number
  corrupt: number
}

export function reportOf(stdout: string): Report {
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1] as string) as Report
}
