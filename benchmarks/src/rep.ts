import type { Rep } from './harness.ts'
import type { ChildHandle } from './process-handle.ts'
import { percentile, quantile } from './stats.ts'

/** What a consumer or producer child reports for one repetition (CLOCK_MONOTONIC ns). */
export interface FlowReport {
  tStart?: number
  tEnd?: number
  count?: number
  ok?: boolean
}

/**
 * Throughput of one repetition of `n` messages (or operations): from the earliest start
 * any producer reported to the latest end any consumer reported. Both clocks are
 * CLOCK_MONOTONIC, shared by every process on the machine.
 */
export function throughputRep(reports: FlowReport[], n: number, expectedCount = n): Rep {
  const starts = reports.map((r) => r.tStart).filter((t): t is number => typeof t === 'number')
  const ends = reports.map((r) => r.tEnd).filter((t): t is number => typeof t === 'number')
  const elapsedNs = Math.max(...ends) - Math.min(...starts)
  const problems: string[] = []
  const counts = reports.map((r) => r.count).filter((c): c is number => typeof c === 'number')
  const count = counts.reduce((sum, c) => sum + c, 0)
  if (counts.length > 0 && count !== expectedCount) problems.push(`received ${count} of ${expectedCount} messages`)
  if (reports.some((r) => r.ok === false)) problems.push('a received item did not match the payload sent')
  if (!(elapsedNs > 0)) problems.push(`nonsensical timing (${elapsedNs} ns)`)
  return { elapsedNs, metrics: { rate: n / (elapsedNs / 1e9) }, problems }
}

/** A counter workload: throughput plus the exact final value. */
export function counterRep(reports: FlowReport[], n: number, finalValue: number): Rep {
  const rep = throughputRep(reports, n)
  if (finalValue !== n) rep.problems?.push(`final value ${finalValue}, expected ${n}`)
  return rep
}

/** A round-trip workload; the child summarized its own latencies (µs). */
export function latencyRep(result: { elapsedNs: number; median: number; p99: number }): Rep {
  return { elapsedNs: result.elapsedNs, metrics: { median: result.median, p99: result.p99 } }
}

/** A single-process loop of `n` operations. */
export function loopRep(elapsedNs: number, n: number, unit: 'rate' | 'nsPerOp'): Rep {
  const metrics: Record<string, number> = unit === 'rate' ? { rate: n / (elapsedNs / 1e9) } : { nsPerOp: elapsedNs / n }
  return { elapsedNs, metrics, problems: elapsedNs > 0 ? [] : [`nonsensical timing (${elapsedNs} ns)`] }
}

/**
 * Asks a child for `n` single-process `add(1)` calls from zero (its `add.run` command):
 * rate, plus the exact final value (int32).
 */
export async function addRep(child: ChildHandle, n: number): Promise<Rep> {
  const result = await child.request<{ elapsedNs: number; value: number }>('add.run', { n }, 600_000)
  const rep = loopRep(result.elapsedNs, n, 'rate')
  if (result.value !== (n | 0)) rep.problems?.push(`final value ${result.value}, expected ${n | 0}`)
  return rep
}

/** `n` copies of `bytes` each way, as MB/s (1 MB = 10^6 bytes). */
export function copyRep(result: { writeNs: number; readNs: number; ok?: boolean }, n: number, bytes: number): Rep {
  const mbps = (ns: number) => (n * bytes) / 1e6 / (ns / 1e9)
  return {
    elapsedNs: result.writeNs + result.readNs,
    metrics: { write: mbps(result.writeNs), read: mbps(result.readNs) },
    problems: result.ok === false ? ['the copied data did not match'] : [],
  }
}

/** Wake-up latencies (µs) from release times in one process and wake times in another. */
export function wakeupRep(released: number[], woken: number[]): Rep {
  const latencies = Float64Array.from(woken, (t, i) => t - (released[i] as number)).sort()
  const elapsedNs = (woken[woken.length - 1] as number) - (released[0] as number)
  const problems = latencies[0] !== undefined && latencies[0] < 0 ? ['a waiter woke before the release'] : []
  return {
    elapsedNs,
    metrics: { median: quantile(latencies, 0.5) / 1e3, p99: percentile(latencies, 99) / 1e3 },
    problems,
  }
}

/** What an idle child measured while its waits were pending (see `idleWindow` in children/lib.mjs). */
export interface IdleReport {
  elapsedNs: number
  /** CPU time (user + system, all threads) in ms per second of waiting. */
  cpuMsPerS: number
  /** p99 of how late a 10 ms timer fired (Node: the event loop; Python: the main thread), ms. */
  delayP99Ms: number
}

/**
 * An idle-cost repetition: the figures measured while `waiters` waits were pending, and
 * what they returned once woken (`count` of them, `ok` if each returned the payload).
 */
export function idleRep(idle: IdleReport, woken: FlowReport, waiters: number): Rep {
  const problems: string[] = []
  if (woken.count !== waiters) problems.push(`${woken.count} of ${waiters} waits returned after the wake-up`)
  if (woken.ok === false) problems.push('a woken wait returned something other than the payload')
  return { elapsedNs: idle.elapsedNs, metrics: { cpu: idle.cpuMsPerS, delay: idle.delayP99Ms }, problems }
}
