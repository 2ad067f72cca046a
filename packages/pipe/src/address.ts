/**
 * Listener/Client addresses: a local name (`'jobs'`: processes of this user
 * on this machine) or `'tcp://host:port'`.
 *
 * A local name is a Unix-domain socket used only to meet: on Linux in the
 * abstract namespace (`\0ipc-<uid>-<name>`, no file, gone when the listener
 * process dies), elsewhere a socket file in the temp directory. The
 * connection itself is then a pipe in shared memory.
 */
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { invalidArgType, invalidArgValue } from '@ipc/core/internal'

export type Address = { kind: 'local'; name: string } | { kind: 'tcp'; host: string; port: number }

const MAX_LOCAL_NAME = 80
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
  if (address.length === 0 || address.length > MAX_LOCAL_NAME)
    throw invalidArgValue(`A local address must have 1 to ${MAX_LOCAL_NAME} characters, received ${address.length}`)
  if (address.includes('/') || address.includes('\0'))
    throw invalidArgValue(`A local address must not contain "/" or NUL characters, received ${JSON.stringify(address)}`)
  return { kind: 'local', name: address }
}

/** `tcp://host:port`, with brackets around an IPv6 host. */
export function formatTcp(host: string, port: number): string {
  return `tcp://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

/** The Unix-domain socket path of a local name (per user). */
export function localSocketPath(name: string): string {
  const uid = process.getuid?.() ?? 0
  if (process.platform === 'linux') return `\0ipc-${uid}-${name}`
  return join(tmpdir(), `ipc-${uid}-${name}.sock`)
}
