/**
 * A hostile Redis server for the security tests: a node:net server on
 * loopback that reads RESP commands and answers whatever a test says (or
 * nothing). It is the attacker (or a broken proxy): it speaks just enough
 * RESP3 to get a client through its handshake, then misbehaves. Closed when
 * the test finishes.
 */
import { createServer, type Socket } from 'node:net'
import { onTestFinished } from 'vitest'

/** A RESP bulk string. */
export const bulk = (text: string): string => `$${Buffer.byteLength(text)}\r\n${text}\r\n`

/** A RESP array of already encoded items. */
export const array = (...items: string[]): string => `*${items.length}\r\n${items.join('')}`

/** What the server answers: raw RESP to write, or undefined to say nothing. */
export type HostileAnswer = string | undefined

/**
 * Answers `command` (its words; `command[0]` upper-cased) on `socket`.
 * `standard` is the answer a well-behaved server gives to the handshake
 * (HELLO, CLIENT, SUBSCRIBE, FUNCTION LOAD, PING) and to EXEC (the array of
 * the answers to the commands after MULTI), undefined for others.
 */
export type HostileHandler = (command: string[], standard: HostileAnswer, socket: Socket) => HostileAnswer

export interface HostileRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  /** Every command received so far, in order. */
  readonly commands: string[][]
  /** Writes raw bytes to every open socket. */
  writeAll(raw: string): void
  close(): void
}

/** RESP3 HELLO reply of a Redis 7.0 master. */
const HELLO =
  '%7\r\n+server\r\n+redis\r\n+version\r\n+7.0.15\r\n+proto\r\n:3\r\n+id\r\n:5\r\n+mode\r\n+standalone\r\n+role\r\n+master\r\n+modules\r\n*0\r\n'

function standardAnswer(command: string[]): HostileAnswer {
  switch (command[0]) {
    case 'HELLO':
      return HELLO
    case 'CLIENT':
    case 'PING':
      return '+OK\r\n'
    case 'SUBSCRIBE':
      return `>3\r\n${bulk('subscribe')}${bulk(command[1] ?? '')}:1\r\n`
    case 'FUNCTION':
      return bulk(/name=(\S+)/.exec(command[3] ?? '')?.[1] ?? '')
    default:
      return undefined
  }
}

/** Parses one RESP array of bulk strings from `buffer` at `start`: the words and where it ends, or undefined if incomplete. */
function parseCommand(buffer: Buffer, start: number): { words: string[]; end: number } | undefined {
  const line = (at: number) => {
    const cr = buffer.indexOf('\r\n', at)
    return cr === -1 ? undefined : { text: buffer.toString('latin1', at, cr), next: cr + 2 }
  }
  const head = line(start)
  if (head === undefined || !head.text.startsWith('*')) return undefined
  const words: string[] = []
  let at = head.next
  for (let i = 0; i < Number(head.text.slice(1)); i++) {
    const size = line(at)
    if (size === undefined) return undefined
    const length = Number(size.text.slice(1))
    if (buffer.length < size.next + length + 2) return undefined
    words.push(buffer.toString('utf8', size.next, size.next + length))
    at = size.next + length + 2
  }
  return { words, end: at }
}

/** Starts a hostile server; `handle` decides every answer (default: the standard one, else nothing). */
export async function startHostileRedis(handle: HostileHandler = (_, standard) => standard): Promise<HostileRedis> {
  const sockets = new Set<Socket>()
  const commands: string[][] = []
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let pending = Buffer.alloc(0)
    /** The commands of an open transaction (after MULTI), answered together by EXEC. */
    let queued: string[][] | undefined
    const write = (answer: HostileAnswer) => {
      if (answer !== undefined && !socket.destroyed) socket.write(answer)
    }
    socket.on('data', (data) => {
      pending = Buffer.concat([pending, data])
      let at = 0
      for (let parsed = parseCommand(pending, at); parsed !== undefined; parsed = parseCommand(pending, at)) {
        at = parsed.end
        const words = parsed.words
        words[0] = (words[0] ?? '').toUpperCase()
        commands.push(words)
        // A transaction as Redis runs it: +OK, +QUEUED for each command, then EXEC, whose standard
        // answer is the array of `handle`'s answers to them (none at all when `handle` leaves one of
        // them unanswered); `handle` then answers EXEC itself, given that standard.
        if (words[0] === 'MULTI' && queued === undefined) {
          queued = []
          write('+OK\r\n')
        } else if (words[0] === 'EXEC' && queued !== undefined) {
          const answers = queued.map((command) => handle(command, standardAnswer(command), socket))
          queued = undefined
          const standard = answers.every((answer) => answer !== undefined)
            ? `*${answers.length}\r\n${answers.join('')}`
            : undefined
          write(handle(words, standard, socket))
        } else if (queued !== undefined) {
          queued.push(words)
          write('+QUEUED\r\n')
        } else write(handle(words, standardAnswer(words), socket))
      }
      pending = pending.subarray(at)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const close = () => {
    for (const socket of sockets) socket.destroy()
    server.close()
  }
  onTestFinished(close)
  return {
    url: `redis://127.0.0.1:${port}`,
    commands,
    writeAll: (raw) => {
      for (const socket of sockets) socket.write(raw)
    },
    close,
  }
}
