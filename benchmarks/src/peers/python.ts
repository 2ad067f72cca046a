import { join } from 'node:path'
import { pythonDir, type RunContext } from '../context.ts'
import type { Rep, Runner } from '../harness.ts'
import { ChildHandle } from '../process-handle.ts'

/**
 * A Python peer: one `python/<script>` process per job that runs the whole workload with
 * `multiprocessing` (its own child processes) and answers one `run` per repetition with
 * the same raw report shape as our Node children, which `toRep` turns into figures.
 */
export function pythonRunner<T>(
  ctx: RunContext,
  script: string,
  setup: Record<string, unknown>,
  toRep: (result: T, n: number) => Rep,
): Runner {
  let child: ChildHandle | undefined
  return {
    async setup() {
      if (!ctx.python) throw new Error(ctx.pythonSkipped ?? 'python3 is not available')
      child = ChildHandle.python(`python ${script}`, ctx.python.command, join(pythonDir, script))
      await child.request('setup', setup)
    },
    async run(n) {
      const result = await (child as ChildHandle).request<T>('run', { n }, 600_000)
      return toRep(result, n)
    },
    async teardown() {
      await child?.stop()
    },
  }
}

/** Why a Python job is skipped, if it is. */
export function pythonSkip(ctx: RunContext): string | undefined {
  return ctx.python ? undefined : ctx.pythonSkipped
}
