import { execFile, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { RunContext } from '../context.ts'
import type { Rep, Runner } from '../harness.ts'
import { latencyRep } from '../rep.ts'

const source = fileURLToPath(new URL('./c/pingpong.c', import.meta.url))
const run = promisify(execFile)

/** The C ping-pong floors: a futex round trip and a yielding spin round trip between two processes. */
export type CFloor = 'futex' | 'spin'

const compiled = new WeakMap<RunContext, { binary?: string; skipped?: string }>()

/** Compiles pingpong.c once per run with the system `cc`; why the C floors are skipped when it cannot. */
function binaryOf(ctx: RunContext): { binary?: string; skipped?: string } {
  let result = compiled.get(ctx)
  if (result === undefined) {
    const binary = join(ctx.tmpDir, 'pingpong')
    const cc = spawnSync('cc', ['-O2', '-o', binary, source], { encoding: 'utf8', timeout: 60_000 })
    result =
      cc.status === 0
        ? { binary }
        : { skipped: `no C compiler (cc) here, so no C floor: ${(cc.stderr || cc.error?.message || '').trim()}` }
    compiled.set(ctx, result)
  }
  return result
}

/** Why the C floors are skipped in this run, if they are. */
export function cSkip(ctx: RunContext): string | undefined {
  return binaryOf(ctx).skipped
}

/** `n` round trips of the C ping-pong, its two processes pinned to `cpus`. */
export function cPingPong(ctx: RunContext, floor: CFloor, cpus: readonly [number, number]): Runner {
  return {
    async setup() {
      const { skipped } = binaryOf(ctx)
      if (skipped) throw new Error(skipped)
    },
    async run(n): Promise<Rep> {
      const { stdout } = await run(
        binaryOf(ctx).binary as string,
        [floor, String(n), String(cpus[0]), String(cpus[1])],
        {
          timeout: 600_000,
        },
      )
      return latencyRep(JSON.parse(stdout) as { elapsedNs: number; median: number; p99: number })
    },
    async teardown() {},
  }
}
