// The server is untrusted input: a hostile RESP server (an attacker, or a broken proxy) and a
// co-tenant who writes our keys must get typed errors within bounds, never a crash or a hang.
import type { Socket } from 'node:net'
import {
  array,
  bulk,
  describeWithRedis,
  elapsed,
  type HostileAnswer,
  type HostileHandler,
  type HostileRedis,
  startHostileRedis,
  uniqueName,
} from '@ipc/test-utils'
import { beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest'
import { ConnectionError, CorruptError } from '../errors.js'
import { LOAD_EVERYWHERE_MS } from './cluster-client.js'
import { RedisConnection } from './connection.js'
import { defineLibrary } from './library.js'
import { redisLimits, shortenRedisLimits } from './limits.js'
import { type RedisAttachSpec, type RedisCallOptions, RedisObject } from './redis-object.js'

const LIBRARY = defineLibrary(
  'test_untrusted',
  1,
  `
register('push', function(keys, args) return redis.call('LPUSH', keys[1], 'x') end)
register('lua', function(keys, args) return tonumber(redis.call('GET', keys[1])) + 1 end)
register('create', function(keys, args) return {'created', 0} end)
register('renew', function(keys, args) return {'ok'} end)
register('close', function(keys, args) return {'ok'} end)
register('unlink', function(keys, args) return 1 end)
`,
)

const forever = { deadline: Number.POSITIVE_INFINITY }

// The connect and reply limits are 5 s; each test below that waits one out waits 2.5 s instead
// (still room for a normal connect on a loaded machine: each cluster node's client builds
// @redis/client's command table within it).
// Restored after the last test: beforeAll runs the function it returns then.
beforeAll(() => shortenRedisLimits(2500))

/** A kind whose calls wait on the server (as Queue and Semaphore): its calls have the reply limit at least. */
class Waiting extends RedisObject {
  /** The errors `failWaiters` was called with. */
  readonly failed: Error[] = []

  constructor(spec: RedisAttachSpec) {
    super(
      {
        kind: 'test-waiting',
        label: 'waiting thing',
        className: 'Waiting',
        module: import.meta.url,
        library: LIBRARY,
        keyParts: ['k'],
        idPrefix: 'w',
        functions: { create: 'create', close: 'close', unlink: 'unlink' },
        replyWithinLease: false,
        waits: true,
      },
      spec,
      [],
    )
  }

  get id(): string {
    return this.objectId
  }

  protected override readAttach(): boolean {
    return false
  }

  protected override async renew(): Promise<void> {
    await this.call('renew', [])
  }

  protected override failWaiters(error: Error): void {
    this.failed.push(error)
  }

  /** Calls library function `fn`. */
  send(fn: string, options?: RedisCallOptions): Promise<unknown> {
    return this.call(fn, [], options)
  }

  /** `enter` with a timeout, as a call with one makes it. */
  enterWithin(timeout: number): Promise<number | false> | undefined {
    return this.enter('use', undefined, timeout)
  }
}

describe('RedisConnection against a hostile server', () => {
  it('turns maintenance notifications off: a MOVING push neither crashes the process nor stalls the socket', async () => {
    const hostile = await startHostileRedis((command, standard) => (command[0] === 'FCALL' ? ':7\r\n' : standard))
    const connection = RedisConnection.acquire(hostile.url)
    try {
      expect(await connection.call(LIBRARY, 'lua', [], [], forever)).toBe(7)
      // The handshake never asked for them (the client's default 'auto' sends CLIENT MAINT_NOTIFICATIONS ON).
      expect(hostile.commands.filter((command) => command.includes('MAINT_NOTIFICATIONS'))).toEqual([])
      // A MOVING with a null endpoint (the client's handler threw where nothing caught it: the
      // process exited), then one to a closed port (the socket paused for good).
      hostile.writeAll(`>4\r\n${bulk('MOVING')}:1\r\n:1\r\n_\r\n`)
      hostile.writeAll(`>4\r\n${bulk('MOVING')}:2\r\n:1\r\n${bulk('127.0.0.1:1')}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
      const { ms, outcome } = await elapsed(connection.call(LIBRARY, 'lua', [], [], forever))
      expect(outcome).toBe(7)
      expect(ms).toBeLessThan(1000)
    } finally {
      connection.release()
    }
  })

  it('fails the connect with ConnectionError when the server accepts the socket and never answers HELLO', async () => {
    const hostile = await startHostileRedis(() => undefined)
    const connection = RedisConnection.acquire(hostile.url)
    try {
      const { ms, outcome } = await elapsed(connection.call(LIBRARY, 'lua', [], [], forever))
      expect(outcome).toBeInstanceOf(ConnectionError)
      expect((outcome as Error).message).toMatch(
        new RegExp(`did not complete the connection .* within ${redisLimits.connect} ms`),
      )
      expect(ms).toBeGreaterThan(redisLimits.connect - 500)
      expect(ms).toBeLessThan(redisLimits.connect + 2000)
    } finally {
      connection.release()
    }
  }, 15_000)

  it('fails the connect with ConnectionError when the server answers HELLO and never SUBSCRIBE', async () => {
    const hostile = await startHostileRedis((command, standard) => (command[0] === 'SUBSCRIBE' ? undefined : standard))
    const connection = RedisConnection.acquire(hostile.url)
    try {
      const { outcome } = await elapsed(connection.call(LIBRARY, 'lua', [], [], forever))
      expect(outcome).toBeInstanceOf(ConnectionError)
    } finally {
      connection.release()
    }
  }, 15_000)

  it('takes a garbled answer to its cluster probe (HELLO without arguments) for a single server, and one never given as a failed connect', async () => {
    // The handshake's own HELLO 3 gets the standard answer; only the probe is garbled.
    const garbled = [
      ':42\r\n',
      '_\r\n',
      '-ERR no\r\n',
      '%1\r\n+mode\r\n:7\r\n',
      '*2\r\n+x\r\n+mode\r\n',
      '$5\r\nmode!\r\n',
    ]
    for (const answer of garbled) {
      const hostile = await startHostileRedis((command, standard) =>
        command[0] === 'HELLO' && command.length === 1 ? answer : command[0] === 'FCALL' ? ':1\r\n' : standard,
      )
      const connection = RedisConnection.acquire(hostile.url)
      try {
        expect(await connection.call(LIBRARY, 'push', ['k'], [], forever), JSON.stringify(answer)).toBe(1)
      } finally {
        connection.release()
        hostile.close()
      }
    }
    const silent = await startHostileRedis((command, standard) =>
      command[0] === 'HELLO' && command.length === 1 ? undefined : standard,
    )
    const connection = RedisConnection.acquire(silent.url)
    try {
      const { ms, outcome } = await elapsed(connection.call(LIBRARY, 'push', ['k'], [], forever))
      expect(outcome).toBeInstanceOf(ConnectionError)
      expect(ms).toBeLessThan(redisLimits.connect + 2000)
    } finally {
      connection.release()
    }
  }, 20_000)

  it('reports a refused handshake (ERR unknown command, NOPERM) as ConnectionError with the reply as cause', async () => {
    for (const refusal of ["ERR unknown command 'HELLO'", 'NOPERM this user has no permissions']) {
      const hostile = await startHostileRedis(() => `-${refusal}\r\n`)
      const connection = RedisConnection.acquire(hostile.url)
      try {
        const { outcome } = await elapsed(connection.call(LIBRARY, 'lua', [], [], forever))
        expect(outcome).toBeInstanceOf(ConnectionError)
        expect((outcome as Error).message).toContain(refusal)
        expect((outcome as Error).cause).toBeInstanceOf(Error)
      } finally {
        connection.release()
      }
    }
  })

  it('rejects every call of a load transaction with ConnectionError when EXEC is answered with garbage (not an array, too short), then works again', async () => {
    const garbage = [':1\r\n', `*1\r\n${bulk('ipc_v1_test')}`, '*0\r\n', '_\r\n']
    let answered = 0
    const hostile = await startHostileRedis((command, standard) => {
      if (command[0] === 'FCALL') return ':7\r\n'
      if (command[0] === 'EXEC') return garbage[answered++] ?? standard
      return standard
    })
    const connection = RedisConnection.acquire(hostile.url)
    try {
      for (const _ of garbage) {
        // Two calls in one tick: one transaction, and both fail with it.
        const outcomes = await Promise.all([0, 1].map(() => elapsed(connection.call(LIBRARY, 'lua', [], [], forever))))
        for (const { outcome } of outcomes) expect(outcome).toBeInstanceOf(ConnectionError)
      }
      expect(await connection.call(LIBRARY, 'lua', [], [], forever)).toBe(7)
    } finally {
      connection.release()
    }
  })

  it('reports error replies to a call as typed errors: a blob error, NOPERM, a Lua error', async () => {
    const replies: Record<string, string> = {
      blob: '!5\r\nERR x\r\n',
      noperm: "-NOPERM this user has no permissions to run the 'fcall' command\r\n",
      lua: '-ERR user_function:3: attempt to index a nil value script: f, on @user_function:3.\r\n',
      wrongtype: '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n',
    }
    const hostile = await startHostileRedis((command, standard) =>
      command[0] === 'FCALL' ? replies[command.at(-1) as string] : standard,
    )
    const connection = RedisConnection.acquire(hostile.url)
    try {
      const call = (which: string) => elapsed(connection.call(LIBRARY, 'lua', [], [which], forever))
      for (const [which, type] of [
        ['blob', ConnectionError],
        ['noperm', ConnectionError],
        ['lua', CorruptError],
        ['wrongtype', CorruptError],
      ] as const) {
        const { outcome } = await call(which)
        expect(outcome, which).toBeInstanceOf(type)
        expect((outcome as Error).cause, which).toBeInstanceOf(Error)
      }
    } finally {
      connection.release()
    }
  })

  it('bounds the attach of a kind whose calls wait: a server that never answers the create fails it with ConnectionError', async () => {
    const hostile = await startHostileRedis((command, standard) => (command[0] === 'FCALL' ? undefined : standard))
    const object = new Waiting({ mode: 'new', name: uniqueName(), url: hostile.url, lease: 30 })
    // A call with a timeout stops waiting for the attach at its own deadline.
    const { ms, outcome } = await elapsed(object.enterWithin(200) ?? Promise.resolve(0))
    expect(outcome).toBe(false)
    expect(ms).toBeLessThan(1000)
    const attach = await elapsed(object.ready())
    expect(attach.outcome).toBeInstanceOf(ConnectionError)
    expect(attach.ms + ms).toBeLessThan(redisLimits.reply + 2000)
    await object.close()
  }, 15_000)
})

describe('RedisObject of a kind whose calls wait, on a server that answers the attach and then nothing', () => {
  /** Answers the handshake and `create`; `fcall` answers the other calls (undefined: nothing, ever). */
  const silentAfterCreate = (fcall: HostileHandler = () => undefined) =>
    startHostileRedis((command, standard, socket) => {
      if (command[0] !== 'FCALL') return standard
      if ((command[1] ?? '').endsWith('_create')) return array(bulk('created'), ':0\r\n')
      return fcall(command, undefined, socket)
    })
  const calls = (hostile: HostileRedis, fn: string) =>
    hostile.commands.filter((command) => command[0] === 'FCALL' && (command[1] ?? '').endsWith(`_${fn}`)).length

  it('rejects a call that does not wait with ConnectionError after the reply limit (its lease is shorter), keeps one renewal in flight, fails no wait by it, and closes within the limit', async () => {
    const hostile = await silentAfterCreate()
    // A heartbeat every 10 ms.
    const object = await new Waiting({ mode: 'new', name: uniqueName(), url: hostile.url, lease: 30 }).ready()
    const clientId = object.id.split('/')[0]
    const waiting = elapsed(object.send('push', { waits: 1000 }))
    const { ms, outcome } = await elapsed(object.send('push'))
    expect(outcome).toBeInstanceOf(ConnectionError)
    expect((outcome as Error).message).toMatch(
      new RegExp(`did not answer within ${redisLimits.reply} ms; the call may still take effect`),
    )
    expect(ms).toBeGreaterThan(redisLimits.reply - 500)
    expect(ms).toBeLessThan(redisLimits.reply + 2000)
    // About 250 heartbeats passed: at most one renewal at a time was sent, the next after the first's limit.
    expect(calls(hostile, 'renew')).toBeGreaterThanOrEqual(1)
    expect(calls(hostile, 'renew')).toBeLessThanOrEqual(2)
    // A call that waits on the server for up to 1000 ms has the limit after that.
    const waited = await waiting
    expect(waited.outcome).toBeInstanceOf(ConnectionError)
    expect(waited.ms).toBeGreaterThan(redisLimits.reply + 500)
    // The first renewal went unanswered: that ends no wait (each ends by its own timeout).
    expect(calls(hostile, 'renew')).toBe(2)
    expect(object.failed).toEqual([])
    const closing = await elapsed(object.close())
    expect(closing.outcome).toBeInstanceOf(ConnectionError)
    expect(closing.ms).toBeLessThan(redisLimits.reply + 2000)
    // The connection was given back: the next user of the URL gets a new one.
    const connection = RedisConnection.acquire(hostile.url)
    expect(connection.clientId).not.toBe(clientId)
    connection.release()
  }, 30_000)

  it('hands a reply that comes after the limit to `late` (a throw there is caught), and bounds unlink()', async () => {
    const hostile = await silentAfterCreate((command, _, socket) => {
      if ((command[1] ?? '').endsWith('_push')) setTimeout(() => socket.write(':7\r\n'), redisLimits.reply + 300)
      return undefined
    })
    const object = await new Waiting({ mode: 'new', name: uniqueName(), url: hostile.url, lease: 1000 }).ready()
    const late: unknown[] = []
    const [push, unlink] = await Promise.all([
      elapsed(
        object.send('push', {
          late: (reply) => {
            late.push(reply)
            throw new Error('a late handler that throws')
          },
        }),
      ),
      elapsed(object.unlink()),
    ])
    expect(push.outcome).toBeInstanceOf(ConnectionError)
    expect(unlink.outcome).toBeInstanceOf(ConnectionError)
    expect((unlink.outcome as Error).message).toMatch(
      new RegExp(`did not answer unlink within ${redisLimits.reply} ms`),
    )
    expect(unlink.ms).toBeLessThan(redisLimits.reply + 2000)
    await vi.waitFor(() => expect(late).toEqual([7]), { timeout: 3000 })
    hostile.close()
    await object.close().catch(() => {})
  }, 20_000)
})

describe('RedisConnection against a hostile Redis Cluster node', () => {
  const CLUSTER_HELLO = '%1\r\n+mode\r\n+cluster\r\n'
  type Shard = readonly [from: number | string, to: number, port: number | string, host?: string]
  /** A CLUSTER SLOTS answer: each shard's master is at host (default 127.0.0.1) and port; a string is raw RESP. */
  const slots = (shards: readonly Shard[]) => {
    const item = (value: number | string) => (typeof value === 'number' ? `:${value}\r\n` : value)
    return array(
      ...shards.map(([from, to, port, host = '127.0.0.1']) =>
        array(item(from), item(to), array(bulk(host), item(port), bulk('id'))),
      ),
    )
  }
  /** `count` masters of no slot, each at its own loopback address that refuses connections (127.1.x.y). */
  const emptyMasters = (count: number, port: number): Shard[] =>
    Array.from({ length: count }, (_, i) => [1, 0, port, `127.1.${i >> 8}.${i & 255}`] as const)
  /**
   * A node that says it is one of a cluster and answers CLUSTER SLOTS with `layout()` (its own port
   * passed in) and FCALL with `fcall`; `handle` gets each command with that answer (the standard
   * one for the others) and its socket, and says what is sent.
   */
  async function clusterNode(
    layout: (port: number) => string,
    fcall: (command: string[]) => string = () => ':1\r\n',
    handle: HostileHandler = (_, answer) => answer,
  ) {
    let port = 0
    const node = await startHostileRedis((command, standard, socket) => {
      if (command[0] === 'HELLO' && command.length === 1) return handle(command, CLUSTER_HELLO, socket)
      if (command[0] === 'CLUSTER' && command[1]?.toUpperCase() === 'SLOTS')
        return handle(command, layout(port), socket)
      if (command[0] === 'FCALL') return handle(command, fcall(command), socket)
      return handle(command, standard, socket)
    })
    port = Number(new URL(node.url).port)
    return node
  }
  /** The messages of `error` and its causes. */
  const messages = (error: unknown): string => {
    const all: string[] = []
    for (let at = error; at instanceof Error; at = at.cause) all.push(at.message)
    return all.join(' <- ')
  }
  const sockets = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length
  /** Resolves once `condition()` holds; fails after `timeout` ms. */
  const until = (condition: () => boolean, timeout: number) =>
    vi.waitFor(
      () => {
        if (!condition()) throw new Error(`not within ${timeout} ms`)
      },
      { timeout, interval: 20 },
    )

  it('fails the connect with ConnectionError on a layout no cluster gives, within the connect limit and without a crash', async () => {
    const hostile: [string, (port: number) => string, RegExp][] = [
      // 10^11 slots: @redis/client's slot map grew until V8 ran out of memory.
      ['a range past the last slot', (port) => slots([[0, 1e11, port]]), /names slot 16384/],
      ['a range from below 0', (port) => slots([[-1e11, 5, port]]), /names slot -100000000000/],
      ['a fractional slot (a RESP3 double)', (port) => slots([[',0.5\r\n', 3, port]]), /names slot 0.5/],
      [
        'ranges that overlap (repeated work)',
        (port) => slots(Array.from({ length: 5000 }, () => [0, 16383, port] as const)),
        /gives slot 0 twice/,
      ],
      ['a port out of range', () => slots([[0, 16383, 70000]]), /port 70000/],
      ['a port that is no number', () => slots([[0, 16383, bulk('x')]]), /port x/],
      // 1500 masters of no slot, each a socket @redis/client opens at once.
      ['too many nodes', (port) => slots(emptyMasters(1500, port)), /more than 1000 nodes/],
    ]
    const before = sockets()
    for (const [what, layout, reason] of hostile) {
      const node = await clusterNode(layout)
      const connection = RedisConnection.acquire(node.url)
      try {
        const { ms, outcome } = await elapsed(connection.call(LIBRARY, 'push', ['k'], [], forever))
        expect(outcome, what).toBeInstanceOf(ConnectionError)
        expect(messages(outcome), what).toMatch(reason)
        expect(ms, what).toBeLessThan(redisLimits.connect + 2000)
      } finally {
        connection.release()
        node.close()
      }
    }
    // Every node socket of the failed connects is gone.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(sockets()).toBeLessThanOrEqual(before)
  }, 60_000)

  it('checks the layout at every rediscovery, not only at connect: the call that asked fails, the layout stays as it was, the next call works', async () => {
    // Each refused part-way through: the slots given before the refusal must not stay.
    const hostile: [string, (port: number) => string][] = [
      ['a range past the last slot', (port) => slots([[0, 1e11, port]])],
      [
        'ranges that overlap',
        (port) =>
          slots([
            [0, 100, port],
            [50, 60, port],
          ]),
      ],
      [
        'a second master at a port out of range',
        (port) =>
          slots([
            [0, 8000, port],
            [8001, 16383, 70000],
          ]),
      ],
      [
        'too many nodes, then a slot twice',
        (port) => slots([...emptyMasters(999, port), [0, 16383, port], [0, 5, port]]),
      ],
    ]
    let layout = (port: number) => slots([[0, 16383, port]])
    let moved = false
    const node = await clusterNode(
      (port) => layout(port),
      () => (moved ? `-MOVED 5 127.0.0.1:${Number(new URL(node.url).port)}\r\n` : ':1\r\n'),
    )
    const connection = RedisConnection.acquire(node.url)
    try {
      expect(await connection.call(LIBRARY, 'push', ['k'], [], forever)).toBe(1)
      for (const [what, answer] of hostile) {
        layout = answer
        moved = true
        // MOVED makes @redis/client ask for the layout again, and the answer is refused.
        const { outcome } = await elapsed(connection.call(LIBRARY, 'push', ['k'], [], forever))
        expect(outcome, what).toBeInstanceOf(ConnectionError)
        layout = (port) => slots([[0, 16383, port]])
        moved = false
        // Every slot still leads to the node: 'k' is in slot 7629, 'a' in 15495 (both given before some refusal).
        for (const key of ['k', 'a'])
          expect(await connection.call(LIBRARY, 'push', [key], [], forever), `${what}: ${key}`).toBe(1)
      }
    } finally {
      connection.release()
    }
  }, 30_000)

  /**
   * Two fake cluster nodes: `node` holds every slot until `move()` gives them all to `other`,
   * whose SUBSCRIBEs `onSubscribe` answers (`answer` accepts; undefined: no answer). A connection
   * through `node` has made its first call, and counts its `ready`s and the wake-ups of 'w1'.
   */
  async function movingWakeSocket(onSubscribe: (answer: HostileAnswer, socket: Socket) => HostileAnswer) {
    const other = await clusterNode(
      () => layout(),
      undefined,
      (command, answer, socket) => (command[0] === 'SUBSCRIBE' ? onSubscribe(answer, socket) : answer),
    )
    const otherPort = Number(new URL(other.url).port)
    let moved = false
    const node = await clusterNode(
      () => layout(),
      () => (moved ? `-MOVED 7629 127.0.0.1:${otherPort}\r\n` : ':1\r\n'),
    )
    let layout = () => slots([[0, 16383, Number(new URL(node.url).port)]])
    const connection = RedisConnection.acquire(node.url)
    onTestFinished(() => connection.release())
    expect(await connection.call(LIBRARY, 'push', ['k'], [], forever)).toBe(1)
    const state = { readies: 0, heard: [] as string[] }
    connection.onReady(() => state.readies++)
    connection.onWake('w1', (message) => state.heard.push(message))
    return {
      node,
      other,
      state,
      /** Moves the slots to `other`; the call that finds them moved makes @redis/client move the wake-up socket. */
      async move() {
        layout = () => slots([[0, 16383, otherPort]])
        moved = true
        expect(await connection.call(LIBRARY, 'push', ['k'], [], forever)).toBe(1)
      },
      /** Publishes 'w1 hello' on `socket` (a subscribed one) and expects the connection to hear it. */
      async expectHeardOn(socket: Socket | undefined) {
        socket?.write(`>3\r\n${bulk('message')}${bulk(connection.wakeChannel)}${bulk('w1 hello')}`)
        await until(() => state.heard.length > 0, 2000)
        expect(state.heard).toEqual(['w1 hello'])
      },
    }
  }

  it('makes the wake-up socket again where @redis/client dropped it or left it holding nothing (its node refused the SUBSCRIBE): wake-ups and a ready come back', async () => {
    let refusals = 0
    let subscribed: Socket | undefined
    const cluster = await movingWakeSocket((answer, socket) => {
      if (refusals < 2) {
        refusals++
        return '-ERR not now\r\n'
      }
      subscribed = socket
      return answer
    })
    const subscribes = (at: HostileRedis) => at.commands.filter((command) => command[0] === 'SUBSCRIBE').length
    expect(subscribes(cluster.node)).toBe(1)
    // The slots move to the other node, which refuses the SUBSCRIBE of the moved wake-up socket
    // (@redis/client drops the socket and its listener), then that of the socket the first look
    // makes (@redis/client keeps that one, holding nothing).
    await cluster.move()
    await until(() => refusals === 2, 5000)
    expect(subscribes(cluster.other)).toBe(2)
    // A later look subscribes it again, and says ready once it is subscribed.
    const readiesBefore = cluster.state.readies
    await until(() => subscribed !== undefined && cluster.state.readies > readiesBefore, 5000)
    await cluster.expectHeardOn(subscribed)
  }, 30_000)

  it('drops a made wake-up socket whose SUBSCRIBE is never answered, and makes another: wake-ups and a ready come back', async () => {
    let refused = false
    let unanswered: Socket | undefined
    let subscribed: Socket | undefined
    // The moved socket's SUBSCRIBE is refused (@redis/client drops it); the first look's socket
    // gets no answer at all; the next one is subscribed.
    const cluster = await movingWakeSocket((answer, socket) => {
      if (!refused) {
        refused = true
        return '-ERR not now\r\n'
      }
      if (unanswered === undefined || unanswered === socket) {
        unanswered = socket
        return undefined
      }
      subscribed = socket
      return answer
    })
    await cluster.move()
    await until(() => unanswered !== undefined, 5000)
    const readiesBefore = cluster.state.readies
    // The connect limit after its SUBSCRIBE, the silent socket goes, and a look makes another.
    await until(() => subscribed !== undefined && cluster.state.readies > readiesBefore, redisLimits.connect + 4000)
    expect(unanswered?.destroyed || unanswered?.readableEnded).toBe(true)
    await cluster.expectHeardOn(subscribed)
  }, 30_000)

  it('takes a lost node for one that concerns every wait while there is no wake-up socket', async () => {
    // Two nodes that refuse every SUBSCRIBE once the slots move to them: the wake-up socket stays gone.
    const accepted = new Set<Socket>()
    let lastRefusal = 0
    const refusing = () =>
      clusterNode(
        () => layout(),
        undefined,
        (command, answer, socket) => {
          accepted.add(socket)
          if (command[0] !== 'SUBSCRIBE') return answer
          lastRefusal = performance.now()
          return '-ERR not now\r\n'
        },
      )
    const owner = await refusing()
    const bystander = await refusing()
    const port = (at: HostileRedis) => Number(new URL(at.url).port)
    let moved = false
    const node = await clusterNode(
      () => layout(),
      () => (moved ? `-MOVED 7629 127.0.0.1:${port(owner)}\r\n` : ':1\r\n'),
    )
    let layout = () => slots([[0, 16383, port(node)]])
    const connection = RedisConnection.acquire(node.url)
    try {
      expect(await connection.call(LIBRARY, 'push', ['k'], [], forever)).toBe(1)
      // The node leaves the layout: its wake-up socket moves to the owner or the bystander, which refuse it.
      layout = () =>
        slots([
          [0, 16383, port(owner)],
          [1, 0, port(bystander)],
        ])
      moved = true
      expect(await connection.call(LIBRARY, 'push', ['k'], [], forever)).toBe(1)
      await until(() => lastRefusal > 0, 5000)
      // 'k' (slot 7629) is the owner's. Between two looks for a wake-up socket (1 s apart) the
      // bystander's sockets drop: with no wake-up socket, that concerns the wait on 'k' too.
      const lost: unknown[] = []
      connection.onLost((error) => lost.push(error), 'k')
      await until(() => performance.now() - lastRefusal > 100, 2000)
      for (const socket of accepted)
        if (socket.remotePort !== undefined && socket.localPort === port(bystander)) socket.destroy()
      await until(() => lost.length > 0, 3000)
      expect(lost[0]).toBeInstanceOf(ConnectionError)
      expect(String((lost[0] as Error).message)).toContain(`node 127.0.0.1:${port(bystander)}`)
    } finally {
      connection.release()
    }
  }, 30_000)

  it('says ready again once a moved wake-up socket is subscribed: its node’s own ready comes before the SUBSCRIBE', async () => {
    let readies = 0
    let readiesAtSubscribe: number | undefined
    const other = await clusterNode(
      () => layout(),
      undefined,
      (command, answer) => {
        if (command[0] === 'SUBSCRIBE') readiesAtSubscribe = readies
        return answer
      },
    )
    const otherPort = Number(new URL(other.url).port)
    // Key 'k' is in slot 7629, 'a' in 15495; the node sends each to the other node once the layout does.
    let moves = new Set<string>()
    const node = await clusterNode(
      () => layout(),
      (command) =>
        moves.has(command[3] ?? '')
          ? `-MOVED ${command[3] === 'k' ? 7629 : 15495} 127.0.0.1:${otherPort}\r\n`
          : ':1\r\n',
    )
    const nodePort = Number(new URL(node.url).port)
    let layout = () => slots([[0, 16383, nodePort]])
    const connection = RedisConnection.acquire(node.url)
    try {
      expect(await connection.call(LIBRARY, 'push', ['k'], [], forever)).toBe(1)
      connection.onReady(() => readies++)
      // The other node joins (its command socket is ready), the wake-up socket stays on the node...
      layout = () =>
        slots([
          [0, 8191, nodePort],
          [8192, 16383, otherPort],
        ])
      moves = new Set(['a'])
      expect(await connection.call(LIBRARY, 'push', ['a'], [], forever)).toBe(1)
      expect(readiesAtSubscribe).toBe(undefined)
      // ...then takes every slot: the node leaves the layout and @redis/client moves the wake-up socket.
      layout = () => slots([[0, 16383, otherPort]])
      moves = new Set(['a', 'k'])
      expect(await connection.call(LIBRARY, 'push', ['k'], [], forever)).toBe(1)
      await until(() => readiesAtSubscribe !== undefined, 5000)
      await until(() => readies > (readiesAtSubscribe ?? 0), 5000)
    } finally {
      connection.release()
    }
  }, 30_000)

  it('bounds the load on every master (a call that still finds no function): one that never answers holds it LOAD_EVERYWHERE_MS, one that refuses fails nothing', async () => {
    // Two masters of no slot: one never answers FUNCTION LOAD, one refuses it.
    const masterLike = (load: HostileAnswer): Promise<HostileRedis> =>
      clusterNode(
        () => layout(),
        undefined,
        (command, answer) => (command[0] === 'FUNCTION' ? load : answer),
      )
    const silent = await masterLike(undefined)
    const refusing = await masterLike("-READONLY You can't write against a read only replica.\r\n")
    // The owner of every slot answers the first two FCALLs as a node without our functions.
    let fcalls = 0
    const node = await clusterNode(
      () => layout(),
      () => (++fcalls <= 2 ? '-ERR Function not found\r\n' : ':1\r\n'),
    )
    const port = (at: HostileRedis) => Number(new URL(at.url).port)
    const layout = (): string =>
      slots([
        [0, 16383, port(node)],
        [1, 0, port(silent)],
        [1, 0, port(refusing)],
      ])
    const loads = (at: HostileRedis) => at.commands.filter((command) => command[0] === 'FUNCTION').length
    const connection = RedisConnection.acquire(node.url)
    try {
      const { ms, outcome } = await elapsed(connection.call(LIBRARY, 'push', ['k'], [], forever))
      expect(outcome).toBe(1)
      expect(fcalls).toBe(3)
      expect([loads(silent), loads(refusing)]).toEqual([1, 1])
      expect(ms).toBeGreaterThanOrEqual(LOAD_EVERYWHERE_MS - 50)
      expect(ms).toBeLessThan(LOAD_EVERYWHERE_MS + 2000)
    } finally {
      connection.release()
    }
  }, 30_000)

  it('forgets the nodes a refused layout named: a valid layout after one naming 999 nodes still gets a new master', async () => {
    const other = await clusterNode(() => '')
    const otherPort = Number(new URL(other.url).port)
    let layout = (port: number) => slots([[0, 16383, port]])
    let moved = false
    const node = await clusterNode(
      (port) => layout(port),
      (command) => (moved && command[3] === 'b' ? `-MOVED 3300 127.0.0.1:${otherPort}\r\n` : ':1\r\n'),
    )
    const connection = RedisConnection.acquire(node.url)
    try {
      expect(await connection.call(LIBRARY, 'push', ['a'], [], forever)).toBe(1)
      layout = (port) => slots([...emptyMasters(999, port), [0, 5, port], [0, 5, port]])
      moved = true
      expect((await elapsed(connection.call(LIBRARY, 'push', ['b'], [], forever))).outcome).toBeInstanceOf(
        ConnectionError,
      )
      // Key 'b' is in slot 3300: the valid layout gives it to the other node, the 1001st if the 999 had stayed.
      layout = (port) =>
        slots([
          [0, 3000, port],
          [3001, 3500, otherPort],
          [3501, 16383, port],
        ])
      expect(await connection.call(LIBRARY, 'push', ['b'], [], forever)).toBe(1)
      expect(other.commands.some((command) => command[0] === 'FCALL')).toBe(true)
    } finally {
      connection.release()
    }
  }, 30_000)
})

describeWithRedis('RedisConnection and RedisObject against a real server', (server) => {
  it('reports WRONGTYPE and Lua runtime errors (a key written by someone else) as CorruptError with the reply as cause', async () => {
    const key = `ipc:{${uniqueName()}}:k`
    expect(await server().command('SET', key, 'not a list')).toBe('+OK')
    const connection = RedisConnection.acquire(server().url)
    try {
      for (const fn of ['push', 'lua']) {
        const { outcome } = await elapsed(connection.call(LIBRARY, fn, [key], [], forever))
        expect(outcome, fn).toBeInstanceOf(CorruptError)
        expect((outcome as Error).cause, fn).toBeInstanceOf(Error)
        expect(String((outcome as Error).message), fn).toMatch(fn === 'push' ? /WRONGTYPE/ : /user_function/)
      }
    } finally {
      connection.release()
    }
  })

  it('gives every object an id with 72 random bits, so its waiters cannot be named by guessing', async () => {
    const spec = { mode: 'new' as const, url: server().url, lease: 10_000 }
    const one = new Waiting({ ...spec, name: uniqueName() })
    const two = new Waiting({ ...spec, name: uniqueName() })
    const connection = RedisConnection.acquire(server().url)
    try {
      const shape = /^([A-Za-z0-9_-]+)\/w(\d+)\.([A-Za-z0-9_-]{12})$/
      const [, client1, n1, random1] = shape.exec(one.id) ?? []
      const [, client2, n2, random2] = shape.exec(two.id) ?? []
      expect(client1).toBe(connection.clientId)
      expect(client2).toBe(connection.clientId)
      expect(Number(n2)).toBe(Number(n1) + 1)
      expect(random1).not.toBe(random2)
    } finally {
      connection.release()
      await Promise.all([one.close(), two.close()])
    }
  })

  it('bounds a call’s wait for the attach by its own timeout on a stopped server (SIGSTOP)', async () => {
    // The connection is up (another object attached), then the server stops answering.
    const warm = await new Waiting({ mode: 'new', name: uniqueName(), url: server().url, lease: 10_000 }).ready()
    server().pause()
    let object: Waiting | undefined
    try {
      object = new Waiting({ mode: 'new', name: uniqueName(), url: server().url, lease: 10_000 })
      const { ms, outcome } = await elapsed(object.enterWithin(200) ?? Promise.resolve(0))
      expect(outcome).toBe(false)
      expect(ms).toBeGreaterThanOrEqual(190)
      expect(ms).toBeLessThan(1000)
    } finally {
      server().resume()
    }
    await object.ready()
    // Attached: nothing to wait for.
    expect(object.enterWithin(200)).toBeUndefined()
    await Promise.all([object.close(), warm.close()])
  })
})
