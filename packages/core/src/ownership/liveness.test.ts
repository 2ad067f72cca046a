import { spawnSync } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { isProcessAlive, isRecordedProcessAlive, processStartTime, selfIdentity, threadId } from './liveness.js'

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

  it('is true for a live process that /proc cannot be read for (a caller out of file descriptors)', () => {
    // A child with 64 fds at most uses them all up, then asks about its parent:
    // "cannot tell" must read as alive, or a live holder's slot or lock is taken.
    const internal = new URL('../../dist/internal.js', import.meta.url).href
    const probe = `
      import { openSync, closeSync } from 'node:fs'
      import { isProcessAlive, processStartTime } from ${JSON.stringify(internal)}
      const start = processStartTime(process.ppid)
      const fds = []
      try { for (;;) fds.push(openSync('/dev/null', 'r')) } catch (error) { if (error.code !== 'EMFILE') throw error }
      const report = { start, alive: isProcessAlive(process.ppid, start), unread: processStartTime(process.ppid) }
      for (const fd of fds) closeSync(fd)
      console.log(JSON.stringify({ ...report, gone: processStartTime(0x3fffffff), fds: fds.length }))`
    const run = spawnSync('prlimit', ['--nofile=64:64', process.execPath, '--input-type=module', '-e', probe], {
      encoding: 'utf8',
    })
    expect(run.stderr).toBe('')
    const report = JSON.parse(run.stdout) as {
      start: number
      alive: boolean
      unread: number
      gone: number
      fds: number
    }
    expect(report.start).toBe(processStartTime(process.pid))
    expect(report.fds).toBeGreaterThan(0)
    expect(report.unread).toBe(-2) // /proc could not be opened: unknown, not gone
    expect(report.alive).toBe(true)
    expect(report.gone).toBe(-1)
  })
})

describe('threadId()', () => {
  it('differs between threads of one process', async () => {
    const main = threadId()
    expect(main).toBe(process.pid)
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads'); import(${JSON.stringify(new URL('../../dist/internal.js', import.meta.url).href)}).then((m) => parentPort.postMessage(m.threadId()))`,
      { eval: true },
    )
    const other = await new Promise((resolve) => worker.once('message', resolve))
    await worker.terminate()
    expect(other).not.toBe(main)
    expect(other).toBeGreaterThan(0)
  })
})

describe('selfIdentity() namespace and boot', () => {
  it('is the inode of /proc/self/ns/pid and the first 64 bits of the boot id', () => {
    const me = selfIdentity()
    expect(me.pidNamespace).toBe(statSync('/proc/self/ns/pid').ino)
    const hex = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').replace(/-/g, '')
    expect(me.bootId).toEqual([Number.parseInt(hex.slice(0, 8), 16) | 0, Number.parseInt(hex.slice(8, 16), 16) | 0])
  })
})

describe('isRecordedProcessAlive()', () => {
  it('counts another PID namespace alive, another boot dead, and checks the pid otherwise', () => {
    const me = selfIdentity()
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number
    const otherBoot = [me.bootId[0], me.bootId[1] ^ 1] as const
    expect(isRecordedProcessAlive(me)).toBe(true)
    expect(isRecordedProcessAlive({ ...me, pid: dead, startTime: 1 })).toBe(false)
    expect(isRecordedProcessAlive({ ...me, pid: dead, pidNamespace: me.pidNamespace + 1 })).toBe(true)
    expect(isRecordedProcessAlive({ ...me, bootId: otherBoot })).toBe(false)
    expect(isRecordedProcessAlive({ ...me, pidNamespace: me.pidNamespace + 1, bootId: otherBoot })).toBe(false)
    // Unknown (0) on the record's side: judged by its pid here.
    expect(isRecordedProcessAlive({ ...me, pid: dead, pidNamespace: 0, bootId: [0, 0] })).toBe(false)
    expect(isRecordedProcessAlive({ ...me, pidNamespace: 0, bootId: [0, 0] })).toBe(true)
    // Still being written: the namespace and the boot id must be ours exactly, or it counts alive.
    expect(isRecordedProcessAlive({ ...me, pid: dead, startTime: 0, pidNamespace: 0 }, false)).toBe(true)
    expect(isRecordedProcessAlive({ ...me, pid: dead, startTime: 0 }, false)).toBe(false)
    // Half a boot id (a claimer between its two stores, on a fresh slot) or a previous holder's
    // other boot: not another boot's process. Before, it was dead, and the scans unlinked a live
    // creator's new segment.
    expect(isRecordedProcessAlive({ ...me, pid: dead, startTime: 0, bootId: [me.bootId[0], 0] }, false)).toBe(true)
    expect(isRecordedProcessAlive({ ...me, pid: dead, startTime: 0, bootId: otherBoot }, false)).toBe(true)
    expect(isRecordedProcessAlive({ ...me, pid: dead, startTime: 0, bootId: [0, 0] }, false)).toBe(true)
  })
})
