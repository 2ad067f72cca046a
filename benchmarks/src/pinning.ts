import { execFileSync, spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'

/**
 * Where the two ends of a pinned round trip run: both on CPU 0, or on CPUs
 * 0 and 1. Pinning takes the scheduler's choice out of the number, so the
 * same placement can be compared with the C floors in the same run.
 */
export const PLACEMENTS = [
  { key: 'cpu1', cpus: [0, 0], title: 'both ends on CPU 0' },
  { key: 'cpu2', cpus: [0, 1], title: 'ends on CPUs 0 and 1' },
] as const

export type Placement = (typeof PLACEMENTS)[number]

/** Why a placement cannot be measured here (no `taskset`, or too few CPUs), if it cannot. */
export function placementSkip(placement: Placement): string | undefined {
  if (spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status !== 0)
    return 'taskset (util-linux) is not installed: pinned rows skipped'
  const needed = Math.max(...placement.cpus) + 1
  if (availableParallelism() < needed) return `${needed} CPUs needed, ${availableParallelism()} available`
  return undefined
}

/** Pins every thread of process `pid` (`taskset -a`) to `cpu`; threads it starts later inherit it. */
export function pinProcess(pid: number | undefined, cpu: number): void {
  if (pid === undefined) throw new Error('cannot pin a process that has no pid')
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' })
}
