/**
 * Async waits on kernels without futex_waitv (before Linux 5.16): the 'threads'
 * mode, forced with IPC_NO_FUTEX_WAITV=1 or chosen by the run-time probe.
 * The probe is tested under @ipc/test-utils' seccomp launcher, whose filter
 * makes futex_waitv fail with ENOSYS, as an old kernel does, and denies
 * io_uring_setup (an old kernel has no io_uring futex waits either).
 */
import { notify, wait } from '@ipc/core'
import { seccompLauncher, spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { participant, participantWords, probeEnv, underLauncher, wakeOne } from './cross-process-waits.js'

const shared = (words: number) => participantWords(words, 'nowaitv')

/** Undefined (tests skipped) when there is no C compiler. */
const launcher = seccompLauncher()

/** participant.mjs with neither futex_waitv nor io_uring: an old kernel has neither. */
function onOldKernel(args: string[]) {
  return underLauncher(launcher as NonNullable<typeof launcher>, ['futex_waitv', 'io_uring_setup'], args)
}

describe('IPC_NO_FUTEX_WAITV=1', () => {
  it("forces the 'threads' mode; without it this kernel uses 'uring', 'waitv' or 'threads' (what it has)", {
    timeout: 20_000,
  }, async () => {
    const forced = spawnChild(participant, ['mode', 'unused'], { env: { ...process.env, IPC_NO_FUTEX_WAITV: '1' } })
    expect(await forced.exited).toBe(0)
    expect(forced.stdout()).toContain('MODE threads')
    const probed = spawnChild(participant, ['mode', 'unused'], { env: probeEnv() })
    expect(await probed.exited).toBe(0)
    expect(probed.stdout()).toMatch(/MODE (uring|waitv|threads)/)
  })

  it('serves 1,000 pending waits in one process without the libuv pool (UV_THREADPOOL_SIZE=1)', {
    timeout: 40_000,
  }, async () => {
    const { segment, i32 } = shared(1000)
    const child = spawnChild(participant, ['pool', segment.name, '1000'], {
      env: { ...process.env, IPC_NO_FUTEX_WAITV: '1', UV_THREADPOOL_SIZE: '1' },
    })
    await child.waitFor('READS DONE', 30_000)
    expect(child.stdout()).toContain('MODE threads')
    expect(child.stdout()).toContain('READS DONE 20 true')
    for (let i = 0; i < 1000; i++) {
      Atomics.store(i32, i, 1)
      notify(i32, i)
    }
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('WAITS DONE 1000')
  })

  it('gives each pending wait a thread, and none outlives its wait by more than 2 s (woken or timed out)', {
    timeout: 30_000,
  }, async () => {
    const { segment } = shared(200)
    const child = spawnChild(participant, ['thread-census', segment.name, '200'], {
      env: { ...process.env, IPC_NO_FUTEX_WAITV: '1' },
    })
    expect(await child.exited, child.stderr()).toBe(0)
    const census = /CENSUS (\d+) (\d+) (\d+) ok (\d+) timed-out (\d+)/.exec(child.stdout())
    expect(census, child.stdout()).not.toBeNull()
    const [before, pending, after, ok, timedOut] = (census as RegExpExecArray).slice(1).map(Number)
    expect([ok, timedOut]).toEqual([100, 100])
    expect(pending).toBeGreaterThanOrEqual((before as number) + 200)
    // Parked threads leave after 1 s idle; a few threads of Node's own may come and go.
    expect(after).toBeLessThanOrEqual((before as number) + 2)
  })
})

describe.skipIf(launcher === undefined)('with futex_waitv and io_uring denied by seccomp, as before Linux 5.16', () => {
  it("the probe picks the 'threads' mode, not the environment", { timeout: 20_000 }, async () => {
    const child = onOldKernel(['mode', 'unused'])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('MODE threads')
  })

  it("a child's wait resolves 'ok' when the parent notifies; notify counts it", { timeout: 20_000 }, async () => {
    const { segment, i32 } = shared(4)
    const child = onOldKernel(['wait-async', segment.name, '0', '15000'])
    await child.waitFor('WAITING')
    expect(await wakeOne(i32, 0)).toBe(1)
    await child.waitFor('RESULT')
    expect(child.stdout()).toContain('RESULT ok 0')
    expect(await child.exited).toBe(0)
  })

  it("a child's wait resolves 'timed-out' after its timeout", { timeout: 20_000 }, async () => {
    const { segment } = shared(4)
    const started = performance.now()
    const child = onOldKernel(['wait-async', segment.name, '0', '300'])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('RESULT timed-out 0')
    expect(performance.now() - started).toBeGreaterThanOrEqual(300)
  })

  it("a child's aborted wait rejects with the signal's reason and leaves no sleeper", { timeout: 20_000 }, async () => {
    const { segment, i32 } = shared(4)
    const child = onOldKernel(['wait-abort', segment.name, '100'])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('RESULT rejected TimeoutError')
    expect(notify(i32, 0)).toBe(0)
  })

  it('hands turns back and forth 300 times with both sides waiting async', { timeout: 30_000 }, async () => {
    const { segment, i32 } = shared(4)
    const child = onOldKernel(['ping-pong-async', segment.name, '300'])
    await child.waitFor('READY')
    for (let round = 0; round < 300; round++) {
      Atomics.store(i32, 0, 2 * round + 1)
      notify(i32, 0)
      let value = Atomics.load(i32, 0)
      while (value !== 2 * round + 2) {
        await wait(i32, 0, value, { timeout: 10_000 })
        value = Atomics.load(i32, 0)
      }
    }
    expect(await child.exited).toBe(0)
    expect(Atomics.load(i32, 0)).toBe(600)
  })
})
