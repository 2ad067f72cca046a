/**
 * A delaying proxy for the reply-limit tests: a node:net server on loopback
 * that forwards every byte between its clients and a real server (a
 * `startRedisServer()`), in order, and holds the bytes of one direction for a
 * chosen time from a chosen moment. So a test can make a reply come late
 * while the server ran the call in time (and the lease that a stopped server
 * would let lapse goes on being renewed). Closed when the test finishes.
 */
import { createConnection, createServer, type Socket } from 'node:net'
import { onTestFinished } from 'vitest'

/** `requests`: client to server; `replies`: server to client. */
export type ProxyDirection = 'requests' | 'replies'

export interface DelayingProxy {
  /** `redis://127.0.0.1:<port>`: give it to the client in place of the server's URL. */
  readonly url: string
  /**
   * Holds every chunk that arrives in `direction` from now on for `ms`
   * before forwarding it (0, the start: none). Chunks keep their order: one
   * that arrives after the delay was lowered waits behind those still held,
   * so lowering it lets nothing overtake.
   */
  delay(direction: ProxyDirection, ms: number): void
  /**
   * Resolves when a chunk holding `text` arrives in `direction` (from now
   * on: `text` may straddle two chunks of one socket), as it arrives, before
   * it is held or forwarded. At most 64 characters.
   */
  arrival(direction: ProxyDirection, text: string): Promise<void>
  /** Resolves once no chunk is held in either direction (at once when none is). */
  drained(): Promise<void>
  /**
   * Destroys every socket open now, both sides (held chunks are dropped): the
   * client sees its connection lost, as when a network cuts it, and may
   * connect again through the proxy.
   */
  cut(): void
  /** Closes every socket (held chunks are dropped) and the listener. Idempotent. */
  close(): Promise<void>
}

/** The longest `text` of `arrival`: a socket keeps the last MAX_ARRIVAL_TEXT - 1 bytes of its previous chunk, so a text may straddle two. */
const MAX_ARRIVAL_TEXT = 64

interface ArrivalWaiter {
  direction: ProxyDirection
  text: string
  resolve(): void
}

/** Starts a proxy in front of the server at `serverUrl` (`redis://host:port`). */
export async function startDelayingProxy(serverUrl: string): Promise<DelayingProxy> {
  const target = new URL(serverUrl)
  const delays: Record<ProxyDirection, number> = { requests: 0, replies: 0 }
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const arrivals = new Set<ArrivalWaiter>()
  const drainWaiters: (() => void)[] = []
  let heldCount = 0
  let closed = false

  const release = (count: number) => {
    heldCount -= count
    if (heldCount > 0) return
    for (const resolve of drainWaiters.splice(0)) resolve()
  }

  /** Forwards what `from` sends to `to` in `direction`, held as `delays` says. */
  const forward = (from: Socket, to: Socket, direction: ProxyDirection) => {
    const held: { data: Buffer; due: number }[] = []
    let timer: NodeJS.Timeout | undefined
    // The end of the last chunk, so that a text cut in two by the stream is still seen.
    let tail = ''
    const arm = (ms: number) => {
      timer = setTimeout(flush, Math.max(0, ms))
      timers.add(timer)
    }
    const flush = () => {
      if (timer !== undefined) timers.delete(timer)
      timer = undefined
      let sent = 0
      // A timer may fire a fraction of a ms before its due time by performance.now(): it re-arms.
      for (let first = held[0]; first !== undefined && first.due <= performance.now(); first = held[0]) {
        held.shift()
        sent++
        if (!to.destroyed) to.write(first.data)
      }
      if (held[0] !== undefined) arm(held[0].due - performance.now())
      release(sent)
    }
    from.on('data', (data: Buffer) => {
      const text = tail + data.toString('latin1')
      for (const waiter of arrivals) {
        // Only a match that reaches into this chunk: one wholly in `tail` arrived before the waiter.
        const from = Math.max(0, tail.length - waiter.text.length + 1)
        if (waiter.direction === direction && text.indexOf(waiter.text, from) !== -1) {
          arrivals.delete(waiter)
          waiter.resolve()
        }
      }
      tail = text.slice(-(MAX_ARRIVAL_TEXT - 1))
      const ms = delays[direction]
      if (ms === 0 && held.length === 0) {
        if (!to.destroyed) to.write(data)
        return
      }
      const last = held.at(-1)?.due ?? 0
      held.push({ data, due: Math.max(performance.now() + ms, last) })
      heldCount++
      if (timer === undefined) arm((held[0]?.due ?? 0) - performance.now())
    })
    from.on('close', () => {
      if (timer !== undefined) {
        clearTimeout(timer)
        timers.delete(timer)
        timer = undefined
      }
      release(held.splice(0).length)
      to.destroy()
    })
  }

  const server = createServer((client) => {
    if (closed) {
      client.destroy()
      return
    }
    // Writes to a socket still connecting are buffered by node until it connects.
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) })
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.setNoDelay(true)
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    }
    forward(client, upstream, 'requests')
    forward(upstream, client, 'replies')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  const close = async () => {
    if (!closed) {
      closed = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      for (const socket of sockets) socket.destroy()
    }
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  onTestFinished(close)
  return {
    url: `redis://127.0.0.1:${port}`,
    delay(direction, ms) {
      if (!(ms >= 0 && ms < Number.POSITIVE_INFINITY))
        throw new RangeError(`A delay must be a finite ms >= 0, received ${ms}`)
      delays[direction] = ms
    },
    arrival: (direction, text) => {
      if (text.length === 0 || text.length > MAX_ARRIVAL_TEXT)
        throw new RangeError(`arrival text of ${text.length} characters`)
      return new Promise<void>((resolve) => arrivals.add({ direction, text, resolve }))
    },
    cut: () => {
      for (const socket of sockets) socket.destroy()
    },
    drained: () => (heldCount === 0 ? Promise.resolve() : new Promise<void>((resolve) => drainWaiters.push(resolve))),
    close,
  }
}
