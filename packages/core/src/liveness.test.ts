import { spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { isProcessAlive, processStartTime, selfIdentity, threadId } from './liveness.js'

describe('selfIdentity()', () => {
  it('is this pid and its start time', () => {
    const me = selfIdentity()
    expect(me.pid).toBe(process.pid)
    expect(me.startTime).toBeGreaterThan(0)
    expect(processStartTime(process.pid)).toBe(me.startTime)
  })
})

describe('isProcessAlive()', () => {
  it('is true for a running process with its start time, or with 0', () => {
    const me = selfIdentity()
    expect(isProcessAlive(me.pid, me.startTime)).toBe(true)
    expect(isProcessAlive(me.pid, 0)).toBe(true)
    expect(isProcessAlive(process.ppid, processStartTime(process.ppid))).toBe(true)
  })

  it('is false for a process that exited, and for a reused pid (another start time)', () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number
    expect(isProcessAlive(dead, 1)).toBe(false)
    expect(isProcessAlive(process.ppid, processStartTime(process.ppid) + 1)).toBe(false)
    expect(processStartTime(0x3fffffff)).toBe(-1)
  })
})

describe('threadId()', () => {
  it('differs between threads of one process', async () => {
    const main = threadId()
    expect(main).toBe(process.pid)
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads'); import(${JSON.stringify(new URL('../dist/internal.js', import.meta.url).href)}).then((m) => parentPort.postMessage(m.threadId()))`,
      { eval: true },
    )
    const other = await new Promise((resolve) => worker.once('message', resolve))
    await worker.terminate()
    expect(other).not.toBe(main)
    expect(other).toBeGreaterThan(0)
  })
})
