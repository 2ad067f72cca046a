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
import { fileURLToPath } from 'node:url'

/** The test-only CA and server certificate of `tls: true` (see tls/README.md). */
export const TEST_TLS = {
  ca: fileURLToPath(new URL('../tls/ca.crt', import.meta.url)),
  cert: fileURLToPath(new URL('../tls/server.crt', import.meta.url)),
  key: fileURLToPath(new URL('../tls/server.key', import.meta.url)),
}

/**
 * The server the tests start: `redis-server`, or the binary named by
 * IPC_TEST_REDIS_SERVER (CI runs the Redis tests once more with
 * `valkey-server`: Valkey speaks the same protocol and runs the same functions).
 */
export const REDIS_SERVER_BINARY = process.env.IPC_TEST_REDIS_SERVER || 'redis-server'

/** True when the test server (`REDIS_SERVER_BINARY`) runs on this machine. */
export function hasRedisServer(): boolean {
  try {
    return /^(Redis|Valkey) server/.test(
      execFileSync(REDIS_SERVER_BINARY, ['--version'], { encoding: 'utf8', timeout: 10_000 }),
    )
  } catch {
    return false
  }
}

/** Why the Redis tests skipped (for `describe.skipIf(...)` names). */
export const NO_REDIS_NOTE = `${REDIS_SERVER_BINARY} is not installed (apt-get install ${REDIS_SERVER_BINARY}); CI installs it`

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** A cluster node's bus port (`cluster-port`); 0 for a standalone server. */
  readonly busPort: number
  /** With `tls: true`: `rediss://127.0.0.1:<tls port>` (a certificate of TEST_TLS.ca); else undefined. */
  readonly tlsUrl: string | undefined
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
  /** `INFO <section>` on a fresh socket: the whole text. */
  info(section: string): Promise<string>
  /** A command whose reply is a bulk string (`CLIENT LIST`, `CLUSTER NODES`), on a fresh socket: the whole reply. */
  bulk(...args: string[]): Promise<string>
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

/** One command on a fresh socket whose reply is a bulk string (`INFO server`, `CLUSTER INFO`): the whole reply. */
function sendBulk(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    let reply = ''
    socket.setTimeout(5000, () => {
      socket.destroy()
      reject(new Error(`redis-server did not answer ${args.join(' ')} within 5 s`))
    })
    socket.on('connect', () =>
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`),
    )
    socket.on('data', (data) => {
      reply += data
      const header = /^\$(\d+)\r\n/.exec(reply)
      if (header !== null && Buffer.byteLength(reply) >= header[0].length + Number(header[1]) + 2) {
        socket.destroy()
        resolve(reply)
      } else if (reply.startsWith('-')) {
        socket.destroy()
        reject(new Error(`redis-server refused ${args.join(' ')}: ${reply.trim()}`))
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
  /** Start with `cluster-enabled yes` (a node of `startRedisCluster`). Default: a standalone server. */
  cluster?: boolean
  /**
   * Also listen with TLS on a second port (`tlsUrl`), with the certificate of
   * TEST_TLS (for 127.0.0.1, signed by TEST_TLS.ca); clients need no
   * certificate of their own. The plain port stays (the helpers use it).
   */
  tls?: boolean
  /**
   * With `tls`: the TLS port lets in only clients that show a certificate
   * signed by TEST_TLS.ca (`tls-auth-clients yes`; TEST_TLS.cert is one).
   * Default: clients need none.
   */
  tlsClientAuth?: boolean
}

/** Starts a private redis-server (see the module comment). */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-redis-'))
  let port = await freePort()
  // A cluster node's bus port: by default port + 10000, past 65535 for a port above 55535.
  let busPort = options.cluster === true ? await freePort() : 0
  let tlsPort = options.tls === true ? await freePort() : 0
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
      REDIS_SERVER_BINARY,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...(options.appendonly === true ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
        ...(options.cluster === true
          ? [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-node-timeout',
              '2000',
              '--cluster-port',
              String(busPort),
            ]
          : []),
        ...(options.tls === true
          ? [
              ...(options.cluster === true ? ['--tls-cluster', 'yes', '--tls-replication', 'yes'] : []),
              '--tls-port',
              String(tlsPort),
              '--tls-cert-file',
              TEST_TLS.cert,
              '--tls-key-file',
              TEST_TLS.key,
              '--tls-ca-cert-file',
              TEST_TLS.ca,
              '--tls-auth-clients',
              options.tlsClientAuth === true ? 'yes' : 'no',
            ]
          : []),
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
    const info = await sendBulk(port, ['INFO', 'server'])
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
      if (options.cluster === true) busPort = await freePort()
      if (options.tls === true) tlsPort = await freePort()
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    busPort,
    tlsUrl: options.tls === true ? `rediss://127.0.0.1:${tlsPort}` : undefined,
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
    info: (section) => sendBulk(port, ['INFO', section]),
    bulk: (...args) => sendBulk(port, args),
  }
}

export interface RedisCluster {
  /** The first node's `redis://127.0.0.1:<port>`: what a client is given (it finds the others). */
  readonly url: string
  /** With `tls`: the first node's `rediss://` URL (the cluster then announces its nodes' TLS ports); else undefined. */
  readonly tlsUrl: string | undefined
  /** The masters, in slot order: node i serves slots ⌊i·16384/n⌋ … ⌊(i+1)·16384/n⌋ - 1 (`nodeOfSlot`). */
  readonly nodes: readonly RedisServer[]
  /** The index in `nodes` of the master that serves `slot` (as started; a failover moves it). */
  nodeOfSlot(slot: number): number
  /** replicas[i]: the replica of nodes[i] (`startRedisCluster`'s `replicas`), synced when the cluster was returned. */
  readonly replicas: readonly RedisServer[]
  /** Stops every node and removes their directories. Idempotent. */
  stop(): Promise<void>
}

/** Options of `startRedisCluster`. */
export interface RedisClusterOptions {
  /** Masters. @default 3 */
  size?: number
  /** The first this many masters get a replica each. @default 0 */
  replicas?: number
  /** TLS on every node and on the cluster bus. @default false */
  tls?: boolean
  /** With `tls`: the TLS ports let in only clients with a certificate of TEST_TLS.ca (see RedisServerOptions). */
  tlsClientAuth?: boolean
}

/**
 * Starts a private Redis Cluster of `size` masters on free ports: each node
 * a `startRedisServer({ cluster: true })`, the 16384 slots split evenly in
 * order, the nodes introduced with CLUSTER MEET; resolves once every node
 * reports `cluster_state:ok` and knows all the others. `replicas`: the first
 * that many masters get a replica each (synced before this resolves), which
 * takes over when its master fails (node timeout 2 s). `tls`: every node
 * also listens with TLS (as `startRedisServer({ tls: true })`), and the
 * cluster bus and replication run over TLS (`tls-cluster`).
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const { size = 3, replicas = 0, tls = false, tlsClientAuth = false } = options
  const nodes: RedisServer[] = []
  const copies: RedisServer[] = []
  const stop = async () => {
    await Promise.all([...nodes, ...copies].map((node) => node.stop()))
  }
  try {
    for (let i = 0; i < size; i++) nodes.push(await startRedisServer({ cluster: true, tls, tlsClientAuth }))
    for (let i = 0; i < replicas; i++) copies.push(await startRedisServer({ cluster: true, tls, tlsClientAuth }))
    for (const [i, node] of nodes.entries()) {
      const reply = await node.command(
        'CLUSTER',
        'ADDSLOTSRANGE',
        String(firstSlot(i, size)),
        String(firstSlot(i + 1, size) - 1),
      )
      if (reply !== '+OK') throw new Error(`CLUSTER ADDSLOTSRANGE on port ${node.port}: ${reply}`)
    }
    // A config epoch of its own for every node before they meet (as redis-cli's --cluster create
    // does): left at 0, the nodes settle the collision themselves, one bump at a time, in the
    // seconds after the cluster reports ok, and a forced failover (CLUSTER FAILOVER TAKEOVER)
    // in that time can lose to its old master's bump, which then keeps its slots.
    for (const [i, node] of [...nodes, ...copies].entries()) {
      const reply = await node.command('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1))
      if (reply !== '+OK') throw new Error(`CLUSTER SET-CONFIG-EPOCH on port ${node.port}: ${reply}`)
    }
    for (const node of [...nodes.slice(1), ...copies]) {
      const reply = await nodes[0]?.command('CLUSTER', 'MEET', '127.0.0.1', String(node.port), String(node.busPort))
      if (reply !== '+OK') throw new Error(`CLUSTER MEET of port ${node.port}: ${reply}`)
    }
    const deadline = Date.now() + 30_000
    const waitUntil = async (what: string, done: () => Promise<boolean>) => {
      while (!(await done())) {
        if (Date.now() > deadline) throw new Error(`the cluster did not form within 30 s: ${what}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    const known = size + replicas
    for (const node of [...nodes, ...copies]) {
      // Every node knows every other, and the largest epoch (so a replica's TAKEOVER goes above it).
      await waitUntil(
        `port ${node.port} is not ok, or does not know all ${known} nodes and epoch ${known}`,
        async () => {
          const info = await sendBulk(node.port, ['CLUSTER', 'INFO'])
          return (
            info.includes('cluster_state:ok') &&
            info.includes(`cluster_known_nodes:${known}`) &&
            info.includes(`cluster_current_epoch:${known}\r\n`)
          )
        },
      )
    }
    for (const [i, copy] of copies.entries()) {
      const master = nodes[i] as RedisServer
      // The first sync at once (diskless, no 5 s wait for more replicas), then the replica follows it.
      await master.command('CONFIG', 'SET', 'repl-diskless-sync-delay', '0')
      const id = /^\$\d+\r\n(\w+)/.exec(await sendBulk(master.port, ['CLUSTER', 'MYID']))?.[1] ?? ''
      await waitUntil(
        `port ${copy.port} does not replicate port ${master.port}`,
        async () => (await copy.command('CLUSTER', 'REPLICATE', id)) === '+OK',
      )
      await waitUntil(`port ${copy.port} did not sync`, async () =>
        (await copy.info('replication')).includes('master_link_status:up'),
      )
    }
  } catch (error) {
    await stop()
    throw error
  }
  const nodeOfSlot = (slot: number) => {
    let i = 0
    while (firstSlot(i + 1, size) <= slot) i++
    return i
  }
  const first = nodes[0] as RedisServer
  return { url: first.url, tlsUrl: first.tlsUrl, nodes, nodeOfSlot, replicas: copies, stop }
}

/** The first slot of master `i` of `size` (and one past the last of master i - 1). */
function firstSlot(i: number, size: number): number {
  return Math.floor((i * 16384) / size)
}

/**
 * The ACL rules the docs give for an application's user (`ACL SETUSER app on
 * >secret ~ipc:* &ipc:* +@all -@dangerous`): every command but the dangerous
 * ones, on the `ipc:*` keys and channels only.
 */
export const IPC_ACL_RULES = ['~ipc:*', '&ipc:*', '+@all', '-@dangerous'] as const

/**
 * Creates the ACL user `user` on `server` (`reset` first, so it starts as a
 * new user: no keys, no channels, no commands) with password `password` and
 * `rules` (default IPC_ACL_RULES); resolves with the URL that logs in as that
 * user (`redis://user:password@127.0.0.1:<port>`).
 */
export async function aclUser(
  server: RedisServer,
  user: string,
  password: string,
  rules: readonly string[] = IPC_ACL_RULES,
): Promise<string> {
  const reply = await server.command('ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, ...rules)
  if (reply !== '+OK') throw new Error(`ACL SETUSER ${user}: ${reply}`)
  return server.url.replace('redis://', `redis://${user}:${password}@`)
}
