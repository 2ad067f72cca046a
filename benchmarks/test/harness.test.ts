import { describe, expect, it } from 'vitest'
import { type Job, measure, type Rep } from '../src/harness.ts'
import { MODES } from '../src/modes.ts'
import { idleRep } from '../src/rep.ts'

const progress = { phase() {} }

/** A job whose runner records the `n` of every repetition and reports `n` back as its metric. */
function recordingJob(size: Job['size']): { job: Job; runs: number[] } {
  const runs: number[] = []
  const job: Job = {
    key: 'test/recording',
    workload: 'test',
    impl: 'ours',
    size,
    create: () => ({
      async setup() {},
      async run(n): Promise<Rep> {
        runs.push(n)
        return { elapsedNs: 1e6, metrics: { n } }
      },
      async teardown() {},
    }),
  }
  return { job, runs }
}

describe('measure()', () => {
  it("runs the mode's warm-up and measured repetitions when the size sets no cap", async () => {
    const { job, runs } = recordingJob({ n0: 10, smoke: 1, max: 1000 })
    const measured = await measure(job, MODES.quick, progress)
    expect(runs).toHaveLength(MODES.quick.warmup + MODES.quick.repetitions)
    expect(measured.metrics?.n?.samples).toHaveLength(MODES.quick.repetitions)
  })

  it('caps warm-up and repetitions at the size’s and keeps a fixed n when min equals max', async () => {
    const { job, runs } = recordingJob({ n0: 5000, smoke: 300, min: 5000, max: 5000, warmup: 0, repetitions: 2 })
    const measured = await measure(job, MODES.full, progress)
    expect(runs).toEqual([5000, 5000])
    expect(measured.metrics?.n?.median).toBe(5000)
  })

  it('never runs more repetitions than the mode, whatever the size asks', async () => {
    const { job, runs } = recordingJob({ n0: 300, smoke: 300, max: 300, warmup: 5, repetitions: 50 })
    await measure(job, MODES.smoke, progress)
    expect(runs).toEqual([300])
  })
})

describe('idleRep()', () => {
  const idle = { elapsedNs: 5e9, cpuMsPerS: 0.4, delayP99Ms: 0.2 }

  it('reports CPU ms per second and the delay p99 as its metrics', () => {
    const rep = idleRep(idle, { count: 100, ok: true }, 100)
    expect(rep.metrics).toEqual({ cpu: 0.4, delay: 0.2 })
    expect(rep.problems).toEqual([])
  })

  it('lists a problem when a wait did not return, or returned something else', () => {
    expect(idleRep(idle, { count: 99, ok: true }, 100).problems).toEqual(['99 of 100 waits returned after the wake-up'])
    expect(idleRep(idle, { count: 100, ok: false }, 100).problems).toEqual([
      'a woken wait returned something other than the payload',
    ])
  })
})
