/**
 * Listener/Client addresses: a local name (`'jobs'`: processes of this user
 * on this machine) or `'tcp://host:port'`.
 *
 * A local name is a Unix-domain socket used only to meet, in a directory
 * private to the user (local-name.ts). The connection itself is then a pipe
 * in shared memory.
 */
import { BlockList, isIP } from 'node:net'
import { invalidArgType, invalidArgValue, isWellFormed } from '@ipc/core/internal'

export type Address = { kind: 'local'; name: string } | { kind: 'tcp'; host: string; port: number }

/** The longest local name, in UTF-8 bytes (a file name's limit; long ones are hashed, see local-name.ts). */
const MAX_LOCAL_NAME = 255
const TCP = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:/?#[\]@\s]+):(\d{1,5})$/

function bad(address: string): TypeError {
  return invalidArgValue(`The address must be a local name or "tcp://host:port", received ${JSON.stringify(address)}`)
}

/** Parses and validates an address. */
export function parseAddress(address: unknown): Address {
  if (typeof address !== 'string')
    throw invalidArgType(`The address must be a string (a local name or "tcp://host:port"), received ${typeof address}`)
  if (address.startsWith('tcp://')) {
    const m = TCP.exec(address)
    if (m === null) throw bad(address)
    const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1')
    const port = Number(m[2])
    if (port > 65535)
      throw invalidArgValue(`The port must be from 0 to 65535, received ${port} in ${JSON.stringify(address)}`)
    if ((m[1] as string).startsWith('[') && isIP(host) !== 6) throw bad(address)
    return { kind: 'tcp', host, port }
  }
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(address))
    throw invalidArgValue(
      `The address scheme is not supported (use a local name or "tcp://host:port"), received ${JSON.stringify(address)}`,
    )
  const bytes = Buffer.byteLength(address, 'utf8')
  if (bytes === 0 || bytes > MAX_LOCAL_NAME)
    throw invalidArgValue(`A local address must have 1 to ${MAX_LOCAL_NAME} bytes in UTF-8, received ${bytes}`)
  if (address.includes('/') || address.includes('\0'))
    throw invalidArgValue(`A local address must not contain "/" or NUL characters, received ${JSON.stringify(address)}`)
  // UTF-8 turns every lone surrogate into U+FFFD: two such names would meet at one socket.
  if (!isWellFormed(address))
    throw invalidArgValue(
      `A local address must be well-formed Unicode (no lone surrogate), received ${JSON.stringify(address)}`,
    )
  return { kind: 'local', name: address }
}

/** `tcp://host:port`, with brackets around an IPv6 host. */
export function formatTcp(host: string, port: number): string {
  return `tcp://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

let loopback: BlockList | undefined

/**
 * True for a host that only this machine can reach: 127.0.0.0/8, ::1 (in any
 * spelling, and IPv4-mapped `::ffff:127.x.y.z`) and `localhost`.
 */
export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true
  const family = isIP(host)
  if (family === 0) return false
  if (loopback === undefined) {
    loopback = new BlockList()
    loopback.addSubnet('127.0.0.0', 8, 'ipv4')
    loopback.addAddress('::1', 'ipv6')
  }
  return loopback.check(host, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * The group a remote address counts in when a Listener drops handshakes for
 * newcomers (`maxPendingHandshakes`): an IPv4 address itself (also when
 * written `::ffff:a.b.c.d`, or translated: `64:ff9b::/96`, `::ffff:0:0/96`),
 * a link-local IPv6 address itself with its zone (every host of a link
 * shares fe80::/64), any other IPv6 address its /64, which one host may hold
 * whole (a flood from one host then drops its own handshakes).
 */
export function floodGroup(remote: string): string {
  const [address = '', zone] = remote.split('%')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1] as string
  if (!address.includes(':')) return address
  const groups = ipv6Groups(address)
  if (groups === undefined) return remote
  const [first = 0, second = 0, , , fifth = 0, sixth = 0, high = 0, low = 0] = groups
  if ((first & 0xffc0) === 0xfe80) return zone === undefined ? address : `${address}%${zone}`
  const nat64 = first === 0x64 && second === 0xff9b && groups.slice(2, 6).every((g) => g === 0)
  const siit = groups.slice(0, 4).every((g) => g === 0) && fifth === 0xffff && sixth === 0
  if (nat64 || siit) return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail read), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  const parts = address.split('::')
  if (parts.length > 2) return undefined
  const words = (text: string | undefined): number[] =>
    text === undefined || text === ''
      ? []
      : text.split(':').flatMap((w) => {
          const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(w)
          if (v4 === null) return [Number.parseInt(w, 16)]
          const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
          return [(a << 8) | b, (c << 8) | d]
        })
  const head = words(parts[0])
  const tail = words(parts[1])
  const groups =
    parts.length === 1 ? head : [...head, ...Array<number>(Math.max(0, 8 - head.length - tail.length)).fill(0), ...tail]
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) return undefined
  return groups
}
