/**
 * wait / waitSync / notify and Atomics between real processes sharing a segment.
 */
import { notify, wait } from '@ipc/core'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { participant, participantWords, wakeOne } from './cross-process-waits.js'

const shared = (words: number) => participantWords(words, 'futex')

describe('Atomics on a segment', () => {
  it('counts exactly with 3 child processes and the parent adding at once', { timeout: 30_000 }, async () => {
    const { segment, i32 } = shared(4)
    const children = [1, 2, 3].map(() => spawnChild(participant, ['add', segment.name, '200000']))
    for (let i = 0; i < 200_000; i++) Atomics.add(i32, 0, 1)
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0])
    expect(Atomics.load(i32, 0)).toBe(800_000)
  })

  it('gives mutual exclusion with a futex lock: plain increments from 3 processes add up', {
    timeout: 30_000,
  }, async () => {
    const { segment, i32 } = shared(4)
    const children = [1, 2, 3].map(() => spawnChild(participant, ['locked-add', segment.name, '20000']))
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0])
    expect(i32[2]).toBe(60_000)
    expect(Atomics.load(i32, 1)).toBe(0)
  })
})

describe('waitSync() across processes', () => {
  it("returns 'ok' in the child when the parent notifies; notify counts it", { timeout: 20_000 }, async () => {
    const { segment, i32 } = shared(4)
    const child = spawnChild(participant, ['wait-sync', segment.name, '0', '20000'])
    await child.waitFor('WAITING')
    expect(await wakeOne(i32, 0)).toBe(1)
    await child.waitFor('RESULT')
    expect(child.stdout()).toContain('RESULT ok 0')
    expect(await child.exited).toBe(0)
  })

  it("sees the change made before notify: 'ok' (woken) or 'not-equal' (changed before it slept), never a lost wake", {
    timeout: 20_000,
  }, async () => {
    const { segment, i32 } = shared(4)
    const child = spawnChild(participant, ['wait-sync', segment.name, '0', '-1'])
    await child.waitFor('WAITING')
    Atomics.store(i32, 0, 7)
    notify(i32, 0)
    await child.waitFor('RESULT')
    expect(child.stdout()).toMatch(/RESULT (ok|not-equal) 7/)
  })

  it("returns 'timed-out' when nobody notifies", { timeout: 20_000 }, async () => {
    const { segment } = shared(4)
    const child = spawnChild(participant, ['wait-sync', segment.name, '0', '100'])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('RESULT timed-out 0')
  })

  it('hands turns back and forth 500 times with a parent waiting async', { timeout: 30_000 }, async () => {
    const { segment, i32 } = shared(4)
    const child = spawnChild(participant, ['ping-pong', segment.name, '500'])
    await child.waitFor('READY')
    for (let round = 0; round < 500; round++) {
      Atomics.store(i32, 0, 2 * round + 1)
      notify(i32, 0)
      let value = Atomics.load(i32, 0)
      while (value !== 2 * round + 2) {
        await wait(i32, 0, value, { timeout: 10_000 })
        value = Atomics.load(i32, 0)
      }
    }
    expect(await child.exited).toBe(0)
    expect(Atomics.load(i32, 0)).toBe(1000)
  })
})

describe('wait() across processes', () => {
  it("resolves 'ok' in the child when the parent notifies; notify counts it", { timeout: 20_000 }, async () => {
    const { segment, i32 } = shared(4)
    const child = spawnChild(participant, ['wait-async', segment.name, '0', '20000'])
    await child.waitFor('WAITING')
    expect(await wakeOne(i32, 0)).toBe(1)
    await child.waitFor('RESULT')
    expect(child.stdout()).toContain('RESULT ok 0')
  })

  it("resolves 'ok' in the parent when a child changes the word and notifies", { timeout: 20_000 }, async () => {
    const { segment, i32 } = shared(4)
    const waiting = wait(i32, 0, 0, { timeout: 15_000 })
    const child = spawnChild(participant, ['set-notify', segment.name, '0', '5'])
    expect(await waiting).toBe('ok')
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toMatch(/WOKE [01]/)
    expect(Atomics.load(i32, 0)).toBe(5)
  })

  it("resolves 'timed-out' in the child when nobody notifies", { timeout: 20_000 }, async () => {
    const { segment } = shared(4)
    const child = spawnChild(participant, ['wait-async', segment.name, '0', '100'])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('RESULT timed-out 0')
  })

  it('rejects in the child with the AbortSignal’s reason', { timeout: 20_000 }, async () => {
    const { segment, i32 } = shared(4)
    const child = spawnChild(participant, ['wait-abort', segment.name, '100'])
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('RESULT rejected TimeoutError')
    // The aborted wait left no sleeper behind.
    expect(notify(i32, 0)).toBe(0)
  })

  it('keeps the child alive while it is pending, like a timer', { timeout: 20_000 }, async () => {
    const { segment, i32 } = shared(4)
    const child = spawnChild(participant, ['keep-alive', segment.name])
    await child.waitFor('WAITING')
    await new Promise((r) => setTimeout(r, 200))
    expect(child.child.exitCode).toBeNull()
    Atomics.store(i32, 0, 1)
    notify(i32, 0)
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('RESULT ok')
  })

  it('does not use the libuv pool: with UV_THREADPOOL_SIZE=1, fs and dns finish while 200 waits are pending', {
    timeout: 30_000,
  }, async () => {
    const { segment, i32 } = shared(200)
    const child = spawnChild(participant, ['pool', segment.name, '200'], {
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    })
    await child.waitFor('READS DONE', 20_000)
    expect(child.stdout()).toContain('READS DONE 20 true')
    for (let i = 0; i < 200; i++) {
      Atomics.store(i32, i, 1)
      notify(i32, i)
    }
    expect(await child.exited).toBe(0)
    expect(child.stdout()).toContain('WAITS DONE 200')
  })
})
