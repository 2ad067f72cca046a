import { join } from 'node:path'
import { childrenDir, type RunContext } from './context.ts'
import type { Family, Job, RowSpec, Runner, Size } from './harness.ts'
import { ChildHandle } from './process-handle.ts'

const script = join(childrenDir, 'ours-segment.mjs')
/** Junk `ipc-*` files in /dev/shm during the measured creates. */
const JUNK_FILES = 1000
const BASELINE = 'no junk files (same run)'
/** The bound: the cleanup scan costs a create no more than a few milliseconds. */
const MAX_EXTRA_US = 3000
const isRoot = process.geteuid?.() === 0

type Junk = 'none' | 'own' | 'foreign'

/** One child: `Segment.create(kind, 64).close()` in a loop, with `junk` files in /dev/shm. */
function oursCreateClose(ctx: RunContext, junk: Junk): Runner {
  let child: ChildHandle | undefined
  return {
    async setup() {
      child = ChildHandle.fork(`ours segment (${junk} junk)`, script)
      // The junk names carry the run's tag, so a killed run's leftovers are swept too.
      await child.request('segment.setup', { junk, count: JUNK_FILES, prefix: ctx.uniqueName('junk') }, 60_000)
    },
    async run(n) {
      const { elapsedNs } = await (child as ChildHandle).request<{ elapsedNs: number }>('segment.run', { n }, 600_000)
      return {
        elapsedNs,
        metrics: { usPerOp: elapsedNs / n / 1e3 },
        problems: elapsedNs > 0 ? [] : [`nonsensical timing (${elapsedNs} ns)`],
      }
    },
    async teardown() {
      await child?.stop()
    },
  }
}

export function segmentFamily(ctx: RunContext): Family {
  const size: Size = { n0: 50, smoke: 5, max: 1_000_000 }
  const jobs: Job[] = [
    {
      key: 'segment.create/none',
      workload: 'segment.create',
      impl: BASELINE,
      size,
      create: () => oursCreateClose(ctx, 'none'),
    },
    {
      key: 'segment.create/own',
      workload: 'segment.create.junk1000',
      impl: 'ours',
      size,
      create: () => oursCreateClose(ctx, 'own'),
    },
    {
      key: 'segment.create/foreign',
      workload: 'segment.create.foreign1000',
      impl: 'ours',
      size,
      create: () => oursCreateClose(ctx, 'foreign'),
    },
  ]
  const target = {
    text: `≤ ${BASELINE} + ${MAX_EXTRA_US / 1000} ms`,
    met: (ours: number, peers: Record<string, number | undefined>) => {
      const baseline = peers[BASELINE]
      return baseline === undefined ? undefined : ours - baseline <= MAX_EXTRA_US
    },
  }
  const rows: RowSpec[] = [
    {
      workload: 'segment.create.junk1000',
      title: `Segment create + close with ${JUNK_FILES.toLocaleString('en')} junk ipc-* files of this user in /dev/shm`,
      unit: 'µs',
      higherIsBetter: false,
      target,
      note: 'Each create runs the cleanup scan. The junk files (8 KiB, no @ipc magic) are opened, checked and read, never removed. The baseline is the same loop with no junk file, in the same run.',
      ours: { job: 'segment.create/own', metric: 'usPerOp' },
      peers: { [BASELINE]: { job: 'segment.create/none', metric: 'usPerOp' } },
    },
    {
      workload: 'segment.create.foreign1000',
      title: `Segment create + close with ${JUNK_FILES.toLocaleString('en')} ipc-* files of another user in /dev/shm`,
      unit: 'µs',
      higherIsBetter: false,
      target,
      note: 'The files belong to uid 65534 (planted as root): the scan opens and fstats each, refuses it, and reads nothing.',
      ours: { job: 'segment.create/foreign', metric: 'usPerOp' },
      peers: { [BASELINE]: { job: 'segment.create/none', metric: 'usPerOp' } },
    },
  ]
  // Files of another user need root to plant: the foreign row exists only for root (as in CI).
  const shown = isRoot ? rows : rows.filter((row) => row.workload !== 'segment.create.foreign1000')
  return { name: 'segment', title: 'Segments and the cleanup scan', jobs, rows: shown }
}
