/**
 * Async waits on io_uring ('uring' mode, native/uring-waits.cc): the probe
 * that picks it, the fallback when io_uring is denied, and what only this
 * mode promises: a wake-up is delivered exactly once even when it races a
 * cancel, completions beyond the ring's 1,024 places are not lost, and each
 * worker thread has its own ring, closed with the thread (while its env is
 * still alive) and its waits cancelled first.
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { release } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { notify } from '@ipc/core'
import { asyncWaitMode } from '@ipc/core/internal'
import { seccompLauncher, spawnChild } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { participant, participantWords, probeEnv, underLauncher } from './cross-process-waits.js'

const threadWait = new URL('./fixtures/thread-wait.mjs', import.meta.url)
const workerOnly = fileURLToPath(new URL('./fixtures/worker-only-wait.mjs', import.meta.url))
/** Undefined (those tests skipped) when there is no C compiler. */
const launcher = seccompLauncher()

/** Linux 6.7+ with io_uring enabled and no seccomp filter on this process: where the probe must pick 'uring'. */
function kernelHasUringFutex(): boolean {
  const [major = 0, minor = 0] = release().split('.').map(Number)
  const read = (path: string, fallback: string) => {
    try {
      return readFileSync(path, 'utf8')
    } catch {
      return fallback
    }
  }
  const disabled = read('/proc/sys/kernel/io_uring_disabled', '0').trim()
  const filtered = !/^Seccomp:\s+0$/m.test(read('/proc/self/status', 'Seccomp:\t0'))
  return (major > 6 || (major === 6 && minor >= 7)) && disabled === '0' && !filtered
}

const shared = (words: number) => participantWords(words, 'uring')

/** This process's descriptors that are io_uring instances (one per JS thread with a ring). */
function uringDescriptors(): number[] {
  const rings: number[] = []
  for (const entry of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${entry}`) === 'anon_inode:[io_uring]') rings.push(Number(entry))
    } catch {
      // closed since the listing
    }
  }
  return rings
}

const uring = kernelHasUringFutex() && asyncWaitMode() === 'uring'

describe('the probe', () => {
  it.skipIf(!kernelHasUringFutex())(
    "picks 'uring' on this kernel; IPC_NO_IO_URING=1 skips it",
    {
      timeout: 20_000,
    },
    async () => {
      const probed = spawnChild(participant, ['mode', 'unused'], { env: probeEnv() })
      expect(await probed.exited).toBe(0)
      expect(probed.stdout()).toContain('MODE uring')
      const skipped = spawnChild(participant, ['mode', 'unused'], { env: { ...probeEnv(), IPC_NO_IO_URING: '1' } })
      expect(await skipped.exited).toBe(0)
      expect(skipped.stdout()).toMatch(/MODE (waitv|threads)/)
      expect(skipped.stdout()).not.toContain('uring')
    },
  )

  it.skipIf(launcher === undefined)(
    "falls back to 'waitv' where io_uring_setup is denied (EPERM, as under Docker's default profile), and waits still work",
    { timeout: 20_000 },
    async () => {
      const { segment, i32 } = shared(4)
      const denied = (args: string[]) => underLauncher(launcher as NonNullable<typeof launcher>, 'io_uring_setup', args)
      const probed = denied(['mode', 'unused'])
      expect(await probed.exited).toBe(0)
      expect(probed.stdout()).toMatch(/MODE (waitv|threads)/)
      const child = denied(['wait-async', segment.name, '0', '15000'])
      while (Atomics.load(i32, 3) !== 1 || notify(i32, 0, 1) === 0) await new Promise((r) => setTimeout(r, 5))
      expect(await child.exited).toBe(0)
      expect(child.stdout()).toContain('RESULT ok 0')
    },
  )
})

describe.skipIf(!uring)("'uring' mode", () => {
  it("delivers each wake-up exactly once while waits time out around it: notify's count equals the 'ok' results", {
    timeout: 60_000,
  }, async () => {
    const { segment, i32 } = shared(4)
    const child = spawnChild(participant, ['wait-race', segment.name, '3000'], { env: probeEnv() })
    await child.waitFor('MODE', 10_000)
    let woken = 0
    const deadline = performance.now() + 45_000
    // Wake one sleeper at a time, as often as we can, until the child is done: between the
    // pauses the wake-ups race the timeouts' cancels. Every 256 tries, a pause of 1 to 3 ms
    // (setTimeout's 0 is 1), so that some waits time out (1 to 3 ms) whatever the speeds.
    for (let tries = 1; Atomics.load(i32, 1) !== 1 && performance.now() < deadline; tries++) {
      woken += notify(i32, 0, 1)
      if (tries % 256 === 0) await new Promise((r) => setTimeout(r, (tries / 256) % 4))
    }
    expect(await child.exited, child.stderr()).toBe(0)
    const race = /RACE ok (\d+) timed-out (\d+)/.exec(child.stdout())
    expect(race, child.stdout()).not.toBeNull()
    const [ok, timedOut] = (race as RegExpExecArray).slice(1).map(Number)
    expect(child.stdout()).toContain('MODE uring')
    expect((ok as number) + (timedOut as number)).toBe(3000)
    // Both endings happened (the pauses make sure of timeouts); exactly once is the count below.
    expect(ok, child.stdout()).toBeGreaterThan(0)
    expect(timedOut, child.stdout()).toBeGreaterThan(0)
    expect(woken).toBe(ok)
  })

  it('resolves 3,000 waits woken while their thread was blocked (more completions than the 1,024 its ring holds)', {
    timeout: 40_000,
  }, async () => {
    const { segment, i32 } = shared(3001)
    const child = spawnChild(participant, ['pool-blocked', segment.name, '3000'], { env: probeEnv() })
    await child.waitFor('WAITING', 30_000)
    expect(child.stdout()).toContain('MODE uring')
    for (let i = 0; i < 3000; i++) Atomics.store(i32, i, 1)
    let woken = 0
    // The child may not have registered them all yet: notify until each was woken once.
    const deadline = performance.now() + 20_000
    const done = new Uint8Array(3000)
    while (woken < 3000 && performance.now() < deadline) {
      for (let i = 0; i < 3000; i++) {
        if (done[i] === 1) continue
        if (notify(i32, i) === 1) {
          done[i] = 1
          woken++
        }
      }
    }
    expect(woken).toBe(3000)
    // Only now may the child's thread read its ring: 3,000 completions wait there (1,024) and in the kernel's overflow list.
    Atomics.store(i32, 3000, 1)
    notify(i32, 3000)
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('WAITS DONE 3000')
    // A wait submitted while they overflowed the ring registers and times out like any other.
    expect(child.stdout()).toContain('LATE timed-out')
  })

  it('lets a program whose only async wait was in a worker thread exit cleanly when that worker ends', {
    timeout: 20_000,
  }, async () => {
    // The ring's poll handle is closed from an async cleanup hook: before, libuv ran its close
    // callback after the worker had unloaded the addon, a segfault (exit 139) every time. (The
    // addon now also stays loaded, binding.gyp; worker-teardown.test.ts covers every mode.)
    for (let run = 0; run < 2; run++) {
      const child = spawnChild(workerOnly, [], { env: probeEnv() })
      expect(await child.exited, child.stderr()).toBe(0)
      expect(child.stdout()).toContain('RESULT timed-out')
      expect(child.stdout()).toContain('WORKER EXIT 0')
    }
  })

  it("gives each worker thread its own ring: one is woken, a terminated one's wait is cancelled with it", {
    timeout: 20_000,
  }, async () => {
    const { segment, i32 } = shared(4)
    const started = (index: number) => {
      const worker = new Worker(threadWait, { workerData: { name: segment.name, index } })
      const messages: string[] = []
      worker.on('message', (m) => messages.push(m))
      onTestFinished(async () => {
        await worker.terminate()
      })
      const until = async (prefix: string) => {
        const deadline = performance.now() + 10_000
        while (!messages.some((m) => m.startsWith(prefix)) && performance.now() < deadline)
          await new Promise((r) => setTimeout(r, 5))
        return messages.find((m) => m.startsWith(prefix))
      }
      return { worker, until }
    }
    const woken = started(0)
    expect(await woken.until('waiting')).toBe('waiting uring')
    const ringsBefore = uringDescriptors()
    const killed = started(1)
    expect(await killed.until('waiting')).toBe('waiting uring')
    // The rings that appeared with the killed thread: its own, and any its event loop made (Node 24's
    // libuv makes one per loop for file operations). All are held below, so its own is.
    const newRings = uringDescriptors().filter((fd) => !ringsBefore.includes(fd))
    expect(newRings.length).toBeGreaterThan(0)
    // Another process holds them open, so closing the thread's ring is not the last close and the
    // kernel's own teardown of it (which drops its waits, later, from a work queue) does not start:
    // only the thread's own cancel at its close takes the wait off the futex queue.
    const holder = spawn('sleep', ['60'], { stdio: ['ignore', 'ignore', 'ignore', ...newRings] })
    const holderExited = new Promise((resolve) => holder.once('exit', resolve))
    onTestFinished(async () => {
      holder.kill('SIGKILL')
      await holderExited
    })
    await new Promise((resolve, reject) => holder.once('spawn', resolve).once('error', reject))
    Atomics.store(i32, 0, 1)
    expect(notify(i32, 0)).toBe(1)
    expect(await woken.until('result')).toBe('result ok')
    await killed.worker.terminate()
    // The terminated thread's waits were cancelled with its ring: nobody sleeps on word 1 any more.
    Atomics.store(i32, 1, 1)
    expect(notify(i32, 1)).toBe(0)
  })
})
