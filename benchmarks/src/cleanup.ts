import { readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RunContext } from './context.ts'
import { killAllChildren } from './process-handle.ts'

const SHM_DIR = '/dev/shm'

/**
 * Removes this run's shared-memory leftovers: entries carrying the run's tag, and
 * entries named after a segment one of our primitives reported. Segments of other
 * processes (tests running beside the benchmark) are never touched.
 * @returns the names removed.
 */
export function sweepSegments(ctx: RunContext): string[] {
  let entries: string[]
  try {
    entries = readdirSync(SHM_DIR)
  } catch {
    return []
  }
  const removed: string[] = []
  for (const entry of entries) {
    const ours =
      entry.includes(ctx.tag) ||
      [...ctx.segmentNames].some((name) => entry === name || (name.length >= 8 && entry.endsWith(name)))
    if (!ours) continue
    try {
      unlinkSync(`${SHM_DIR}/${entry}`)
      removed.push(entry)
    } catch {}
  }
  return removed
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes what earlier runs that were SIGKILLed left behind: their temp folder (whose
 * `pid` file names a dead process) and the shared-memory segments carrying their tag.
 */
export function sweepStaleRuns(): string[] {
  const removed: string[] = []
  let dirs: string[]
  try {
    dirs = readdirSync(tmpdir()).filter((name) => /^ipcbench-[0-9a-f]{8}$/.test(name))
  } catch {
    return removed
  }
  for (const dir of dirs) {
    const path = join(tmpdir(), dir)
    let pid: number
    try {
      pid = Number(readFileSync(join(path, 'pid'), 'utf8'))
    } catch {
      continue
    }
    if (!Number.isInteger(pid) || isAlive(pid)) continue
    try {
      for (const entry of readdirSync(SHM_DIR)) {
        if (entry.includes(dir)) {
          unlinkSync(`${SHM_DIR}/${entry}`)
          removed.push(entry)
        }
      }
    } catch {}
    rmSync(path, { recursive: true, force: true })
  }
  return removed
}

/** Kills every child, sweeps segments and removes the temp folder. Synchronous, idempotent. */
export function cleanupNow(ctx: RunContext): void {
  killAllChildren()
  sweepSegments(ctx)
  try {
    rmSync(ctx.tmpDir, { recursive: true, force: true })
  } catch {}
}

/**
 * Makes sure no child and no segment outlives the run, however it ends: normal exit,
 * Ctrl-C, SIGTERM, or an uncaught error.
 */
export function installCleanup(ctx: RunContext): void {
  process.on('exit', () => cleanupNow(ctx))
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n[bench] ${signal}: stopping children and cleaning up\n`)
      cleanupNow(ctx)
      process.exit(signal === 'SIGINT' ? 130 : 143)
    })
  }
  process.on('uncaughtException', (error) => {
    process.stderr.write(`\n[bench] ${error.stack ?? error}\n`)
    cleanupNow(ctx)
    process.exit(1)
  })
  process.on('unhandledRejection', (error) => {
    process.stderr.write(`\n[bench] unhandled rejection: ${(error as Error)?.stack ?? error}\n`)
    cleanupNow(ctx)
    process.exit(1)
  })
}
