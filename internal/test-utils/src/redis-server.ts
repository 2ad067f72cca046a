/**
 * A private Redis server for one test file: Debian's `redis-server` on a free
 * port, in a temp dir, without persistence unless asked (`appendonly`); started by `startRedisServer()`,
 * stopped by `stop()` (call it in `afterAll`) or, as a last resort, when the
 * test process exits. The Redis tests skip when `redis-server` is missing
 * locally (`hasRedisServer()`); CI installs it, so there they run.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** True when `redis-server` runs on this machine. */
export function hasRedisServer(): boolean {
  try {
    return execFileSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 10_000 }).startsWith('Redis server')
  } catch {
    return false
  }
}

/** Why the Redis tests skipped (for `describe.skipIf(...)` names). */
export const NO_REDIS_NOTE = 'redis-server is not installed (apt-get install redis-server); CI installs it'

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The server's pid (changes after `restart()`). */
  readonly pid: number
  /** SIGSTOP: the socket stays open, nothing answers. */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** Kills the server (SIGKILL) and starts a new one on the same port: everything in memory is lost. */
  restart(): Promise<void>
  /** Kills the server only (for tests of a server that is down); `start()` brings it back on the same port. */
  kill(): Promise<void>
  start(): Promise<void>
  /** Stops the server and removes its directory. Idempotent. */
  stop(): Promise<void>
  /** Sends one command on a fresh socket; resolves with the first line of the reply (`+OK`, `:3`, `-ERR …`). */
  command(...args: string[]): Promise<string>
}

/** One command in RESP, the first line of its reply. */
function sendCommand(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    let reply = ''
    socket.setTimeout(5000, () => {
      socket.destroy()
      reject(new Error(`redis-server did not answer ${args[0]} within 5 s`))
    })
    socket.on('connect', () =>
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`),
    )
    socket.on('data', (data) => {
      reply += data
      const end = reply.indexOf('\r\n')
      if (end !== -1) {
        socket.destroy()
        resolve(reply.slice(0, end))
      }
    })
    socket.on('error', reject)
  })
}

/** The port of a starting server answers for another server (see `start`). */
class PortTakenError extends Error {}

/** `INFO server` on a fresh socket: the whole bulk reply. */
function sendInfo(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    let reply = ''
    socket.setTimeout(5000, () => {
      socket.destroy()
      reject(new Error('redis-server did not answer INFO within 5 s'))
    })
    socket.on('connect', () => socket.write('*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n'))
    socket.on('data', (data) => {
      reply += data
      const header = /^\$(\d+)\r\n/.exec(reply)
      if (header !== null && Buffer.byteLength(reply) >= header[0].length + Number(header[1]) + 2) {
        socket.destroy()
        resolve(reply)
      } else if (reply.startsWith('-')) {
        socket.destroy()
        reject(new Error(`redis-server refused INFO: ${reply.trim()}`))
      }
    })
    socket.on('error', reject)
  })
}

/** A TCP port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject()))
    })
  })
}

/** Resolves once the server answers PING with PONG. */
async function waitForPong(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode})`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' })
      let reply = ''
      socket.setTimeout(500, () => {
        socket.destroy()
        resolve(false)
      })
      socket.on('connect', () => socket.write('PING\r\n'))
      socket.on('data', (data) => {
        reply += data
        if (reply.includes('\r\n')) {
          socket.destroy()
          resolve(reply.startsWith('+PONG'))
        }
      })
      socket.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const running = new Set<ChildProcess>()
let exitHook = false

/** Options of `startRedisServer`. */
export interface RedisServerOptions {
  /**
   * Persist every write before answering it (`appendonly yes`, `appendfsync
   * always`), so that `restart()` and `kill()` + `start()` keep what the
   * server acknowledged. Default: no persistence.
   */
  appendonly?: boolean
}

/** Starts a private redis-server (see the module comment). */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-redis-'))
  let port = await freePort()
  let child: ChildProcess | undefined
  if (!exitHook) {
    exitHook = true
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL')
    })
  }
  const exitOf = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((r) => c.once('exit', () => r()))
  const start = async () => {
    const c = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...(options.appendonly === true ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    )
    running.add(c)
    c.once('exit', () => running.delete(c))
    child = c
    try {
      await waitForPong(port, c)
    } catch (error) {
      // Exited before answering: most likely it could not bind the port (another server took it).
      if (c.exitCode !== null || c.signalCode !== null) {
        child = undefined
        throw new PortTakenError(`redis-server could not start on port ${port}: ${(error as Error).message}`)
      }
      throw error
    }
    // PONG proves a server listens on the port, not that it is ours: another
    // test file's server may have taken the port (between freePort() and this
    // spawn, or while ours was down for a restart). Then ours exits.
    const info = await sendInfo(port)
    const pid = /process_id:(\d+)/.exec(info)?.[1]
    if (pid !== String(c.pid)) {
      c.kill('SIGKILL')
      await exitOf(c)
      child = undefined
      throw new PortTakenError(
        `port ${port} is served by another redis-server (pid ${pid ?? '?'}), not ours (pid ${c.pid})`,
      )
    }
  }
  const kill = async () => {
    const c = child
    if (c === undefined) return
    child = undefined
    c.kill('SIGCONT')
    c.kill('SIGKILL')
    await exitOf(c)
  }
  for (let attempt = 1; ; attempt++) {
    try {
      await start()
      break
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 5) throw error
      port = await freePort()
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid ?? -1
    },
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async restart() {
      await kill()
      await start()
    },
    kill,
    start,
    async stop() {
      await kill()
      rmSync(dir, { recursive: true, force: true })
    },
    command: (...args) => sendCommand(port, args),
  }
}
