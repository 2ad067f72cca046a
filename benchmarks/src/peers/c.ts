import { execFile, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { RunContext } from '../context.ts'
import type { Rep, Runner } from '../harness.ts'
import { latencyRep, wakeupRep } from '../rep.ts'

const run = promisify(execFile)

/** The C programs in ./c: `pingpong` (the round-trip floors) and `wakeup` (the wake-up floor). */
type Program = 'pingpong' | 'wakeup'

/** The C ping-pong floors: a futex round trip and a yielding spin round trip between two processes. */
export type CFloor = 'futex' | 'spin'

type Compiled = { binary?: string; skipped?: string }
const compiled = new WeakMap<RunContext, Map<Program, Compiled>>()

/** Compiles c/<program>.c once per run with the system `cc`; why its floors are skipped when it cannot. */
function binaryOf(ctx: RunContext, program: Program): Compiled {
  let programs = compiled.get(ctx)
  if (programs === undefined) compiled.set(ctx, (programs = new Map()))
  let result = programs.get(program)
  if (result === undefined) {
    const binary = join(ctx.tmpDir, program)
    const source = fileURLToPath(new URL(`./c/${program}.c`, import.meta.url))
    const cc = spawnSync('cc', ['-O2', '-o', binary, source], { encoding: 'utf8', timeout: 60_000 })
    result =
      cc.status === 0
        ? { binary }
        : { skipped: `no C compiler (cc) here, so no C floor: ${(cc.stderr || cc.error?.message || '').trim()}` }
    programs.set(program, result)
  }
  return result
}

/** Why the C floors of `program` are skipped in this run, if they are. */
export function cSkip(ctx: RunContext, program: Program = 'pingpong'): string | undefined {
  return binaryOf(ctx, program).skipped
}

/**
 * A Runner of the C `program`: compiled at setup (which fails with why when it cannot be),
 * then run once per repetition with `argsOf(n)`, its stdout read by `repOf`.
 */
function cRunner(
  ctx: RunContext,
  program: Program,
  argsOf: (n: number) => string[],
  repOf: (stdout: string) => Rep,
): Runner {
  return {
    async setup() {
      const { skipped } = binaryOf(ctx, program)
      if (skipped) throw new Error(skipped)
    },
    async run(n): Promise<Rep> {
      const { stdout } = await run(binaryOf(ctx, program).binary as string, argsOf(n), {
        timeout: 600_000,
        maxBuffer: 64 * 1024 * 1024,
      })
      return repOf(stdout)
    },
    async teardown() {},
  }
}

/** `n` round trips of the C ping-pong, its two processes pinned to `cpus`. */
export function cPingPong(ctx: RunContext, floor: CFloor, cpus: readonly [number, number]): Runner {
  return cRunner(
    ctx,
    'pingpong',
    (n) => [floor, String(n), String(cpus[0]), String(cpus[1])],
    (stdout) => latencyRep(JSON.parse(stdout) as { elapsedNs: number; median: number; p99: number }),
  )
}

/**
 * `n` wake-ups of the C wake-up floor (c/wakeup.c): the semaphore wake-up rows' protocol
 * between two unpinned C processes, the releaser sleeping `gapMs` before each release.
 */
export function cWakeup(ctx: RunContext, gapMs: number): Runner {
  return cRunner(
    ctx,
    'wakeup',
    (n) => [String(n), String(Math.round(gapMs * 1000))],
    (stdout) => {
      const { released, woken } = JSON.parse(stdout) as { released: number[]; woken: number[] }
      return wakeupRep(released, woken)
    },
  )
}
