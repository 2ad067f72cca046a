// Local names are private to their user: another user can neither reach a listener nor
// squat the directory where names live. The intruder runs as uid 65534 through setpriv.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { Client } from '../src/client.js'
import { ExistsError, NotFoundError } from '../src/errors.js'
import { Listener } from '../src/listener.js'
import { localSocketDir, localSocketPath } from '../src/local-name.js'

const intruderFixture = new URL('./fixtures/intruder.mjs', import.meta.url).pathname
const victimFixture = new URL('./fixtures/victim.mjs', import.meta.url)
const listenerFixture = new URL('./fixtures/listener.mjs', import.meta.url)

function hasSetpriv(): boolean {
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const asRoot = process.getuid?.() === 0 && hasSetpriv()
const NOT_ROOT = 'needs root and setpriv to run the intruder as uid 65534 (CI runs as root)'

interface Intruder {
  child: ChildProcess
  stdout(): string
  exited: Promise<number | null>
}

/** Runs the intruder fixture as uid 65534; it is killed when the test finishes. */
function intruder(args: string[]): Intruder {
  const child = spawn(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, intruderFixture, ...args],
    { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    out += d
  })
  // 'close', not 'exit': the last output may still be unread at 'exit'.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return { child, stdout: () => out, exited }
}

describe('the private directory of local names', () => {
  it('is <tmpdir>/ipc-<uid>, mode 0700, owned by this user, and holds the socket only while listening', async () => {
    const name = uniqueName('l')
    const listener = new Listener(name)
    onTestFinished(() => listener.close())
    const dir = localSocketDir()
    expect(dir).toBe(join(tmpdir(), `ipc-${process.getuid?.()}`))
    const st = lstatSync(dir)
    expect(st.isDirectory()).toBe(true)
    expect(st.mode & 0o777).toBe(0o700)
    expect(st.uid).toBe(process.getuid?.())
    expect(lstatSync(localSocketPath(name)).isSocket()).toBe(true)
    listener.close()
    expect(existsSync(localSocketPath(name))).toBe(false)
    await expect(Client(name)).rejects.toThrow(NotFoundError)
  })

  it('meets on a name too long for a socket path (hashed the same way on both sides)', async () => {
    const name = `${uniqueName('long')}-${'é'.repeat(100)}`
    expect(Buffer.byteLength(name)).toBeGreaterThan(200)
    const listener = new Listener(name)
    onTestFinished(() => listener.close())
    expect(localSocketPath(name)).toMatch(/\.hsock$/)
    expect(lstatSync(localSocketPath(name)).isSocket()).toBe(true)
    const [server, client] = await Promise.all([
      listener.accept({ timeout: 10_000 }),
      Client(name, { timeout: 10_000 }),
    ])
    await client.send('long way')
    expect(await server.recv({ timeout: 10_000 })).toBe('long way')
    server.close()
    client.close()
  })

  it('replaces a socket file left by a listener that was killed, and refuses a live one with ExistsError', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('l')
    const child = spawnChild(listenerFixture, [name, '-', '1'])
    await child.waitFor('address ')
    // The live listener keeps its name.
    expect(() => new Listener(name)).toThrow(ExistsError)
    child.child.kill('SIGKILL')
    await child.exited
    // SIGKILL ran no cleanup: the socket file is still there, and nothing answers on it.
    expect(lstatSync(localSocketPath(name)).isSocket()).toBe(true)
    await expect(Client(name)).rejects.toThrow(NotFoundError)
    const listener = new Listener(name)
    onTestFinished(() => listener.close())
    const [server, client] = await Promise.all([
      listener.accept({ timeout: 10_000 }),
      Client(name, { timeout: 10_000 }),
    ])
    await server.send('fresh')
    expect(await client.recv({ timeout: 10_000 })).toBe('fresh')
    server.close()
    client.close()
  })
})

describe('another user', () => {
  it.skipIf(!asRoot)(
    `cannot connect to, bind in, or list a listener's directory (${NOT_ROOT})`,
    {
      timeout: 30_000,
    },
    async () => {
      const name = uniqueName('l')
      const dropped: Error[] = []
      const listener = new Listener(name, { onHandshakeError: (e) => dropped.push(e) })
      onTestFinished(() => listener.close())
      const stranger = intruder(['probe', localSocketPath(name), localSocketDir()])
      expect(await stranger.exited).toBe(0)
      expect(stranger.stdout()).toContain('connect EACCES')
      expect(stranger.stdout()).toContain('listen EACCES')
      expect(stranger.stdout()).toContain('readdir EACCES')
      // Nothing reached the listener.
      expect(dropped).toEqual([])
      await expect(listener.accept({ timeout: 0 })).rejects.toThrow(/no client is waiting/)
    },
  )

  for (const [mode, withSocket] of [
    ['777', false],
    ['700', true],
  ] as const) {
    it.skipIf(!asRoot)(
      `who creates our directory first (mode ${mode}${withSocket ? ', with a socket in it' : ''}) makes Listener and Client throw PermissionError, and receives nothing (${NOT_ROOT})`,
      {
        timeout: 30_000,
      },
      async () => {
        // A temp directory that works like /tmp (sticky, writable by all), so the real
        // <tmpdir>/ipc-0 that other tests use stays untouched.
        const base = mkdtempSync(join(tmpdir(), 'pipe-squat-'))
        chmodSync(base, 0o1777)
        onTestFinished(() => rmSync(base, { recursive: true, force: true }))
        const dir = localSocketDir(base)
        const name = uniqueName('l')
        const file = localSocketPath(name, dir).slice(dir.length + 1)
        const squatter = intruder(['squat', dir, mode, withSocket ? file : '-'])
        await vi.waitFor(() => expect(squatter.stdout()).toContain('ready'), { timeout: 10_000 })
        expect(statSync(dir).uid).toBe(65534)

        const victim = spawnChild(victimFixture, [name], { env: { ...process.env, TMPDIR: base } })
        expect(await victim.exited).toBe(0)
        const out = victim.stdout()
        // Both refused at the directory, before binding or connecting anything.
        const refusal = `the directory ${dir} belongs to uid 65534, not to this user (uid 0)`
        expect(out).toContain(`listener PermissionError IPC_PERMISSION Cannot listen on "${name}": ${refusal}`)
        expect(out).toContain(`client PermissionError IPC_PERMISSION Cannot connect to "${name}": ${refusal}`)
        expect(readdirSync(dir)).toEqual(withSocket ? [file] : [])
        // The squatter's socket was never connected to.
        expect(squatter.stdout()).not.toContain('connection')
        expect(squatter.stdout()).not.toContain('data')
      },
    )
  }
})
