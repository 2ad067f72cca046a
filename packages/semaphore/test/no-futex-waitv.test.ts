/**
 * Semaphore across processes on a kernel without futex_waitv (before Linux
 * 5.16), simulated by @ipc/test-utils' seccomp launcher: futex_waitv fails
 * with ENOSYS and io_uring_setup with EPERM, the probe picks the 'threads'
 * mode. Before the fallback, the child's acquire with a timeout spun at 100 % CPU.
 */
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type SpawnedChild, seccompLauncher, spawnCommand } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Semaphore } from '../src/semaphore.js'

const fixture = fileURLToPath(new URL('./fixtures/timed-acquire.mjs', import.meta.url))
const noThread = fileURLToPath(new URL('./fixtures/no-thread.mjs', import.meta.url))

/** What a child wrote, stdout then stderr. */
const output = (child: SpawnedChild) => child.stdout() + child.stderr()

/** Undefined (tests skipped) when there is no C compiler. */
const launcher = seccompLauncher()

/** Runs `fixture` under the launcher, without IPC_NO_FUTEX_WAITV or IPC_NO_IO_URING; killed and awaited when the test finishes. */
function underLauncher(args: string[]): SpawnedChild {
  const env = { ...process.env }
  delete env.IPC_NO_FUTEX_WAITV
  delete env.IPC_NO_IO_URING
  // An old kernel has neither futex_waitv nor io_uring futex waits.
  const command = (launcher as NonNullable<typeof launcher>)(
    ['futex_waitv', 'io_uring_setup'],
    [process.execPath, fixture, ...args],
  )
  return spawnCommand(command, { env })
}

describe.skipIf(launcher === undefined)('Semaphore#acquire() with futex_waitv and io_uring denied by seccomp', () => {
  it("times out without spinning, then gets the permit the parent releases ('threads' mode from the probe)", {
    timeout: 30_000,
  }, async () => {
    const sem = new Semaphore(1)
    onTestFinished(() => sem.close())
    expect(sem.tryAcquire()).toBe(true)
    const child = underLauncher([JSON.stringify(sem.handle), '500'])
    const deadline = performance.now() + 20_000
    while (!output(child).includes('released?') && performance.now() < deadline && child.child.exitCode === null)
      await new Promise((r) => setTimeout(r, 10))
    expect(output(child)).toContain('MODE threads')
    const first = /FIRST false wall (\d+) cpu (\d+)/.exec(output(child))
    expect(first, output(child)).not.toBeNull()
    const [wall, cpu] = [Number(first?.[1]), Number(first?.[2])]
    expect(wall).toBeGreaterThanOrEqual(495)
    // A spinning wait burns about as much CPU as it waits; a sleeping one a few ms.
    expect(cpu).toBeLessThan(wall / 2)
    sem.release()
    expect(await child.exited, output(child)).toBe(0)
    expect(output(child)).toMatch(/SECOND true wall \d+/)
  })
})

// A uid no other test uses: RLIMIT_NPROC counts every thread of that user.
const LONELY_UID = '48213'
const isRoot = process.geteuid?.() === 0

describe.skipIf(!isRoot)('Semaphore#acquire() when no waiter thread can start (needs root: setpriv, prlimit)', () => {
  it('rejects with the EAGAIN of pthread_create instead of retrying at 100 % CPU past its timeout', {
    timeout: 30_000,
  }, async () => {
    const name = `nothread-${process.pid}-${Date.now()}`
    // The child's segment belongs to that uid; remove it if the child had to be killed.
    onTestFinished(() => rmSync(`/dev/shm/ipc-${name}`, { force: true }))
    const env = { ...process.env, IPC_NO_FUTEX_WAITV: '1' }
    const spawned = spawnCommand(
      [
        'prlimit',
        '--nproc=40:40',
        'setpriv',
        `--reuid=${LONELY_UID}`,
        `--regid=${LONELY_UID}`,
        '--clear-groups',
        process.execPath,
        noThread,
        name,
      ],
      { env },
    )
    const { child, exited } = spawned
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    onTestFinished(() => clearTimeout(timer))
    expect(await exited, output(spawned)).toBe(0)
    const out = output(spawned)
    // Some wait found no thread (so the acquire below cannot get one either)...
    expect(out).toContain('WAIT rejected EAGAIN pthread_create')
    // ...and the acquire said so at once, well before its 1 s timeout.
    const acquire = /ACQUIRE rejected EAGAIN after (\d+) ms/.exec(out)
    expect(acquire, out).not.toBeNull()
    expect(Number(acquire?.[1])).toBeLessThan(900)
    expect(out).toContain('DONE')
  })
})
