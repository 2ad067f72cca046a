/**
 * Segments are safe against other users: a file in /dev/shm that is not ours
 * (another owner, a mode open to group/other, not a regular file) is refused
 * with PermissionError and never mapped or changed; the cleanup scan maps
 * only files of ours it judged dead and removes only files @ipc created; another user truncating files
 * under our feet cannot crash us; and a holder in another PID namespace is
 * never reaped. Real files, real uids (CI runs as root; the tests that need a
 * second uid or a new PID namespace skip with a note otherwise).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmdirSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { fileURLToPath } from 'node:url'
import { IncompatibleError, PermissionError } from '@ipc/core'
import {
  HEADER_BYTES,
  MAX_MAPPED_BYTES,
  RawSegment,
  reclaimDeadSegments,
  Segment,
  SHM_PREFIX,
} from '@ipc/core/internal'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const KIND = { kind: 'test-sec', version: 1 }
const NOBODY = 65534
const isRoot = process.geteuid?.() === 0
const MAGIC_READY = 0x32435049 // 'IPC2'
const MAGIC_INITIALISING = 0x69435049 // 'IPCi'
const SLOT_BYTES = 32

function shmPath(name: string): string {
  return `/dev/shm/${SHM_PREFIX}${name}`
}

/** Removes the file at the end of the test, whoever owns it. */
function removeLater(path: string): void {
  onTestFinished(() => {
    try {
      unlinkSync(path)
    } catch {}
  })
}

/**
 * The bytes of a segment header in the current layout, for kind 'test-sec'
 * version 1, with the given slots taken: what a file would need to look like
 * for the old code to map it, claim a slot in it, or reap it.
 */
function header(magic: number, slots: Array<{ slot: number; pid: number; startTime?: number }>): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES + 64)
  bytes.writeInt32LE(magic, 0)
  bytes.writeInt32LE(1, 4) // ready
  bytes.writeInt32LE(1, 8) // version
  bytes.writeInt32LE(HEADER_BYTES, 12)
  bytes.writeDoubleLE(64, 16)
  bytes.write('test-sec', 24, 'latin1')
  for (const { slot, pid, startTime = 12345 } of slots) {
    bytes.writeInt32LE(pid, 64 + slot * SLOT_BYTES)
    bytes.writeInt32LE(pid, 64 + slot * SLOT_BYTES + 4)
    bytes.writeDoubleLE(startTime, 64 + slot * SLOT_BYTES + 8)
  }
  return bytes
}

/** A pid that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number
}

/** Runs the scan until it has covered every name once (it examines at least 64 names per call). */
function fullScan(): number {
  let removed = 0
  for (let i = 0; i < 40; i++) removed += reclaimDeadSegments()
  return removed
}

/** Throws the error `fn` throws, or fails. */
function thrown(fn: () => unknown): Error {
  try {
    fn()
  } catch (error) {
    return error as Error
  }
  throw new Error('Expected the call to throw')
}

/** Plants a file under a name we then open: looks like a live, ready segment of our kind (one dead slot). */
function plant(name: string, mode: number, uid: number): Buffer {
  const content = header(MAGIC_READY, [{ slot: 3, pid: deadPid() }])
  const path = shmPath(name)
  writeFileSync(path, content)
  removeLater(path)
  chmodSync(path, mode)
  if (uid !== process.geteuid?.()) chownSync(path, uid, uid)
  return content
}

describe('Segment.open() on a file that is not ours', () => {
  it.skipIf(!isRoot)(
    'refuses a file of another user (uid 65534, mode 0666) with PermissionError, and never maps it',
    () => {
      const name = uniqueName('foreign')
      const content = plant(name, 0o666, NOBODY)
      const error = thrown(() => Segment.open(KIND, name))
      expect(error).toBeInstanceOf(PermissionError)
      expect((error as PermissionError).code).toBe('IPC_PERMISSION')
      expect(error.message).toContain(`Cannot open test-sec "${name}"`)
      expect(error.message).toContain(`belongs to uid ${NOBODY} (mode 0666), not to this process's user (uid 0)`)
      expect(error.message).toContain('remove it as its owner')
      // Not mapped, not attached: the header the old code would have claimed a slot in is unchanged.
      expect(readFileSync(shmPath(name)).equals(content)).toBe(true)
      // And the scan leaves it alone, though its only slot holder is dead.
      fullScan()
      expect(readFileSync(shmPath(name)).equals(content)).toBe(true)
    },
  )

  it.skipIf(!isRoot)('refuses a file of another user even with mode 0600: root trusts no one else', () => {
    const name = uniqueName('foreign')
    const content = plant(name, 0o600, NOBODY)
    expect(() => Segment.open(KIND, name)).toThrow(PermissionError)
    fullScan()
    expect(readFileSync(shmPath(name)).equals(content)).toBe(true)
  })

  it('refuses a file of our own user open to group/other (mode 0644), names the mode, and leaves it as it was', () => {
    const name = uniqueName('open')
    const content = plant(name, 0o644, process.geteuid?.() ?? 0)
    const error = thrown(() => Segment.open(KIND, name))
    expect(error).toBeInstanceOf(PermissionError)
    expect(error.message).toContain('has mode 0644, which lets group or other users in')
    expect(readFileSync(shmPath(name)).equals(content)).toBe(true)
    fullScan()
    expect(readFileSync(shmPath(name)).equals(content)).toBe(true)
    expect(lstatSync(shmPath(name)).mode & 0o777).toBe(0o644)
  })

  it('refuses a symlink (even to a segment of ours) and a FIFO, without blocking', () => {
    const target = Segment.create(KIND, 64)
    onTestFinished(() => target.close())
    const link = uniqueName('link')
    symlinkSync(shmPath(target.name), shmPath(link))
    removeLater(shmPath(link))
    const linkError = thrown(() => Segment.open(KIND, link))
    expect(linkError).toBeInstanceOf(PermissionError)
    expect(linkError.message).toContain('is not a regular file')
    const fifo = uniqueName('fifo')
    expect(spawnSync('mkfifo', ['-m', '600', shmPath(fifo)]).status).toBe(0)
    removeLater(shmPath(fifo))
    expect(thrown(() => Segment.open(KIND, fifo))).toBeInstanceOf(PermissionError)
    fullScan()
    expect(existsSync(shmPath(fifo))).toBe(true)
    expect(lstatSync(shmPath(link)).isSymbolicLink()).toBe(true)
  })

  it('refuses a directory with PermissionError (glibc reports it as EINVAL, not EISDIR)', () => {
    const name = uniqueName('dir')
    mkdirSync(shmPath(name), { mode: 0o700 })
    onTestFinished(() => rmdirSync(shmPath(name)))
    const error = thrown(() => Segment.open(KIND, name))
    expect(error).toBeInstanceOf(PermissionError)
    expect(error.message).toContain('is not a regular file')
    const raw = uniqueName('rawdir')
    mkdirSync(`/dev/shm/${raw}`, { mode: 0o700 })
    onTestFinished(() => rmdirSync(`/dev/shm/${raw}`))
    expect(thrown(() => RawSegment.open(raw))).toBeInstanceOf(PermissionError)
  })

  it('refuses a file of ours whose size is not a multiple of 8 with IncompatibleError, not a RangeError', () => {
    const name = uniqueName('odd')
    const path = shmPath(name)
    writeFileSync(path, Buffer.concat([header(MAGIC_READY, []), Buffer.from([0])]), { mode: 0o600 })
    removeLater(path)
    const error = thrown(() => Segment.open(KIND, name))
    expect(error).toBeInstanceOf(IncompatibleError)
    expect(error.message).toContain(`its size, ${HEADER_BYTES + 65} bytes, is not a multiple of 8`)
  })

  // Node 20 wraps at most 4 GiB in a buffer; the addon used to free such a mapping twice
  // (SIGABRT). A sparse file costs no memory. Newer Node versions wrap far more: skipped there.
  it.skipIf(MAX_MAPPED_BYTES >= 2 ** 40)(
    'refuses a file of ours larger than this Node.js can map with IncompatibleError, without mapping it',
    () => {
      const name = uniqueName('huge')
      const path = shmPath(name)
      writeFileSync(path, header(MAGIC_READY, []), { mode: 0o600 })
      removeLater(path)
      truncateSync(path, MAX_MAPPED_BYTES + 8)
      const error = thrown(() => Segment.open(KIND, name))
      expect(error).toBeInstanceOf(IncompatibleError)
      expect(error.message).toContain(`larger than the ${MAX_MAPPED_BYTES} bytes this Node.js can map`)
      const raw = uniqueName('rawhuge')
      writeFileSync(`/dev/shm/${raw}`, '', { mode: 0o600 })
      removeLater(`/dev/shm/${raw}`)
      truncateSync(`/dev/shm/${raw}`, MAX_MAPPED_BYTES + 1)
      const rawError = thrown(() => RawSegment.open(raw))
      expect(rawError).toBeInstanceOf(IncompatibleError)
      expect(rawError.message).toContain(`larger than the ${MAX_MAPPED_BYTES} bytes`)
    },
  )

  it('refuses a file of ours above 1 TiB (the most the addon maps) at once, as too large, on any Node.js', () => {
    const name = uniqueName('vast')
    const path = shmPath(name)
    writeFileSync(path, header(MAGIC_READY, []), { mode: 0o600 })
    removeLater(path)
    truncateSync(path, 2 ** 41)
    const started = performance.now()
    const error = thrown(() => Segment.open(KIND, name))
    // Not taken for a creator's short file, which an open waits up to 2 s for.
    expect(performance.now() - started).toBeLessThan(1000)
    expect(error).toBeInstanceOf(IncompatibleError)
    expect(error.message).toContain('larger than')
  })

  it('refuses to create a segment larger than this Node.js can map with RangeError, creating nothing', () => {
    const name = uniqueName('huge')
    const error = thrown(() => Segment.create(KIND, MAX_MAPPED_BYTES, { name }))
    expect(error).toBeInstanceOf(RangeError)
    expect((error as RangeError & { code?: string }).code).toBe('ERR_OUT_OF_RANGE')
    expect(existsSync(shmPath(name))).toBe(false)
    const raw = uniqueName('rawhuge')
    expect(thrown(() => RawSegment.create(raw, MAX_MAPPED_BYTES + 1, false))).toBeInstanceOf(RangeError)
    expect(existsSync(`/dev/shm/${raw}`)).toBe(false)
  })

  it('refuses a file of ours shorter than a header with IncompatibleError, before mapping it', () => {
    const name = uniqueName('short')
    writeFileSync(shmPath(name), Buffer.from([0x49, 0x50, 0x43, 0x32]), { mode: 0o600 })
    removeLater(shmPath(name))
    expect(thrown(() => Segment.open(KIND, name))).toBeInstanceOf(IncompatibleError)
    expect(readFileSync(shmPath(name))).toEqual(Buffer.from([0x49, 0x50, 0x43, 0x32]))
  })
})

describe('reclaimDeadSegments()', () => {
  it('leaves an old non-@ipc ipc-* file of our own user alone (random bytes, zeros, a dead slot but no magic)', () => {
    const files = [
      Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919 + 13) & 0xff)),
      Buffer.alloc(HEADER_BYTES + 64),
      header(0x12345678, [{ slot: 0, pid: deadPid() }]),
    ].map((content) => {
      const name = uniqueName('junk')
      writeFileSync(shmPath(name), content, { mode: 0o600 })
      removeLater(shmPath(name))
      // An hour old: older than any grace period.
      const old = Date.now() / 1000 - 3600
      utimesSync(shmPath(name), old, old)
      return { name, content }
    })
    fullScan()
    for (const { name, content } of files) expect(readFileSync(shmPath(name)).equals(content)).toBe(true)
  })

  it('removes a segment of ours left initialising by a creator that died; keeps a young one with no slot taken', () => {
    const dead = uniqueName('half')
    writeFileSync(shmPath(dead), header(MAGIC_INITIALISING, [{ slot: 0, pid: deadPid() }]), { mode: 0o600 })
    removeLater(shmPath(dead))
    const young = uniqueName('young')
    writeFileSync(shmPath(young), header(MAGIC_INITIALISING, []), { mode: 0o600 })
    removeLater(shmPath(young))
    const stale = uniqueName('stale')
    writeFileSync(shmPath(stale), header(MAGIC_INITIALISING, []), { mode: 0o600 })
    removeLater(shmPath(stale))
    const old = Date.now() / 1000 - 60
    utimesSync(shmPath(stale), old, old)
    fullScan()
    expect(existsSync(shmPath(dead))).toBe(false)
    expect(existsSync(shmPath(stale))).toBe(false)
    expect(existsSync(shmPath(young))).toBe(true)
  })

  it('removes a ready segment of ours whose holders are all dead, and only that one', () => {
    const dead = uniqueName('dead')
    writeFileSync(shmPath(dead), header(MAGIC_READY, [{ slot: 5, pid: deadPid() }]), { mode: 0o600 })
    removeLater(shmPath(dead))
    const unattached = uniqueName('none')
    writeFileSync(shmPath(unattached), header(MAGIC_READY, []), { mode: 0o600 })
    removeLater(shmPath(unattached))
    const live = Segment.create(KIND, 64)
    onTestFinished(() => live.close())
    fullScan()
    expect(existsSync(shmPath(dead))).toBe(false)
    expect(existsSync(shmPath(unattached))).toBe(true)
    expect(existsSync(shmPath(live.name))).toBe(true)
  })
})

describe('another user truncating ipc-* files', () => {
  it.skipIf(!isRoot)(
    'cannot crash a process that creates, opens, closes and scans meanwhile (no SIGBUS)',
    {
      timeout: 30_000,
    },
    async () => {
      const names = Array.from({ length: 6 }, () => uniqueName('atk'))
      for (const name of names) removeLater(shmPath(name))
      // The attacker (uid 65534) makes each file look like a ready segment of our
      // kind, then shrinks it, over and over: a mapping of it would fault.
      const attack = `
      const fs = require('node:fs')
      const [ms, ...names] = process.argv.slice(1)
      const header = Buffer.from(${JSON.stringify(header(MAGIC_READY, [{ slot: 0, pid: 1, startTime: 0 }]).toString('base64'))}, 'base64')
      const fds = names.map((n) => {
        const fd = fs.openSync('/dev/shm/ipc-' + n, 'w+', 0o666)
        fs.fchmodSync(fd, 0o666)
        fs.writeSync(fd, header, 0, header.length, 0)
        return fd
      })
      console.log('READY')
      const end = Date.now() + Number(ms)
      let loops = 0
      while (Date.now() < end) {
        for (const fd of fds) {
          fs.ftruncateSync(fd, 0)
          fs.writeSync(fd, header, 0, header.length, 0)
          fs.ftruncateSync(fd, 100)
        }
        loops++
      }
      console.log('DONE ' + loops)`
      const attacker = spawn(
        'setpriv',
        [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', attack, '3000', ...names],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      const attackerExit = exitOf(attacker)
      onTestFinished(async () => {
        attacker.kill('SIGKILL')
        await attackerExit
      })
      let attackerOut = ''
      attacker.stdout?.on('data', (d) => {
        attackerOut += d
      })
      attacker.stderr?.on('data', (d) => {
        attackerOut += d
      })
      await new Promise<void>((resolve, reject) => {
        attacker.stdout?.on('data', () => attackerOut.includes('READY') && resolve())
        attackerExit.then(() => reject(new Error(`The attacker exited early: ${attackerOut}`)))
      })
      for (const name of names) expect(lstatSync(shmPath(name)).uid).toBe(NOBODY)
      const churner = spawnChild(new URL('./fixtures/security-churner.mjs', import.meta.url), ['2800', ...names])
      expect(await churner.exited).toBe(0)
      expect(churner.stdout()).toMatch(/SURVIVED [1-9]\d* [1-9]\d*/)
      expect(await attackerExit).toEqual({ code: 0, signal: null })
      expect(attackerOut).toMatch(/DONE [1-9]/)
    },
  )
})

/** Resolves with how a child ended. */
function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
}

const canUnshare =
  isRoot && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'true']).status === 0

describe('a holder in another PID namespace', () => {
  // Skipped where a new PID namespace cannot be made (not root, or a sandbox forbids it).
  it.skipIf(!canUnshare)(
    'is alive to processes outside it: never reaped, and the segment stays until it closes',
    {
      timeout: 30_000,
    },
    async () => {
      const segment = Segment.create(KIND, 64)
      const name = segment.name
      onTestFinished(() => {
        segment.close()
        try {
          unlinkSync(shmPath(name))
        } catch {}
      })
      const holder = spawn(
        'unshare',
        [
          '--pid',
          '--fork',
          '--mount-proc',
          '--kill-child',
          process.execPath,
          fileURLToPath(new URL('./fixtures/ns-holder.mjs', import.meta.url)),
          name,
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      )
      const holderExit = exitOf(holder)
      onTestFinished(async () => {
        holder.kill('SIGKILL')
        await holderExit
      })
      let out = ''
      holder.stdout?.on('data', (d) => {
        out += d
      })
      holder.stderr?.on('data', (d) => {
        out += d
      })
      await new Promise<void>((resolve, reject) => {
        holder.stdout?.on('data', () => /READY \d+ \d+/.test(out) && resolve())
        holderExit.then(() => reject(new Error(`The holder exited early: ${out}`)))
      })
      const [, slotText, pidText] = /READY (\d+) (\d+)/.exec(out) as RegExpExecArray
      const slot = Number(slotText)
      // Its pid is one of the new namespace (1 is its unshare-forked init, so it is small).
      expect(Number(pidText)).toBeLessThan(100)
      const owner = segment.slotOwner(slot)
      expect(owner?.visible).toBe(false)
      expect(segment.slotAlive(slot)).toBe(true)
      expect(segment.reap()).toBe(0)
      // Another process of this namespace does not reap it either.
      const reaper = spawnChild(new URL('./fixtures/participant.mjs', import.meta.url), ['reap', uniqueName('missing')])
      expect(await reaper.exited).toBe(1)
      fullScan()
      expect(existsSync(shmPath(name))).toBe(true)
      // The creator leaves; the holder keeps the segment.
      segment.close()
      expect(existsSync(shmPath(name))).toBe(true)
      const again = Segment.open(KIND, name)
      expect(again.slotAlive(slot)).toBe(true)
      again.close()
      expect(existsSync(shmPath(name))).toBe(true)
      // The holder closes: it was the last one, so the name goes.
      holder.stdin?.write('close\n')
      expect(await holderExit).toEqual({ code: 0, signal: null })
      expect(out).toContain('CLOSED')
      expect(existsSync(shmPath(name))).toBe(false)
    },
  )
})
