/**
 * Semaphore across processes on a kernel without futex_waitv (before Linux
 * 5.16), simulated by core's seccomp launcher (test/seccomp/deny-futex-waitv.c
 * in @ipc/core): futex_waitv fails with ENOSYS, the probe picks the 'threads'
 * mode. Before the fallback, the child's acquire with a timeout spun at 100 % CPU.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it, onTestFinished } from 'vitest'
import { Semaphore } from '../src/semaphore.js'

const fixture = fileURLToPath(new URL('./fixtures/timed-acquire.mjs', import.meta.url))
const launcherSource = fileURLToPath(new URL('../../core/test/seccomp/deny-futex-waitv.c', import.meta.url))

/** Compiles the launcher once with `cc`; undefined (tests skipped) when there is no C compiler. */
const launcher = ((): string | undefined => {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' })
  } catch {
    return undefined
  }
  const dir = mkdtempSync(join(tmpdir(), 'ipc-seccomp-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const binary = join(dir, 'deny-futex-waitv')
  execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', binary, launcherSource], { stdio: 'inherit' })
  return binary
})()

/** Runs `fixture` under the launcher, without IPC_NO_FUTEX_WAITV; killed and awaited when the test finishes. */
function underLauncher(args: string[]): { child: ChildProcess; exited: Promise<number>; out: () => string } {
  const env = { ...process.env }
  delete env.IPC_NO_FUTEX_WAITV
  const child = spawn(launcher as string, [process.execPath, fixture, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  })
  let out = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    out += d
  })
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)))
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return { child, exited, out: () => out }
}

describe.skipIf(launcher === undefined)('Semaphore#acquire() with futex_waitv denied by seccomp', () => {
  it("times out without spinning, then gets the permit the parent releases ('threads' mode from the probe)", {
    timeout: 30_000,
  }, async () => {
    const sem = new Semaphore(1)
    onTestFinished(() => sem.close())
    expect(sem.tryAcquire()).toBe(true)
    const child = underLauncher([JSON.stringify(sem.handle), '500'])
    const deadline = performance.now() + 20_000
    while (!child.out().includes('released?') && performance.now() < deadline && child.child.exitCode === null)
      await new Promise((r) => setTimeout(r, 10))
    expect(child.out()).toContain('MODE threads')
    const first = /FIRST false wall (\d+) cpu (\d+)/.exec(child.out())
    expect(first, child.out()).not.toBeNull()
    const [wall, cpu] = [Number(first?.[1]), Number(first?.[2])]
    expect(wall).toBeGreaterThanOrEqual(495)
    // A spinning wait burns about as much CPU as it waits; a sleeping one a few ms.
    expect(cpu).toBeLessThan(wall / 2)
    sem.release()
    expect(await child.exited, child.out()).toBe(0)
    expect(child.out()).toMatch(/SECOND true wall \d+/)
  })
})
