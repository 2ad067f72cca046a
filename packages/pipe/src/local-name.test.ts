import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { NotFoundError, PermissionError } from './errors.js'
import {
  checkPrivateDir,
  localSocketDir,
  localSocketPath,
  MAX_SOCKET_PATH,
  probeSocket,
  statSocket,
} from './local-name.js'

const bases: string[] = []
afterEach(() => {
  for (const base of bases.splice(0)) rmSync(base, { recursive: true, force: true })
})
function tempBase(): string {
  const base = mkdtempSync(join(tmpdir(), 'pipe-local-name-'))
  bases.push(base)
  return base
}

const uid = process.getuid?.() ?? 0

describe('localSocketDir() and localSocketPath()', () => {
  it('puts sockets in <tmpdir>/ipc-<uid>/<name>.sock', () => {
    expect(localSocketDir('/base')).toBe(`/base/ipc-${uid}`)
    expect(localSocketDir()).toBe(join(tmpdir(), `ipc-${uid}`))
    expect(localSocketPath('jobs', '/base/ipc-7')).toBe('/base/ipc-7/jobs.sock')
  })

  it('hashes a name whose path would not fit in 107 bytes, the same way every time', () => {
    const dir = '/tmp/ipc-0'
    const fits = 'a'.repeat(MAX_SOCKET_PATH - dir.length - '/.sock'.length)
    expect(localSocketPath(fits, dir)).toBe(`${dir}/${fits}.sock`)
    const long = `${fits}b`
    const hashed = localSocketPath(long, dir)
    expect(hashed).toMatch(/^\/tmp\/ipc-0\/[A-Za-z0-9_-]{43}\.hsock$/)
    expect(Buffer.byteLength(hashed)).toBeLessThanOrEqual(MAX_SOCKET_PATH)
    expect(localSocketPath(long, dir)).toBe(hashed)
    expect(localSocketPath(`${fits}c`, dir)).not.toBe(hashed)
    // Bytes, not UTF-16 units: 31 "€" are 93 bytes (31 units would fit).
    expect(localSocketPath('€'.repeat(30), dir)).toBe(`${dir}/${'€'.repeat(30)}.sock`)
    expect(localSocketPath('€'.repeat(31), dir)).toMatch(/\.hsock$/)
  })
})

describe('checkPrivateDir()', () => {
  it('creates the directory with mode 0700 when asked, and accepts it afterwards', () => {
    const dir = join(tempBase(), 'ipc-me')
    expect(() => checkPrivateDir(dir, 'Cannot connect', false)).toThrow(NotFoundError)
    checkPrivateDir(dir, 'Cannot listen', true)
    const st = lstatSync(dir)
    expect(st.isDirectory()).toBe(true)
    expect(st.mode & 0o777).toBe(0o700)
    checkPrivateDir(dir, 'Cannot listen', true)
    checkPrivateDir(dir, 'Cannot connect', false)
  })

  it('refuses a directory open to group or other, a symbolic link and a plain file with PermissionError', () => {
    const base = tempBase()
    const open = join(base, 'open')
    mkdirSync(open, { mode: 0o700 })
    chmodSync(open, 0o755)
    expect(() => checkPrivateDir(open, 'Cannot listen on "jobs"', true)).toThrow(PermissionError)
    expect(() => checkPrivateDir(open, 'Cannot listen on "jobs"', true)).toThrow(
      `Cannot listen on "jobs": the directory ${open} is open to group or other (mode 0755); run "chmod 700 ${open}" or remove it`,
    )
    const target = join(base, 'target')
    mkdirSync(target, { mode: 0o700 })
    const link = join(base, 'link')
    symlinkSync(target, link)
    expect(() => checkPrivateDir(link, 'Cannot connect', false)).toThrow(/is a symbolic link/)
    const file = join(base, 'file')
    writeFileSync(file, '')
    expect(() => checkPrivateDir(file, 'Cannot connect', true)).toThrow(PermissionError)
  })

  it('refuses a parent that others may write without the sticky bit, and accepts a sticky one', () => {
    const parent = tempBase()
    const dir = join(parent, 'ipc-me')
    chmodSync(parent, 0o777)
    expect(() => checkPrivateDir(dir, 'Cannot listen', true)).toThrow(PermissionError)
    expect(() => checkPrivateDir(dir, 'Cannot listen', true)).toThrow(
      /writable by others without the sticky bit \(mode 0777\)/,
    )
    chmodSync(parent, 0o1777) // as /tmp
    checkPrivateDir(dir, 'Cannot listen', true)
    expect(lstatSync(dir).mode & 0o777).toBe(0o700)
  })

  it.skipIf(uid !== 0)('refuses a directory of another user, naming its owner (as root)', () => {
    const dir = join(tempBase(), 'theirs')
    mkdirSync(dir, { mode: 0o700 })
    chownSync(dir, 65534, 65534)
    expect(() => checkPrivateDir(dir, 'Cannot listen', true)).toThrow(PermissionError)
    expect(() => checkPrivateDir(dir, 'Cannot listen', true)).toThrow(
      /belongs to uid 65534, not to this user \(uid 0\)/,
    )
  })
})

describe('probeSocket() and statSocket()', () => {
  it('tells a live listener from a missing file', async () => {
    const dir = join(tempBase(), 'ipc-me')
    checkPrivateDir(dir, 'test', true)
    const path = localSocketPath('probe', dir)
    expect(statSocket(path, 'test')).toBeUndefined()
    expect(probeSocket(path)).toBe('gone')
    const server = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(path, resolve))
    try {
      expect(statSocket(path, 'test')?.isSocket()).toBe(true)
      expect(probeSocket(path)).toBe('live')
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
